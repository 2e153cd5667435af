"""Campanhas in Chromium: a manager previews the audience and the message for a real customer, confirms,
sees the campaign sending with its counters, pauses, resumes and cancels it; the form's errors are in
pt-BR; the recipients CSV downloads."""

import uuid

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login


def _seed(
    t: TenantHandle, rate: float = 0.02, phones: list[str] | None = None, fail_every: int = 0
) -> tuple[str, int]:
    """Five customers tagged "promo" (one opted out), a segment of them and a sandbox WhatsApp channel
    sending `rate` messages a second; returns the segment's name and the first customer's id (`phones`
    collects the customers' numbers)."""
    from app.crm import contacts, customers, segments
    from app.crm.customers import CustomerFilter, CustomerIn
    from app.crm.tags import TagIn, create_tag
    from models.tenant import Channel
    from tenants.database import session, unit_of_work

    name = f"Promo {uuid.uuid4().hex[:4]}"
    first = 0
    with session(t.schema) as db, unit_of_work(db):
        actor = t.actor()
        create_tag(db, actor, TagIn(name="promo"))
        for i in range(5):
            number = f"+5511988{uuid.uuid4().int % 10**6:06d}"
            if phones is not None:
                phones.append(number)
            c = customers.create_customer(
                db,
                actor,
                CustomerIn(
                    name=f"Cliente {i}",
                    plan="Controle 20 GB",
                    tags=["promo"],
                    contacts=[{"kind": "phone", "value": number}],
                ),
            )
            db.flush()
            first = first or c.id or 0
            if i == 4:
                phone = contacts.list_contacts(db, actor, c.id or 0)[0]
                contacts.set_opt_out(db, actor, phone.id or 0, opt_out=True)
        segments.create_segment(
            db, actor, segments.SegmentIn(name=name, filters=CustomerFilter(tags=["promo"]))
        )
        # One message every 50 s: the outbox really sends (issue 18), and the campaign must still be sending
        # while the test pauses, resumes and cancels it.
        db.add(
            Channel(
                kind="sandbox_whatsapp",
                medium="whatsapp",
                name="Número de teste",
                is_default=True,
                config={"messages_per_second": rate, "fail_every": fail_every},
            )
        )
    return name, first


def _pick(page: Page, trigger: str, option: str) -> None:
    page.click(trigger)
    page.get_by_role("option", name=option, exact=True).click()


def test_create_preview_watch_pause_resume_cancel(page: Page, make_tenant) -> None:
    t = make_tenant()
    segment, _ = _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/campanhas")
    expect(page.locator("#page-title")).to_have_text("Campanhas")
    page.click("#new-campaign")

    # Errors first, in place: no name; then no message.
    page.click("#campaign-submit")
    expect(page.locator("#campaign-form")).to_contain_text("Campo obrigatório.")
    page.get_by_label("Nome", exact=True).fill("Oferta de dezembro")
    page.click("#campaign-submit")
    expect(page.locator("#campaign-form")).to_contain_text("Escreva a mensagem ou escolha um modelo.")
    _pick(page, "#canal_id", "Número de teste (padrão)")
    _pick(page, "#segment_id", segment)
    page.get_by_label("Mensagem (sem modelo; use {{primeiro_nome}}, {{plano_atual}}…)").fill(
        "Olá {{primeiro_nome}}! Seu {{plano_atual}} ganhou 5 GB."
    )
    page.click("#campaign-submit")
    preview = page.locator("#campaign-preview")
    expect(preview).to_contain_text("4 de 5 clientes receberão; 1 descadastrados")
    expect(preview).to_contain_text("Olá Cliente! Seu Controle 20 GB ganhou 5 GB.")
    expect(page.locator("#campaign-submit")).to_have_text("Confirmar e enviar")
    page.click("#campaign-submit")

    row = page.locator("tr[id^=campaign-]").first
    expect(row).to_contain_text("Oferta de dezembro")
    expect(row).to_contain_text("Enviando")
    expect(row.get_by_role("progressbar")).to_be_visible()

    row.get_by_role("button", name="Pausar").click()
    expect(row).to_contain_text("Pausada")
    row.get_by_role("button", name="Retomar").click()
    expect(row).to_contain_text("Enviando")

    with page.expect_download() as download:
        row.get_by_role("button", name="Baixar destinatários (CSV)").click()
    path = download.value.path()
    assert path is not None
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("cliente_id,endereco") and len(lines) == 6

    row.get_by_role("button", name="Cancelar").click()
    expect(row).to_contain_text("Cancelada")
    expect(row.get_by_role("button", name="Pausar")).to_have_count(0)


def _create(page: Page, name: str, segment: str) -> None:
    page.click("#new-campaign")
    page.get_by_label("Nome", exact=True).fill(name)
    _pick(page, "#canal_id", "Número de teste (padrão)")
    _pick(page, "#segment_id", segment)
    page.get_by_label("Mensagem (sem modelo; use {{primeiro_nome}}, {{plano_atual}}…)").fill(
        "Olá {{primeiro_nome}}! Seu {{plano_atual}} ganhou 5 GB."
    )
    page.click("#campaign-submit")
    expect(page.locator("#campaign-preview")).to_contain_text("4 de 5 clientes receberão")
    page.click("#campaign-submit")


def test_campaign_reaches_100_percent_after_pause_and_resume_and_shows_on_the_timeline(
    page: Page, make_tenant
) -> None:
    t = make_tenant()
    # One message every 2 s: slow enough to pause mid-way, fast enough to finish within the test.
    segment, customer_id = _seed(t, rate=0.5)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/campanhas")
    _create(page, "Bônus de verão", segment)

    row = page.locator("tr[id^=campaign-]").first
    expect(row).to_contain_text("Bônus de verão")
    row.get_by_role("button", name="Pausar").click()
    expect(row).to_contain_text("Pausada")
    bar = row.get_by_role("progressbar")
    expect(bar).not_to_have_attribute("aria-valuenow", "100")
    row.get_by_role("button", name="Retomar").click()
    expect(row).to_contain_text("Enviando")

    # The opted-out customer counts as skipped; the four others are sent: the bar fills.
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(row).to_contain_text("100%")
    expect(row).to_contain_text("4 enviadas")
    expect(row).to_contain_text("Concluída", timeout=45_000)
    expect(row.get_by_role("button", name="Pausar")).to_have_count(0)

    page.goto(f"/clientes/{customer_id}")
    expect(page.get_by_text("Campanha “Bônus de verão”").first).to_be_visible(timeout=15_000)


def test_audience_from_an_uploaded_list_with_an_attachment(page: Page, make_tenant, tmp_path) -> None:
    t = make_tenant()
    phones: list[str] = []
    _seed(t, phones=phones)
    listing = tmp_path / "clientes.csv"
    # Two customers by phone (national format), one number nobody has, one line that is no number.
    listing.write_text(
        f"telefone\n({phones[0][3:5]}) {phones[0][5:10]}-{phones[0][10:]}\n{phones[1]}\n"
        "+5511970000000\nabc\n",
        encoding="utf-8",
    )
    image = tmp_path / "oferta.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/campanhas")
    page.click("#new-campaign")
    page.get_by_label("Nome", exact=True).fill("Lista VIP")
    _pick(page, "#canal_id", "Número de teste (padrão)")
    page.get_by_label("Mensagem (sem modelo; use {{primeiro_nome}}, {{plano_atual}}…)").fill(
        "Oi {{primeiro_nome}}!"
    )
    page.locator("#campaign-list-upload input[type=file]").set_input_files(str(listing))
    summary = page.locator("#campaign-list")
    expect(summary).to_contain_text("2 clientes encontrados em 4 linhas; 1 não encontrados, 1 inválidos")
    expect(summary).to_contain_text("Linha 5: abc — Valor inválido")
    page.locator("#campaign-attachment-upload input[type=file]").set_input_files(str(image))
    expect(page.locator("#campaign-attachment")).to_have_text("oferta.png")
    page.click("#campaign-submit")
    expect(page.locator("#campaign-preview")).to_contain_text("2 de 2 clientes receberão")
    expect(page.locator("#campaign-preview")).to_contain_text("2 linhas ficaram de fora")
    page.click("#campaign-submit")
    row = page.locator("tr[id^=campaign-]").first
    expect(row).to_contain_text("Lista VIP")
    expect(row).to_contain_text("Enviando")


def test_retry_the_failures_of_one_reason_from_the_page(page: Page, make_tenant) -> None:
    from sqlmodel import select

    from models.tenant import Channel
    from tenants.database import session

    t = make_tenant()
    # The sandbox refuses every message whose id is even: two of the four sends fail.
    segment, _ = _seed(t, rate=5, fail_every=2)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/campanhas")
    _create(page, "Reenvio de falhas", segment)
    row = page.locator("tr[id^=campaign-]").first
    expect(row).to_contain_text("Concluída", timeout=60_000)
    expect(row).to_contain_text("2 falhas")
    with session(t.schema) as db:  # the provider recovers
        channel = db.exec(select(Channel)).one()
        channel.config = {**channel.config, "fail_every": 0}
        db.add(channel)
        db.commit()
    page.reload()
    button = row.get_by_role("button", name="Reenviar 2 (sandbox-fail)")
    expect(button).to_be_visible()
    button.click()
    expect(row).to_contain_text("0 falhas", timeout=60_000)
    expect(row).to_contain_text("4 enviadas")
    expect(row).to_contain_text("Concluída", timeout=45_000)
    expect(row.get_by_role("button", name="Reenviar 2 (sandbox-fail)")).to_have_count(0)
