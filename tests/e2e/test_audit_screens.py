"""Audit screens read in pt-BR (issue 14, item 6): the superadmin console's Auditoria opens the platform
log (logins name the user, the table fits 1366 px with its IP column), "Nova organização" can be
cancelled, and the organisation's log shows action names and a field-by-field diff instead of codes and
JSON."""

import uuid

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login


def _fits(page: Page, selector: str) -> None:
    """Nothing of the table is cut or scrolled sideways: its last column ends inside the viewport."""
    sizes = page.locator(selector).evaluate(
        "t => ({table: t.scrollWidth, box: t.parentElement.clientWidth,"
        " right: t.getBoundingClientRect().right, viewport: window.innerWidth})"
    )
    assert sizes["table"] <= sizes["box"] + 1, sizes
    assert sizes["right"] <= sizes["viewport"], sizes


def test_superadmin_console_audit_and_cancel(page: Page, make_tenant) -> None:
    from app.auth.superadmins import create_superadmin
    from tenants.database import platform_session, unit_of_work

    t: TenantHandle = make_tenant()
    root = f"root-{uuid.uuid4().hex[:8]}@crm.local"
    with platform_session() as db, unit_of_work(db):
        create_superadmin(db, root, "Senha-forte-1")

    # A tenant admin logs in: the platform log must name them.
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.click("#user-menu")
    page.click("#logout")
    page.wait_for_selector("#login-submit")

    login(page, "", root, "Senha-forte-1")
    page.wait_for_url("**/plataforma")
    # "Nova organização" closes with Cancelar, creating nothing.
    page.get_by_role("button", name="Nova organização").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.click("#cancel-tenant")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.click("#sidebar >> text=Auditoria")
    page.wait_for_url("**/plataforma/auditoria")
    expect(page.get_by_text("Você não tem")).to_have_count(0)
    table = page.locator("#audit-table")
    login_row = table.locator("tr", has_text=t.admin_email).filter(has_text="Entrou no sistema").first
    expect(login_row).to_be_visible()
    expect(login_row).to_contain_text(t.tenant.name)
    expect(login_row.locator("td").nth(2)).to_have_text(t.admin_email)  # Quem: the user, not "sistema"
    expect(table).not_to_contain_text("auth.login")
    expect(table).to_contain_text("Organização criada")
    _fits(page, "#audit-table")
    expect(table.locator("td.audit-ip").first).to_be_in_viewport()


def test_tenant_audit_shows_names_and_a_readable_diff(page: Page, make_tenant) -> None:
    from app.crm import customers, segments
    from app.crm.customers import CustomerFilter, CustomerIn, CustomerUpdate
    from tenants.database import session, unit_of_work

    t: TenantHandle = make_tenant()
    with session(t.schema) as db, unit_of_work(db):
        c = customers.create_customer(db, t.actor(), CustomerIn(name="Ana Souza"))
        cid = c.id or 0
    with session(t.schema) as db, unit_of_work(db):
        customers.update_customer(db, t.actor(), cid, CustomerUpdate(name="Ana Souza Lima"))
        segment = segments.create_segment(
            db, t.actor(), segments.SegmentIn(name="Só Ana", filters=CustomerFilter(text="Ana"))
        )
        segment_id = segment.id

    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/admin/auditoria")
    table = page.locator("#audit-table")
    expect(table).to_contain_text("Cliente alterado")
    expect(table).to_contain_text("Cliente criado")
    expect(table).to_contain_text("nome: Ana Souza → Ana Souza Lima")
    expect(table).to_contain_text(f"Cliente #{cid}")
    expect(table).not_to_contain_text("customer.update")
    expect(table).not_to_contain_text('{"')
    _fits(page, "#audit-table")

    # The pages read their parameters from RouterData.url (RouterData.page is deprecated): the profile's
    # id from the path, the list's segment from the query.
    page.goto(f"/clientes?segmento={segment_id}")
    expect(page.locator("#segment-badge")).to_contain_text("Só Ana")
    page.goto(f"/clientes/{cid}")
    expect(page.get_by_text("Ana Souza Lima").first).to_be_visible()
