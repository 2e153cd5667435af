"""The customer list for a new user (issue 14, item 13) in Chromium: the filter bar fits in one row at
1440 px with the rest behind "Mais filtros" (a hidden filter applied there is counted on the button), the
list shows the primary phone formatted, and the bulk dialog shows only the chosen action's field; each
action is applied and checked in the database."""

from playwright.sync_api import Page, expect
from sqlmodel import select

from tests.conftest import TenantHandle
from tests.e2e.conftest import login, login_home
from tests.e2e.test_a11y import _blocking_violations

WIDE = {"width": 1440, "height": 900}
PEOPLE = [
    ("Maria Aparecida Souza", "+5511987654321"),
    ("João Pereira Lima", "+551134567890"),
    ("Ana Beatriz Costa", "+5521998765432"),
]
# Every field the bulk dialog may show, by label; each action shows exactly one of them.
BULK_FIELDS = ("Etiqueta", "Responsável", "Novo status", "Carteira")


def _seed(t: TenantHandle) -> dict[str, int]:
    from app.crm import customers, tags, wallets
    from app.crm.contacts import ContactIn
    from app.crm.customers import CustomerIn
    from tenants.database import session, unit_of_work

    actor = t.actor()
    t.actor("agent", email=f"bruna@{t.slug}.com.br")  # an owner to assign to
    ids: dict[str, int] = {}
    with session(t.schema) as db, unit_of_work(db):
        tags.create_tag(db, actor, tags.TagIn(name="vip", color="yellow"))
        north = wallets.create_wallet(db, actor, wallets.WalletIn(name="Carteira Norte"))
        wallets.create_wallet(db, actor, wallets.WalletIn(name="Carteira Sul"))
        db.flush()
        for i, (name, phone) in enumerate(PEOPLE):
            row = customers.create_customer(
                db,
                actor,
                CustomerIn(
                    name=name,
                    contacts=[ContactIn(kind="phone", value=phone)],
                    wallet_id=north.id if i == 0 else None,
                ),
            )
            ids[name] = row.id or 0
    return ids


def _customers(t: TenantHandle, ids: list[int]) -> list:
    from models.tenant import Customer
    from tenants.database import session

    with session(t.schema) as db:
        return list(db.exec(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id)).all())


def _tags(t: TenantHandle, ids: list[int]) -> dict[int, list[str]]:
    from app.crm import tags
    from tenants.database import session

    with session(t.schema) as db:
        return tags.names_of(db, ids)


def test_filter_bar_phone_column_and_bulk_dialog(page: Page, make_tenant, tmp_path) -> None:
    t = make_tenant()
    ids = _seed(t)
    page.set_viewport_size(WIDE)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/clientes")
    rows = page.locator("#data-table tbody tr")
    expect(rows).to_have_count(3)

    # The phone column: the primary phone as written in Brazil.
    expect(page.locator("#data-table thead")).to_contain_text("Telefone")
    expect(rows.filter(has_text="Maria Aparecida Souza")).to_contain_text("(11) 98765-4321")
    expect(rows.filter(has_text="João Pereira Lima")).to_contain_text("(11) 3456-7890")
    # It can be hidden (and shown again) from "Colunas".
    page.click("#column-chooser")
    page.get_by_role("checkbox", name="Telefone").click()
    expect(page.locator("#data-table thead")).not_to_contain_text("Telefone")
    page.get_by_role("checkbox", name="Telefone").click()
    expect(page.locator("#data-table thead")).to_contain_text("Telefone")
    page.keyboard.press("Escape")

    # One row at 1440 px: every child of the bar starts on the same line.
    bar = page.locator("#filters-row")
    expect(bar.locator("#customer-search")).to_be_visible()
    expect(page.locator("#more-filters")).to_be_visible()
    boxes = bar.evaluate(
        "el => [...el.children].map(c => { const r = c.getBoundingClientRect(); return [r.top, r.bottom]; })"
    )
    assert len(boxes) == 6, boxes
    tops = [top for top, _ in boxes]
    assert max(tops) - min(tops) < 8, boxes
    bottoms = [bottom for _, bottom in boxes]
    assert min(bottoms) > max(tops), boxes  # overlapping vertically: one line, not two
    # The less used filters are not in the bar until "Mais filtros" is opened.
    expect(page.get_by_role("combobox", name="Carteira")).to_have_count(0)
    expect(page.locator("#more-filters-count")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "customers-1440.png"))

    # "Mais filtros": a hidden filter (the wallet) applies and is counted on the button.
    page.click("#more-filters")
    panel = page.locator("#more-filters-panel")
    expect(panel).to_be_visible()
    panel.get_by_role("combobox", name="Carteira").click()
    page.get_by_role("option", name="Carteira Norte").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Maria Aparecida Souza")
    page.screenshot(path=str(tmp_path / "customers-more-filters.png"))
    assert not _blocking_violations(page)  # the open panel passes axe too
    page.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    expect(page.locator("#more-filters-count")).to_have_text("1")
    expect(page.get_by_role("button", name="Mais filtros 1 ativos")).to_be_visible()
    page.click("#clear-filters")
    expect(rows).to_have_count(3)
    expect(page.locator("#more-filters-count")).to_have_count(0)

    # Bulk actions on a selection: the dialog shows only the chosen action's field.
    all_ids = list(ids.values())
    page.get_by_role("checkbox", name="Selecionar todos").click()
    expect(page.locator("#bulk-menu")).to_be_visible()

    def open_bulk(action: str, field: str):
        page.click("#bulk-menu")
        page.get_by_role("menuitem", name="Nos selecionados").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        if action != "Adicionar etiqueta":  # the default
            dialog.locator("#action").click()
            page.get_by_role("option", name=action, exact=True).click()
        expect(dialog.locator("#action")).to_have_text(action)
        for label in BULK_FIELDS:
            expect(dialog.get_by_text(label, exact=True)).to_have_count(1 if label == field else 0)
        return dialog

    def choose_and_apply(dialog, field_id: str, option: str) -> None:
        dialog.locator(f"#{field_id}").click()
        page.get_by_role("option", name=option, exact=True).click()
        dialog.locator("#bulk-form-save").click()
        expect(dialog).to_have_count(0)

    dialog = open_bulk("Adicionar etiqueta", "Etiqueta")
    choose_and_apply(dialog, "value", "vip")
    expect(page.get_by_text("Ação aplicada a 3 clientes.")).to_be_visible()
    assert all(names == ["vip"] for names in _tags(t, all_ids).values())

    # The selection is cleared by the reload after each action: select everyone again.
    page.get_by_role("checkbox", name="Selecionar todos").click()
    dialog = open_bulk("Atribuir responsável", "Responsável")
    choose_and_apply(dialog, "owner", "bruna")
    agent = t.actor("agent", email=f"bruna@{t.slug}.com.br")
    assert {c.owner_id for c in _customers(t, all_ids)} == {agent.user_id}

    page.get_by_role("checkbox", name="Selecionar todos").click()
    dialog = open_bulk("Alterar status", "Novo status")
    choose_and_apply(dialog, "status_value", "Inadimplente")
    assert {c.status for c in _customers(t, all_ids)} == {"inadimplente"}

    page.get_by_role("checkbox", name="Selecionar todos").click()
    dialog = open_bulk("Mover para carteira", "Carteira")
    page.screenshot(path=str(tmp_path / "customers-bulk-wallet.png"))
    # Once the earlier actions' toasts are gone (sonner's success colours are not this item's subject).
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=20_000)
    assert not _blocking_violations(page)
    choose_and_apply(dialog, "wallet", "Carteira Sul")
    from app.crm import wallets
    from tenants.database import session

    with session(t.schema) as db:
        south = next(w for w in wallets.list_wallets(db, t.actor()) if w.name == "Carteira Sul")
    assert {c.wallet_id for c in _customers(t, all_ids)} == {south.id}
    expect(rows.first).to_contain_text("Inadimplente")


def test_chosen_columns_persist_per_user_across_reload_and_login(
    page: Page, browser, app_url, make_tenant
) -> None:
    """Hiding "Telefone" and showing "Score" from "Colunas" is the user's preference: still so after a
    reload and in a new login, stored once per user and audited."""
    from app.crm import preferences
    from models.tenant import AuditLog
    from tenants.database import session

    t = make_tenant()
    _seed(t)
    page.set_viewport_size(WIDE)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/clientes")
    head = page.locator("#data-table thead")
    expect(page.locator("#data-table tbody tr")).to_have_count(3)
    expect(head).to_contain_text("Telefone")
    expect(head).not_to_contain_text("Score")
    page.click("#column-chooser")
    page.get_by_role("checkbox", name="Telefone").click()
    expect(head).not_to_contain_text("Telefone")
    page.get_by_role("checkbox", name="Score").click()
    expect(head).to_contain_text("Score")
    page.keyboard.press("Escape")

    page.reload()
    expect(page.locator("#data-table tbody tr")).to_have_count(3)
    expect(head).to_contain_text("Score")
    expect(head).not_to_contain_text("Telefone")
    page.click("#column-chooser")
    expect(page.get_by_role("checkbox", name="Telefone")).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="Score")).to_be_checked()
    page.keyboard.press("Escape")

    # A new login (another browser's session) shows the same columns: they belong to the user.
    other = browser.new_context(base_url=app_url, locale="pt-BR", viewport=WIDE)
    try:
        tab = other.new_page()
        login_home(tab, t.slug, t.admin_email, t.password)
        tab.goto("/clientes")
        rows = tab.locator("#data-table tbody tr")
        expect(rows).to_have_count(3)
        expect(tab.locator("#data-table thead")).to_contain_text("Score")
        expect(tab.locator("#data-table thead")).not_to_contain_text("Telefone")
        expect(rows.filter(has_text="Maria Aparecida Souza")).not_to_contain_text("(11) 98765-4321")
    finally:
        other.close()

    admin = t.actor()
    key = preferences.CUSTOMER_COLUMNS
    with session(t.schema) as db:
        visible = preferences.get(db, admin, key)["visible"]
        assert "phone" not in visible and "score" in visible, visible
        audits = db.exec(
            select(AuditLog.id).where(
                AuditLog.action == "preference.update", AuditLog.entity_id == f"{admin.user_id}:{key}"
            )
        ).all()
    assert len(audits) == 2  # one per change: the reload and the new login stored nothing
