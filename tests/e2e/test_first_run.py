"""First run (issue 14, item 11): the slug is suggested from the organisation's name, sign-up lands the
new admin on Início logged in, and Início shows the first-steps checklist that ticks itself and can be
hidden."""

import uuid

from playwright.sync_api import Page, expect

from tests.e2e.conftest import wait_hydrated

PASSWORD = "Senha-forte-123"


def test_signup_logs_in_and_home_shows_first_steps(page: Page) -> None:
    run = uuid.uuid4().hex[:6]
    page.goto("/cadastro")
    wait_hydrated(page, "input[name=name]")
    page.locator("input[name=name]").fill(f"Comunicações São João {run} Ltda.")
    page.locator("input[name=name]").press("Tab")
    slug_input = page.locator("input[name=slug]")
    expect(slug_input).to_have_value(f"comunicacoes-sao-joao-{run}")
    page.fill("input[name=admin_name]", "Joana")
    page.fill("input[name=admin_email]", f"joana@sj-{run}.com.br")
    page.fill("input[name=admin_password]", PASSWORD)
    page.click("#signup-submit")

    page.wait_for_url("**/inicio")
    checklist = page.locator("#first-steps")
    expect(checklist).to_contain_text("Primeiros passos")
    for label in ["Importar clientes", "Conectar WhatsApp", "Configurar e-mail", "Convidar usuários"]:
        expect(checklist).to_contain_text(label)
    expect(page.locator("#first-steps-count")).to_contain_text("0 de 4")

    # Inviting a user ticks its step on the next visit.
    page.goto("/admin/usuarios")
    page.click("#new-user")
    page.fill("input[name=name]", "Agente")
    page.fill("input[name=email]", f"agente@sj-{run}.com.br")
    page.fill("input[name=password]", PASSWORD)
    page.click("#save-user")
    expect(page.locator("#users-table")).to_contain_text(f"agente@sj-{run}.com.br")
    page.goto("/inicio")
    expect(page.locator("[data-step=convidar_usuarios].first-step-done")).to_be_visible()
    expect(page.locator("#first-steps-count")).to_contain_text("1 de 4")

    page.click("#first-steps-dismiss")
    expect(checklist).to_have_count(0)
    page.reload()
    expect(page.locator("#welcome")).to_be_visible()
    expect(checklist).to_have_count(0)
