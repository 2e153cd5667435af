"""The page the sign-up e-mail links to (/cadastro/confirmar?token=...): it activates the organisation
once, in pt-BR, logging its admin in, and a second visit (or a forged token) is refused; login works
only after it."""

import uuid

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login

PASSWORD = "Senha-forte-123"


def test_confirmation_link_page(page: Page) -> None:
    from app.platform import signup
    from app.platform.provisioning import SignupInput, provision_tenant

    slug = f"c{uuid.uuid4().hex[:8]}"
    email = f"admin@{slug}.com.br"
    tenant = provision_tenant(
        SignupInput(f"Org {slug}", slug, "Admin", email, PASSWORD), ip="127.0.0.1", status="unconfirmed"
    )
    token = signup.issue_token(tenant.id or 0, email)

    # Not confirmed yet: no way in.
    login(page, slug, email, PASSWORD)
    expect(page.locator("#form-error")).to_be_visible()

    # The link activates the organisation and logs its admin in (issue 14, item 11).
    page.goto(f"/cadastro/confirmar?token={token}")
    page.wait_for_url("**/inicio")
    expect(page.locator("#first-steps")).to_be_visible()
    page.click("#user-menu")
    page.click("#logout")
    page.wait_for_selector("#login-submit")
    page.goto(f"/cadastro/confirmar?token={token}")
    expect(page.locator("#confirm-failed")).to_contain_text("inválido ou expirado")
    page.goto("/cadastro/confirmar?token=forjado.abc")
    expect(page.locator("#confirm-failed")).to_be_visible()

    login(page, slug, email, PASSWORD)
    page.wait_for_url("**/inicio")
