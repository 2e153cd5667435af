"""What a new user reads (issue 14): one time zone on every screen, a pt-BR 404 inside the shell,
<html lang="pt-BR">, and a dark-mode sidebar on the dark palette."""

import re
import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests.conftest import TenantHandle
from tests.e2e.conftest import login

# 17:50 UTC = 13:50 in Manaus (UTC-4): the organisation's zone, not the server's and not São Paulo's.
EVENT_AT = datetime(2026, 3, 5, 17, 50, tzinfo=UTC)
SHOWN = "05/03/2026 13:50"


def _seed(t: TenantHandle) -> int:
    """One customer created by the admin, its timeline and audit rows moved to EVENT_AT; org in Manaus."""
    from app.crm import customers
    from app.crm.customers import CustomerIn
    from models.platform import Tenant
    from tenants.database import platform_session, session, unit_of_work

    with session(t.schema) as db, unit_of_work(db):
        c = customers.create_customer(db, t.actor(), CustomerIn(name=f"Relógio {uuid.uuid4().hex[:4]}"))
        cid = c.id or 0
    with session(t.schema) as db, unit_of_work(db):
        db.execute(
            text(f'UPDATE "{t.schema}".interactions SET at = :at WHERE customer_id = :id'),
            {"at": EVENT_AT, "id": cid},
        )
        db.execute(
            text(
                f'UPDATE "{t.schema}".audit_log SET at = :at '
                "WHERE action = 'customer.create' AND entity_id = :id"
            ),
            {"at": EVENT_AT, "id": str(cid)},
        )
    with platform_session() as pdb:
        tenant = pdb.get(Tenant, t.id)
        assert tenant is not None
        tenant.time_zone = "America/Manaus"
        pdb.add(tenant)
        pdb.commit()
    return cid


def test_one_time_zone_404_lang_and_dark_sidebar(page: Page, make_tenant) -> None:
    t = make_tenant()
    cid = _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    assert page.locator("html").get_attribute("lang") == "pt-BR"

    # The same event reads the same local time on the home, the profile timeline and the audit log.
    expect(page.locator("#home-recent")).to_contain_text(SHOWN)
    page.goto(f"/clientes/{cid}")
    expect(page.locator("#timeline .timeline-item").first).to_contain_text(SHOWN)
    page.goto("/admin/auditoria")
    expect(page.locator("#audit-table")).to_contain_text(SHOWN)

    # Unknown address: pt-BR, inside the shell, with a way back home.
    page.goto("/isto-nao-existe")
    expect(page.locator("#not-found-title")).to_have_text("Página não encontrada")
    expect(page.locator("#sidebar")).to_be_visible()
    page.click("#not-found-back")
    page.wait_for_url("**/inicio")

    # Dark mode: the sidebar takes the dark palette (not the bright brand purple); the logo is not a
    # whitened square.
    html = page.locator("html")
    if "dark" not in (html.get_attribute("class") or ""):
        page.click("#color-mode-toggle")
    expect(html).to_have_class(re.compile(r"\bdark\b"))
    sidebar_bg = page.locator("#sidebar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert sidebar_bg != "rgb(102, 0, 152)", sidebar_bg
    assert page.locator("#sidebar-logo").evaluate("e => getComputedStyle(e).filter") == "none"
    page.click("#color-mode-toggle")  # back to light: the brand purple
    expect(page.locator("#sidebar")).to_have_css("background-color", "rgb(102, 0, 152)")


def test_404_without_a_session_points_to_the_login(page: Page) -> None:
    page.goto("/pagina/que/nao/existe")
    expect(page.locator("#not-found-title")).to_have_text("Página não encontrada")
    expect(page.locator("#not-found-back")).to_have_attribute("href", "/")
    assert page.locator("html").get_attribute("lang") == "pt-BR"
