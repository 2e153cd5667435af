"""Sign up two organisations in the browser, log in to each, create a user, check isolation,
toggle dark mode (persisted), log out; a suspended tenant's open tab stops working."""

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import login, wait_hydrated

PASSWORD = "Senha-forte-123"


def signup(page, slug: str, name: str, email: str) -> None:
    """Sign up (the new admin lands on Início, logged in: issue 14 item 11), then log out."""
    page.goto("/cadastro")
    wait_hydrated(page, "input[name=name]")
    page.fill("input[name=name]", name)
    page.press("input[name=name]", "Tab")
    expect(page.locator("input[name=slug]")).not_to_have_value("")  # suggested from the name
    page.fill("input[name=slug]", slug)
    page.fill("input[name=admin_name]", f"Admin {name}")
    page.fill("input[name=admin_email]", email)
    page.fill("input[name=admin_password]", PASSWORD)
    page.click("#signup-submit")
    page.wait_for_url("**/inicio")
    expect(page.locator("#sidebar")).to_contain_text(name)
    page.click("#user-menu")
    page.click("#logout")
    page.wait_for_selector("#login-submit")


def test_two_tenants_signup_login_users_isolation_dark_mode_logout(page, browser, app_url) -> None:
    run = uuid.uuid4().hex[:6]
    orgs = [
        (f"alfa-{run}", "Alfa Telecom", f"admin@alfa-{run}.com.br"),
        (f"beta-{run}", "Beta Revenda", f"admin@beta-{run}.com.br"),
    ]

    # Bad input gets a pt-BR field error, and nothing is created.
    page.goto("/cadastro")
    wait_hydrated(page, "#signup-submit")
    page.fill("input[name=name]", "X")
    page.fill("input[name=slug]", "Slug Inválido!")
    page.fill("input[name=admin_name]", "A")
    page.fill("input[name=admin_email]", "nao-e-email")
    page.fill("input[name=admin_password]", "123")
    page.click("#signup-submit")
    expect(page.locator(".field-error").first).to_be_visible()
    expect(page.get_by_text("Informe um e-mail válido.")).to_be_visible()

    for slug, name, email in orgs:
        signup(page, slug, name, email)

    # Wrong password: pt-BR error, still on the login page.
    login(page, orgs[0][0], orgs[0][2], "senha-errada-1")
    expect(page.locator("#form-error")).to_contain_text("incorretos")

    for i, (slug, name, email) in enumerate(orgs):
        login(page, slug, email, PASSWORD)
        page.wait_for_url("**/inicio")
        expect(page.locator("#sidebar")).to_contain_text(name)
        page.goto("/admin/usuarios")
        member = f"agente{i}@{slug}.com.br"
        page.click("#new-user")
        page.fill("input[name=name]", f"Agente {i}")
        page.fill("input[name=email]", member)
        page.fill("input[name=password]", PASSWORD)
        page.click("#save-user")
        table = page.locator("#users-table")
        expect(table).to_contain_text(member)
        # Only this organisation's users are listed.
        other_slug = orgs[1 - i][0]
        expect(table).not_to_contain_text(other_slug)
        page.goto("/admin/auditoria")
        expect(page.locator("#audit-table")).to_contain_text("Usuário criado")
        expect(page.locator("#audit-table")).not_to_contain_text(other_slug)

        # Dark mode toggles and survives a reload.
        html = page.locator("html")
        was_dark = "dark" in (html.get_attribute("class") or "")
        page.click("#color-mode-toggle")
        dark = re.compile(r"\bdark\b")
        (expect(html).not_to_have_class if was_dark else expect(html).to_have_class)(dark)
        page.reload()
        page.wait_for_selector("#audit-table")
        (expect(html).not_to_have_class if was_dark else expect(html).to_have_class)(dark)

        page.click("#user-menu")
        page.click("#logout")
        page.wait_for_selector("#login-submit")
        # After logout a protected page sends the browser back to the login.
        page.goto("/admin/usuarios")
        page.wait_for_selector("#login-submit")


def test_suspended_tenant_tab_stops_working(page, app_url, make_tenant) -> None:
    from app.platform import admin
    from tenants.database import platform_session

    t = make_tenant()
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    with platform_session() as db:
        admin.set_status(db, None, t.slug, "suspended")
        db.commit()
    page.goto("/admin/usuarios")
    page.wait_for_selector("#login-submit")
    login(page, t.slug, t.admin_email, t.password)
    expect(page.locator("#form-error")).to_contain_text("suspensa")
