"""The customer list as a newcomer meets it (issue 14, items 4 and 5): names in alphabetical order
whatever their case and accents, a typo in the search box still finds the customer, a search that finds
nothing says so and clears with one click, and the search text does not linger after leaving the page."""

from playwright.sync_api import Page, expect

from tests.conftest import TenantHandle
from tests.e2e.conftest import login

# Byte order put "ANA" before "Ana", lower-case after "Z" and "Pereira Simões" before "Peçanha".
NAMES = ["zélia Prado", "Pereira Simões", "ANA BEATRIZ", "Peçanha Lima", "Ana Alves", "Ágata Reis"]
TARGET = "Sebastião Peçanha Nóbrega"
ALPHABETICAL = [
    "Ágata Reis",
    "Ana Alves",
    "ANA BEATRIZ",
    "Peçanha Lima",
    "Pereira Simões",
    TARGET,
    "zélia Prado",
]


def _seed(t: TenantHandle) -> None:
    from app.crm import customers
    from app.crm.customers import CustomerIn
    from tenants.database import session, unit_of_work

    with session(t.schema) as db, unit_of_work(db):
        for name in [*NAMES, TARGET]:
            customers.create_customer(db, t.actor(), CustomerIn(name=name))


def _names(page: Page) -> list[str]:
    return page.locator("#data-table tbody tr td:nth-child(2)").all_inner_texts()


def test_names_sort_alphabetically_on_screen(page: Page, make_tenant) -> None:
    t = make_tenant()
    _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/clientes")
    rows = page.locator("#data-table tbody tr")
    expect(rows).to_have_count(len(NAMES) + 1)
    page.locator("#data-table thead th", has_text="Nome").get_by_role("button").click()
    expected = ALPHABETICAL
    expect(rows.first).to_contain_text(expected[0])
    assert _names(page) == expected
    page.locator("#data-table thead th", has_text="Nome").get_by_role("button").click()  # descending
    expect(rows.first).to_contain_text(expected[-1])
    assert _names(page) == expected[::-1]


def test_typo_empty_message_and_search_not_lingering(page: Page, make_tenant) -> None:
    t = make_tenant()
    _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/clientes")
    rows = page.locator("#data-table tbody tr")
    expect(rows).to_have_count(len(NAMES) + 1)
    box = page.locator("#customer-search")

    # One typo in each word the user typed: the typo-tolerant search still finds the customer.
    box.fill("Sebastião Peçana")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(TARGET)
    box.fill("Sebastiao Nobrga")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(TARGET)

    # Nothing found: the page says so (not a silent empty table) and offers to clear the search.
    box.fill("xqzwkj")
    notice = page.locator("#empty-search")
    expect(notice).to_contain_text("Nenhum cliente encontrado para “xqzwkj”.")
    expect(rows).to_have_count(0)
    page.get_by_role("button", name="Limpar busca").click()
    expect(notice).to_have_count(0)
    expect(rows).to_have_count(len(NAMES) + 1)
    expect(page.locator("#customer-search")).to_have_value("")

    # Leave with a search typed and come back through the sidebar: the list starts unsearched.
    page.locator("#customer-search").fill("Sebastiao Nobrga")
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Início").first.click()
    page.wait_for_url("**/inicio")
    page.get_by_role("link", name="Clientes").first.click()
    page.wait_for_url("**/clientes")
    expect(page.locator("#customer-search")).to_have_value("")
    expect(rows).to_have_count(len(NAMES) + 1)
