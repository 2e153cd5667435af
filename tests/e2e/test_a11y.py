"""Accessibility (issue 14, item 8): axe-core finds no serious or critical violation on any screen, in
both themes; every screen has `main` (and, inside the shell, `nav`) landmarks and exactly one h1; form
labels are bound to their inputs, so `get_by_label` finds them."""

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

# Every tenant screen an admin can open; /clientes/{id} is added with a real customer.
TENANT_ROUTES = [
    "/inicio",
    "/clientes",
    "/agenda",
    "/importacoes",
    "/kanban",
    "/campanhas",
    "/admin/auditoria",
    "/admin/campos",
    "/admin/segmentos",
    "/admin/etiquetas",
    "/admin/templates",
    "/admin/usuarios",
    "/admin/carteiras",
    "/admin/monitoramento",
    "/isto-nao-existe",
]
PUBLIC_ROUTES = ["/", "/cadastro", "/cadastro/confirmar?token=x", "/nao-existe-publico"]


def _axe_script() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make axe` (make test does it)")
    return AXE.read_text()


def _blocking_violations(page: Page) -> list[str]:
    page.add_script_tag(content=_axe_script())
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary),
            }));
        }"""
    )
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in result if v["impact"] in BLOCKING]


def _open(page: Page, route: str, dark: bool, *, shell: bool) -> None:
    page.goto(route)
    page.wait_for_load_state("networkidle")
    if shell:
        expect(page.locator("#page-title")).to_be_visible()
        expect(page.locator(".rt-Spinner")).to_have_count(0)
    else:
        expect(page.locator("main")).to_have_count(1)
    theme_class = page.locator("html").get_attribute("class") or ""
    if ("dark" in theme_class.split()) != dark:
        page.click("#color-mode-toggle")
        expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b" if dark else r"\blight\b"))


def _check(page: Page, route: str, dark: bool, *, shell: bool) -> list[str]:
    _open(page, route, dark, shell=shell)
    problems: list[str] = []
    if page.locator("h1").count() != 1:
        problems.append(f"{page.locator('h1').count()} h1 elements")
    if page.locator("main").count() != 1:
        problems.append("no single main landmark")
    if shell and page.locator("nav").count() < 1:
        problems.append("no nav landmark")
    problems += _blocking_violations(page)
    theme = "escuro" if dark else "claro"
    return [f"{route} [{theme}] {p}" for p in problems]


def _seed_customer(t: TenantHandle) -> int:
    from app.crm import customers, opportunities
    from app.crm.customers import CustomerIn
    from tenants.database import session, unit_of_work

    with session(t.schema) as db, unit_of_work(db):
        c = customers.create_customer(db, t.actor(), CustomerIn(name=f"Acessível {uuid.uuid4().hex[:4]}"))
        db.flush()
        # A card on /kanban, so axe also checks a draggable card inside the board.
        opportunities.create_opportunity(
            db, t.actor(), opportunities.OpportunityIn(customer_id=c.id or 0, title="Plano empresarial")
        )
        return c.id or 0


def _superadmin() -> tuple[str, str]:
    from app.auth.superadmins import create_superadmin
    from tenants.database import platform_session

    email, password = f"root-{uuid.uuid4().hex[:6]}@crm.com.br", "Senha-forte-123"
    with platform_session() as db:
        create_superadmin(db, email, password)
        db.commit()
    return email, password


def test_every_screen_passes_axe_in_both_themes(page: Page, make_tenant) -> None:
    t = make_tenant()
    cid = _seed_customer(t)
    problems: list[str] = []

    for dark in (False, True):
        for route in PUBLIC_ROUTES:
            problems += _check(page, route, dark, shell=False)

    # Labels are bound: the login form is filled by its labels, as a screen reader user would.
    page.goto("/")
    page.get_by_label("Organização").fill(t.slug)
    page.get_by_label("E-mail").fill(t.admin_email)
    page.get_by_label("Senha").fill(t.password)
    assert page.get_by_label("E-mail").get_attribute("type") == "email"
    page.click("#login-submit")
    page.wait_for_url("**/inicio")

    for dark in (False, True):
        for route in [*TENANT_ROUTES, f"/clientes/{cid}"]:
            problems += _check(page, route, dark, shell=True)

    # The customer list: row checkboxes have names; sortable headers say how they sort.
    page.goto("/clientes")
    expect(page.get_by_role("checkbox", name="Selecionar todos")).to_be_visible()
    expect(page.locator("#data-table th[aria-sort]").first).to_be_attached()

    assert not problems, "\n".join(problems)


def test_platform_console_passes_axe_in_both_themes(page: Page) -> None:
    email, password = _superadmin()
    login(page, "", email, password)
    page.wait_for_url("**/plataforma")
    problems: list[str] = []
    for dark in (False, True):
        problems += _check(page, "/plataforma", dark, shell=True)
        problems += _check(page, "/plataforma/auditoria", dark, shell=True)
    assert not problems, "\n".join(problems)
