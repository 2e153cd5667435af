"""A 390 px phone (issue 14, item 9): the sidebar gives way to a menu button and its drawer, the page
never scrolls sideways (tables scroll in their own box) and dialogs fit the screen."""

import uuid

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login

PHONE = {"width": 390, "height": 844}


def _seed_customers(t: TenantHandle, n: int) -> None:
    from app.crm import customers
    from app.crm.customers import CustomerIn
    from tenants.database import session, unit_of_work

    with session(t.schema) as db, unit_of_work(db):
        for i in range(n):
            customers.create_customer(
                db, t.actor(), CustomerIn(name=f"Cliente móvel {i} {uuid.uuid4().hex[:4]}")
            )


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    # Name the innermost elements that stick out, so a failure says what to fix.
    wide = page.evaluate(
        """(w) => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > w + 1)
            .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > w + 1))
            .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)""",
        PHONE["width"],
    )
    assert width <= PHONE["width"], f"the page is {width}px wide at {PHONE['width']}px: {wide}"


def test_phone_layout(page: Page, make_tenant) -> None:
    t = make_tenant()
    _seed_customers(t, 3)
    page.set_viewport_size(PHONE)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    expect(page.locator("#page-title")).to_be_visible()

    # No sidebar eating 240 px: a menu button opens the sections in a drawer.
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.locator("#mobile-menu")).to_be_visible()
    _no_sideways_scroll(page)
    page.click("#mobile-menu")
    drawer = page.locator("#mobile-drawer")
    expect(drawer).to_be_visible()
    # It slides in from the left: measure it once the animation has put it in place.
    page.wait_for_function("() => document.querySelector('#mobile-drawer').getBoundingClientRect().x >= 0")
    box = drawer.bounding_box()
    assert box is not None and box["x"] >= 0 and box["width"] <= PHONE["width"]
    drawer.get_by_role("link", name="Clientes").click()
    page.wait_for_url("**/clientes")

    # The list: the table scrolls inside its box; the page itself does not.
    expect(page.locator("#data-table tbody tr")).to_have_count(3)
    expect(page.locator("#mobile-drawer")).to_have_count(0)
    _no_sideways_scroll(page)
    table = page.locator("#data-table").bounding_box()
    assert table is not None and table["x"] + table["width"] <= PHONE["width"] + 1, table

    # A dialog fits the screen.
    page.click("#new-customer")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    d = dialog.bounding_box()
    assert d is not None and d["x"] >= 0 and d["x"] + d["width"] <= PHONE["width"], d
    expect(dialog.get_by_label("Nome ou razão social")).to_be_visible()

    # Back to a desktop width: the sidebar returns and the menu button goes.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator("#mobile-menu")).to_be_hidden()
