"""Media in the profile's chat, in Chromium, against the Cloud API simulator: a customer's image arrives
by webhook while the conversation is open, is downloaded by the task and shows up as a thumbnail without
a reload; the agent answers with a PDF picked in the send dialog (an oversized file is refused in pt-BR
first), and the simulator receives it as a document."""

import secrets

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login_home
from tests.integration.messaging.whatsapp_support import add_cloud_channel
from tests.simulators.whatsapp_cloud import running
from tests.simulators.wppconnect import png

PHONE = "+5511987651234"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _customer(t: TenantHandle) -> int:
    from app.crm.contacts import ContactIn
    from app.crm.customers import CustomerIn, create_customer
    from tenants.database import session, unit_of_work

    with session(t.schema) as db, unit_of_work(db):
        row = create_customer(
            db,
            t.actor(),
            CustomerIn(name="Joana Prado", contacts=[ContactIn(kind="whatsapp", value=PHONE)]),
        )
        return row.id or 0


def test_inbound_image_preview_and_reply_with_a_pdf(page: Page, make_tenant, app_url: str) -> None:
    t = make_tenant()
    customer_id = _customer(t)
    with running(phone_number_id=str(10**14 + secrets.randbelow(10**14)), pair_window=0.0) as sim:
        sim.webhook_url = f"{app_url}/api/webhooks/whatsapp-cloud"
        add_cloud_channel(t, sim)
        assert sim.receive(PHONE, "Bom dia").status_code == 200  # opens the conversation

        login_home(page, t.slug, t.admin_email, t.password)
        page.goto(f"/clientes/{customer_id}")
        page.get_by_role("button", name="Abrir conversa").first.click()
        expect(page.locator(".message-in").last).to_contain_text("Bom dia")

        # The image arrives while the panel is open: downloaded by the task, then shown as a thumbnail.
        photo = png("fatura-foto", size=48)
        response = sim.receive(PHONE, "foto da fatura", kind="image", data=photo, mime_type="image/png")
        assert response.status_code == 200
        bubble = page.locator(".message-in", has_text="foto da fatura")
        thumb = bubble.locator("img.attachment-thumb")
        expect(thumb).to_be_visible(timeout=30_000)
        # The browser loaded it through the authenticated route (a broken image has no natural width).
        page.wait_for_function("img => img.complete && img.naturalWidth === 48", arg=thumb.element_handle())
        assert (thumb.get_attribute("src") or "").startswith("/api/ui/anexos/")
        page.keyboard.press("Escape")

        # Reply with a PDF from the send dialog.
        expect(page.locator(".message-in")).to_have_count(0)  # the panel closed
        page.click("#qa-whatsapp")
        form = page.locator("#whatsapp-form")
        expect(form).to_be_visible()
        picker = form.locator("input[type=file]")
        picker.set_input_files({"name": "segunda-via.pdf", "mimeType": "application/pdf", "buffer": PDF})
        expect(form.locator(".attachment-chosen")).to_have_text("segunda-via.pdf")
        # A file over the limit is refused by the browser before anything is sent (the server's own refusal
        # is tested in tests/integration/crm/test_attachments.py).
        big = {"name": "enorme.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-" + b"0" * (17 << 20)}
        picker.set_input_files(big)
        # 17 MB cross the browser's debugging protocol first: seconds on a busy machine.
        expect(form.locator(".attachment-error")).to_have_text(
            "Arquivo grande demais: o limite é 16 MB.", timeout=30_000
        )
        picker.set_input_files({"name": "segunda-via.pdf", "mimeType": "application/pdf", "buffer": PDF})
        expect(form.locator(".attachment-chosen")).to_have_text("segunda-via.pdf")
        expect(form.locator(".attachment-error")).to_have_count(0)
        form.locator("textarea[name=texto]").fill("Segue a segunda via.")
        page.click("#whatsapp-form-save")

        out = page.locator(".message-out", has_text="Segue a segunda via.")
        expect(out.locator(".attachment-file")).to_contain_text("segunda-via.pdf")
        expect(out).to_have_attribute("data-status", "sent", timeout=30_000)
        [sent] = [s for s in sim.sent.values() if s.type == "document"]
        assert sent.payload["document"]["filename"] == "segunda-via.pdf"
        assert sim.media[sent.payload["document"]["id"]]["data"] == PDF
