"""The agent's daily path in Chromium: find a customer by a phone typed the way people type it, open
the profile, add a note, schedule a follow-up (seen on the timeline and on the agenda), convert to an
opportunity; another organisation searching the same phone sees nothing."""

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login

PHONE_TYPED = "(11) 98765-4321"
TARGET = "Maria Aparecida Souza"


def _seed(t: TenantHandle, people: list[tuple[str, str, str | None]]) -> dict[str, int]:
    """Customers created through the service, as an import or the API would; returns name -> id."""
    from app.crm import custom_fields, customers, tags
    from app.crm.contacts import ContactIn
    from app.crm.customers import CustomerIn
    from tenants.database import session, unit_of_work

    actor = t.actor()
    ids: dict[str, int] = {}
    with session(t.schema) as db, unit_of_work(db):
        # A custom field shown in the list: its values become a column of /clientes.
        custom_fields.create_field(
            db, actor, custom_fields.CustomFieldIn(key="operadora", label="Operadora atual", type="text")
        )
        tags.create_tag(db, actor, tags.TagIn(name="vip", color="yellow"))
    with session(t.schema) as db, unit_of_work(db):
        for name, phone, plan in people:
            row = customers.create_customer(
                db,
                actor,
                CustomerIn(
                    name=name,
                    plan=plan,
                    contacts=[ContactIn(kind="phone", value=phone)],
                    custom={"operadora": "Vivo"},
                    tags=["vip"] if name == TARGET else [],
                ),
            )
            ids[name] = row.id or 0
    return ids


def _search(page: Page, text: str) -> None:
    page.goto("/clientes")
    box = page.locator("#customer-search")
    expect(box).to_be_visible()
    box.fill(text)


def test_find_customer_by_phone_note_followup_opportunity(page: Page, browser: Browser, make_tenant) -> None:
    t = make_tenant()
    ids = _seed(
        t,
        [
            (TARGET, "+5511987654321", "Controle 20GB"),
            ("João Pereira Lima", "+5511987654322", "Pós 50GB"),
            ("Ana Beatriz Costa", "+5521998765432", None),
        ],
    )
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")

    # The list shows everyone; the masked phone narrows it to exactly one customer.
    _search(page, PHONE_TYPED)
    rows = page.locator("#data-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(TARGET)
    expect(page.locator("#data-table thead")).to_contain_text("Operadora atual")
    expect(rows.first).to_contain_text("Vivo")
    expect(rows.first).to_contain_text("vip")  # tag names come from customer_tags
    expect(page.locator("#list-total")).to_contain_text(re.compile(r"^1 cliente\b"))

    # The filter's CSV is a download the browser streams (the REST export's code), not a websocket payload.
    page.click("#bulk-menu")
    with page.expect_download() as download:
        page.get_by_role("menuitem", name="Exportar filtro (CSV)").click()
    assert download.value.suggested_filename == "clientes.csv"
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert TARGET in exported and "João Pereira Lima" not in exported
    page.keyboard.press("Escape")

    rows.first.locator("td").nth(1).click()
    page.wait_for_url(f"**/clientes/{ids[TARGET]}")
    expect(page.locator("#customer-name")).to_have_text(TARGET)
    expect(page.locator("#customer-header")).to_contain_text("Etiquetas: vip")
    expect(page.locator("#timeline")).to_contain_text("Cliente cadastrado")

    # Contacts: an invalid e-mail is refused in pt-BR, a valid one is added (normalised) to the header.
    page.click("#qa-contact")
    page.click("#contact-form #kind")
    page.get_by_role("option", name="E-mail").click()
    page.fill("#contact-form input[name=value]", "nao-e-email")
    page.click("#contact-form-save")
    expect(page.locator("#contact-form .field-error").first).to_be_visible()
    page.fill("#contact-form input[name=value]", "  Maria.Souza@Exemplo.com.BR ")
    page.click("#contact-form-save")
    expect(page.locator("#contact-form")).to_have_count(0)
    expect(page.locator("#customer-header")).to_contain_text("maria.souza@exemplo.com.br")

    # A note goes to the top of the timeline; an empty one is refused under the field.
    page.click("#qa-note")
    page.click("#note-form-save")
    expect(page.locator("#note-form .field-error")).to_have_text("Escreva a nota.")
    note = "Cliente pediu portabilidade do número da esposa."
    page.fill("#note-form textarea[name=body]", note)
    page.click("#note-form-save")
    expect(page.locator("#note-form")).to_have_count(0)
    first = page.locator("#timeline .timeline-item").first
    expect(first).to_contain_text("Nota")
    expect(first).to_contain_text(note)

    # Follow-up tomorrow 14:30 in the user's zone (São Paulo by default).
    tomorrow = datetime.now(ZoneInfo("America/Sao_Paulo")).date() + timedelta(days=1)
    page.click("#qa-followup")
    form = page.locator("#followup-form")
    form.locator("input[name=title]").fill("Retorno sobre portabilidade")
    form.locator("input[name=date]").fill(tomorrow.isoformat())
    form.locator("input[name=time]").fill("14:30")
    page.click("#followup-form-save")
    expect(form).to_have_count(0)
    when = f"{tomorrow:%d/%m/%Y} 14:30"
    expect(page.locator("#timeline .timeline-item").first).to_contain_text(
        f"Retorno agendado para {when}: Retorno sobre portabilidade"
    )

    # Convert to an opportunity in a chosen stage; the value is typed the Brazilian way.
    page.click("#qa-opportunity")
    form = page.locator("#opportunity-form")
    form.locator("input[name=title]").fill("Upgrade para Pós 100GB")
    form.locator("#stage").click()
    page.get_by_role("option").nth(1).click()
    form.locator("input[name=value]").fill("abc")
    page.click("#opportunity-form-save")
    expect(form.locator(".field-error")).to_contain_text("Informe um valor válido")
    form.locator("input[name=value]").fill("1.234,56")
    page.click("#opportunity-form-save")
    expect(form).to_have_count(0)
    expect(page.locator("#timeline .timeline-item").first).to_contain_text(
        "Oportunidade criada: Upgrade para Pós 100GB (R$ 1.234,56)"
    )

    # The follow-up is on tomorrow's agenda, linked to the customer.
    page.goto("/agenda")
    expect(page.locator("#agenda-title")).to_be_visible()
    page.click("#agenda-next")
    expect(page.locator("#agenda-title")).to_contain_text(f"{tomorrow:%d/%m/%Y}")
    agenda = page.locator("#agenda-table")
    expect(agenda).to_contain_text("Retorno sobre portabilidade")
    expect(agenda).to_contain_text("14:30")
    expect(agenda.get_by_role("link", name=TARGET)).to_have_attribute("href", f"/clientes/{ids[TARGET]}")

    # Another organisation searching the same phone finds nothing.
    other = make_tenant()
    _seed(other, [("Cliente da Outra Org", "+5531991234567", None)])
    context = browser.new_context(
        base_url=page.url.split("/agenda")[0], locale="pt-BR", viewport={"width": 1366, "height": 900}
    )
    context.set_default_timeout(20_000)
    try:
        page2 = context.new_page()
        login(page2, other.slug, other.admin_email, other.password)
        page2.wait_for_url("**/inicio")
        _search(page2, PHONE_TYPED)
        expect(page2.locator("#list-total")).to_contain_text(re.compile(r"^0 clientes"))
        expect(page2.locator("#data-table tbody tr")).to_have_count(0)
        expect(page2.locator("#data-table")).not_to_contain_text(TARGET)
    finally:
        context.close()
