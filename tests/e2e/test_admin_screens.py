"""Admin screens built on the shared CRUD view: create a tag and a custom field in Chromium, with pt-BR
field errors from the services for invalid input (empty name, duplicate, malformed key)."""

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login


def test_tag_and_custom_field_screens(page: Page, make_tenant) -> None:
    t = make_tenant()
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    sidebar = page.locator("#sidebar")
    for label in ("Etiquetas", "Carteiras", "Campos personalizados", "Templates", "Segmentos"):
        expect(sidebar).to_contain_text(label)

    # Tags: empty name and a duplicate are refused under the field; a valid one is listed.
    page.click("#sidebar >> text=Etiquetas")
    page.wait_for_url("**/admin/etiquetas")
    form = page.locator("#tag-form")
    page.click("#new-tag")
    page.click("#tag-form-save")
    expect(form.locator(".field-error")).to_have_text("Informe o nome da etiqueta.")
    form.locator("input[name=name]").fill("VIP")
    page.click("#tag-form-save")
    expect(form).to_have_count(0)
    expect(page.locator("#tag-table")).to_contain_text("VIP")
    page.click("#new-tag")
    form.locator("input[name=name]").fill("VIP")
    page.click("#tag-form-save")
    expect(form.locator(".field-error")).to_have_text("Já existe uma etiqueta com este nome.")
    page.keyboard.press("Escape")
    expect(page.locator("#tag-table tbody tr")).to_have_count(1)

    # Custom field: a malformed key gets the service's message; then a required date field is created.
    page.goto("/admin/campos")
    page.click("#new-custom-field")
    form = page.locator("#custom-field-form")
    form.locator("input[name=label]").fill("Vencimento da fatura")
    form.locator("input[name=key]").fill("Vencimento Fatura!")
    page.click("#custom-field-form-save")
    expect(form.locator(".field-error")).to_have_text(
        "Use letras minúsculas, números e _ começando por letra."
    )
    form.locator("input[name=key]").fill("vencimento_fatura")
    form.locator("#type").click()
    page.get_by_role("option", name="Data").click()
    form.locator("#required").click()
    page.click("#custom-field-form-save")
    expect(form).to_have_count(0)
    row = page.locator("#custom-field-table tbody tr")
    expect(row).to_have_count(1)
    for text in ("Vencimento da fatura", "vencimento_fatura", "Data", "Sim", "lista, filtros"):
        expect(row).to_contain_text(text)

    # Editing keeps the key (not shown) and saves the new label.
    row.locator(".row-edit").click()
    expect(form.locator("input[name=key]")).to_have_count(0)
    form.locator("input[name=label]").fill("Dia do vencimento")
    page.click("#custom-field-form-save")
    expect(row).to_contain_text("Dia do vencimento")
