"""Campanhas in Chromium: a manager previews the audience and the message for a real customer, confirms,
sees the campaign sending with its counters, pauses, resumes and cancels it; the form's errors are in
pt-BR; the recipients CSV downloads."""

import uuid

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login


def _seed(t: TenantHandle) -> str:
    """Five customers tagged "promo" (one opted out), a segment of them and a sandbox WhatsApp channel."""
    from app.crm import contacts, customers, segments
    from app.crm.customers import CustomerFilter, CustomerIn
    from app.crm.tags import TagIn, create_tag
    from models.tenant import Channel
    from tenants.database import session, unit_of_work

    name = f"Promo {uuid.uuid4().hex[:4]}"
    with session(t.schema) as db, unit_of_work(db):
        actor = t.actor()
        create_tag(db, actor, TagIn(name="promo"))
        for i in range(5):
            c = customers.create_customer(
                db,
                actor,
                CustomerIn(
                    name=f"Cliente {i}",
                    plan="Controle 20 GB",
                    tags=["promo"],
                    contacts=[{"kind": "phone", "value": f"+5511988{uuid.uuid4().int % 10**6:06d}"}],
                ),
            )
            if i == 4:
                db.flush()
                phone = contacts.list_contacts(db, actor, c.id or 0)[0]
                contacts.set_opt_out(db, actor, phone.id or 0, opt_out=True)
        segments.create_segment(
            db, actor, segments.SegmentIn(name=name, filters=CustomerFilter(tags=["promo"]))
        )
        db.add(Channel(kind="sandbox_whatsapp", medium="whatsapp", name="Número de teste", is_default=True))
    return name


def _pick(page: Page, trigger: str, option: str) -> None:
    page.click(trigger)
    page.get_by_role("option", name=option, exact=True).click()


def test_create_preview_watch_pause_resume_cancel(page: Page, make_tenant) -> None:
    t = make_tenant()
    segment = _seed(t)
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
