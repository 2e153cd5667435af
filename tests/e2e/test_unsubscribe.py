"""The unsubscribe link of a marketing e-mail, opened in Chromium on the app's own port: the pt-BR page
asks first (opening the link changes nothing), the button opts the address out at once."""

import uuid

from playwright.sync_api import Page, expect
from sqlmodel import select


def test_unsubscribe_link_page(page: Page) -> None:
    from app.crm.customers import CustomerIn, create_customer
    from app.messaging import consent
    from app.messaging.unsubscribe import list_unsubscribe_headers
    from app.platform.provisioning import SignupInput, provision_tenant
    from models.tenant import ConsentEvent, Contact
    from tenants.database import session
    from tests.conftest import TenantHandle

    slug = f"u{uuid.uuid4().hex[:8]}"
    tenant = provision_tenant(
        SignupInput(f"Telecom {slug}", slug, "Admin", f"admin@{slug}.com.br", "Senha-forte-123")
    )
    handle = TenantHandle(tenant, f"admin@{slug}.com.br", "Senha-forte-123")
    address = f"marina-{uuid.uuid4().hex[:6]}@cliente.example"
    with session(handle.schema) as db:
        create_customer(
            db,
            handle.actor("admin"),
            CustomerIn.model_validate({"name": "Marina", "contacts": [{"kind": "email", "value": address}]}),
        )
        db.commit()

    link = list_unsubscribe_headers(handle.id, address)["List-Unsubscribe"].strip("<>")
    page.goto("/u/" + link.split("/u/", 1)[1])
    expect(page.get_by_role("heading", name="Cancelar inscrição")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"Telecom {slug}")
    expect(page.locator("main")).to_contain_text("ma***@cliente.example")
    with session(handle.schema) as db:
        assert not consent.is_opted_out(db, "email", address)  # opening the link is not consent to anything

    page.get_by_role("button", name="Confirmar descadastro").click()
    expect(page.get_by_role("status")).to_have_text("Descadastro confirmado")
    with session(handle.schema) as db:
        assert consent.is_opted_out(db, "email", address)
        contact = db.exec(select(Contact).where(Contact.value == address)).one()
        assert contact.opt_out and contact.opt_out_reason == "Link de descadastro"
        line = db.exec(select(ConsentEvent).where(ConsentEvent.address == address)).one()
        assert line.evidence["one_click"] is True and line.evidence["user_agent"]

    # Opened again later: it says so instead of asking again.
    page.reload()
    expect(page.get_by_role("status")).to_have_text("Descadastro confirmado")
    page.goto("/u/link-adulterado")
    expect(page.get_by_role("heading", name="Link inválido")).to_be_visible()
