"""Connecting a WPPConnect session in Chromium: start it, the QR code shows up (posted by the simulated
server to our webhook), the phone "reads" it and the screen turns to Conectado without a reload; an
inbound message posted by the server lands on the customer's conversation."""

from playwright.sync_api import Page, expect
from sqlmodel import select

from models.tenant import Message
from tenants.database import session
from tests.e2e.conftest import login
from tests.integration.messaging.whatsapp_support import add_wpp_channel
from tests.simulators.wppconnect import running


def test_qr_pairing_goes_live(page: Page, make_tenant) -> None:
    tenant = make_tenant()
    with running() as sim:
        channel_id = add_wpp_channel(tenant, sim, name="loja")
        login(page, tenant.slug, tenant.admin_email, tenant.password)
        page.wait_for_url("**/inicio")
        page.goto("/admin/canais")
        page.wait_for_selector("#channel-table")
        page.get_by_role("link", name="Sessão: wppconnect teste").click()
        page.wait_for_url(f"**/canais/{channel_id}/sessao")
        expect(page.get_by_text("Desconectado")).to_be_visible()
        page.click("#wpp-start")
        qr = page.locator("#wpp-qrcode")
        expect(qr).to_be_visible()
        assert (qr.get_attribute("src") or "").startswith("data:image/png;base64,")
        expect(page.get_by_text("Aguardando leitura do QR code")).to_be_visible()

        sim.scan("loja")
        expect(page.get_by_text("Conectado", exact=True)).to_be_visible()
        expect(qr).to_have_count(0)

        response = sim.receive("loja", "+5511987654321", "Bom dia, quero um plano")
        assert response is not None and response.status_code == 200
        with session(tenant.schema) as db:
            [msg] = db.exec(select(Message).where(Message.channel_id == channel_id)).all()
        assert msg.body == "Bom dia, quero um plano"
