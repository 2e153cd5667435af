"""Channels and sending in Chromium: the admin creates a sandbox WhatsApp channel on "Canais" (secrets
of a real kind are password inputs, never shown back), then sends a WhatsApp from a customer's profile;
the message appears in the conversation panel and its status ticks move to "Lida" live."""

import uuid

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login


def _customer(t: TenantHandle) -> int:
    from app.crm.contacts import ContactIn
    from app.crm.customers import CustomerIn, create_customer
    from tenants.database import session, unit_of_work

    with session(t.schema) as db, unit_of_work(db):
        row = create_customer(
            db,
            t.actor(),
            CustomerIn(
                name="Joana Prado",
                plan="Controle 20 GB",
                contacts=[ContactIn(kind="whatsapp", value="+5511987651234")],
            ),
        )
        return row.id or 0


def test_channels_page_and_send_from_profile(page: Page, make_tenant) -> None:
    t = make_tenant()
    customer_id = _customer(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.click("#sidebar >> text=Canais")
    page.wait_for_url("**/admin/canais")

    # A Cloud API channel: its secrets are password inputs; a missing required field is refused in pt-BR.
    page.click("#new-channel")
    form = page.locator("#channel-form")
    form.locator("#kind").click()
    page.get_by_role("option", name="WhatsApp Cloud API (Meta)").click()
    expect(form.locator("input[name=cfg_access_token]")).to_have_attribute("type", "password")
    form.locator("input[name=name]").fill("Número Meta")
    token = "EAAG" + uuid.uuid4().hex
    form.locator("input[name=cfg_access_token]").fill(token)
    page.click("#channel-form-save")
    expect(form.locator(".field-error").first).to_have_text("Campo obrigatório.")
    page.keyboard.press("Escape")

    # The sandbox channel the profile will send with.
    page.click("#new-channel")
    form.locator("#kind").click()
    page.get_by_role("option", name="WhatsApp de teste (não envia)").click()
    form.locator("input[name=name]").fill("WhatsApp de teste")
    page.click("#channel-form-save")
    expect(form).to_have_count(0)
    table = page.locator("#channel-table")
    expect(table).to_contain_text("WhatsApp de teste")
    expect(table).to_contain_text("Padrão")
    assert token not in page.content()

    # Send from the profile: the panel opens with the message; the sandbox reports it read.
    page.goto(f"/clientes/{customer_id}")
    page.click("#qa-whatsapp")
    wa = page.locator("#whatsapp-form")
    wa.locator("textarea[name=texto]").fill("Olá {{primeiro_nome}}, sua fatura chegou.")
    page.click("#whatsapp-form-save")
    bubble = page.locator(".message-out").last
    expect(bubble).to_contain_text("Olá Joana, sua fatura chegou.")
    expect(bubble).to_have_attribute("data-status", "read", timeout=30_000)
    expect(bubble).to_contain_text("Lida")

    # A reply from the panel goes out the same way.
    page.fill("#reply-body", "Qualquer dúvida, estou por aqui.")
    page.click("#reply-send")
    reply = page.locator(".message-out", has_text="Qualquer dúvida")
    expect(reply).to_have_attribute("data-status", "read", timeout=30_000)

    # The inbox lists the conversation; its row leads back to the profile.
    page.goto("/conversas")
    row = page.locator("#inbox-table .inbox-row", has_text="Joana Prado")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("WhatsApp")
    row.get_by_role("link", name="Joana Prado").click()
    page.wait_for_url(f"**/clientes/{customer_id}")
