"""TEMPORARY: screenshots of every new/changed screen (deleted after review)."""

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login

OUT = "/tmp/shots"


def test_shots(page: Page, make_tenant) -> None:  # type: ignore[no-untyped-def]
    from app.crm import custom_fields, customers, segments, tags, templates, wallets
    from app.crm.customers import CustomerFilter, CustomerIn
    from tenants.database import session, unit_of_work

    t = make_tenant()
    actor = t.actor()
    with session(t.schema) as db, unit_of_work(db):
        tags.create_tag(db, actor, tags.TagIn(name="VIP", color="green"))
        tags.create_tag(db, actor, tags.TagIn(name="Churn", color="red"))
        wallets.create_wallet(db, actor, wallets.WalletIn(name="PME Sul", description="Revenda Sul", owner_id=actor.user_id))
        custom_fields.create_field(db, actor, custom_fields.CustomFieldIn(key="operadora", label="Operadora", type="select", options=["Vivo", "Claro", "TIM"]))
        templates.create_template(db, actor, templates.TemplateIn(name="Boas-vindas", channel="whatsapp", body="Olá {{nome}}, seu plano {{plano_atual}} está ativo."))
        customers.create_customer(db, actor, CustomerIn(name="Maria VIP", tags=["VIP"], contacts=[{"kind": "phone", "value": "+5511987654321"}]))
        customers.create_customer(db, actor, CustomerIn(name="José Comum"))
        seg = segments.create_segment(db, actor, segments.SegmentIn(name="Clientes VIP", filters=CustomerFilter(tags=["VIP"])))
        seg_id = seg.id
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    for route, name, button in [
        ("/admin/etiquetas", "tags", "#new-tag"),
        ("/admin/carteiras", "wallets", "#new-wallet"),
        ("/admin/campos", "fields", "#new-custom-field"),
        ("/admin/templates", "templates", "#new-template"),
        ("/admin/segmentos", "segments", None),
    ]:
        page.goto(route)
        page.wait_for_selector("table")
        page.wait_for_timeout(500)
        page.screenshot(path=f"{OUT}/{name}.png", full_page=True)
        if button:
            page.click(button)
            page.click("button[type=submit]")
            page.wait_for_timeout(700)
            page.screenshot(path=f"{OUT}/{name}_modal.png", full_page=True)
            page.keyboard.press("Escape")
    page.goto("/admin/segmentos")
    page.locator("#segment-table tbody tr").first.get_by_role("button", name="Editar").click()
    page.wait_for_timeout(500)
    page.screenshot(path=f"{OUT}/segments_edit.png")
    page.keyboard.press("Escape")
    page.locator("#segment-table tbody tr").first.get_by_role("button", name="Abrir").click()
    page.wait_for_url(f"**/clientes?segmento={seg_id}")
    expect(page.locator("#segment-badge")).to_contain_text("Clientes VIP")
    expect(page.locator("#data-table tbody tr")).to_have_count(1)
    page.screenshot(path=f"{OUT}/customers_segment.png", full_page=True)
    page.locator("#segment-table, #data-table").locator("tbody tr").first.locator("td").nth(1).click()
    page.wait_for_selector("#customer-name")
    page.click("#qa-opportunity")
    page.fill("#opportunity-form input[name=value]", "xx")
    page.click("#opportunity-form-save")
    page.wait_for_timeout(500)
    page.screenshot(path=f"{OUT}/customer_opp_error.png", full_page=True)
    page.goto("/agenda")
    page.wait_for_selector("#agenda-table")
    page.screenshot(path=f"{OUT}/agenda.png", full_page=True)
    page.goto("/admin/etiquetas")
    page.locator("#tag-table .row-delete").first.click()
    page.wait_for_timeout(400)
    page.screenshot(path=f"{OUT}/tags_delete.png")
    page.click("#tag-confirm-delete")
    expect(page.locator("#tag-table tbody tr")).to_have_count(1)
