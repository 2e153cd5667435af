"""The sales Kanban in Chromium, keyboard path: "Mover para…" on a card moves it to another column;
a stage with required fields opens the modal, the move completes after it, and the move is in the
card's stage history and on the customer's timeline."""

from playwright.sync_api import Page, expect
from sqlmodel import col, select

from tests.conftest import TenantHandle
from tests.e2e.conftest import login


def _seed(t: TenantHandle) -> tuple[int, int, dict[str, int]]:
    """A customer with one card in the first stage; "Proposta enviada" requires value and close date."""
    from app.crm import opportunities
    from app.crm.customers import CustomerIn, create_customer
    from app.crm.kanban import pipelines
    from tenants.database import session, unit_of_work

    actor = t.actor()
    with session(t.schema) as db, unit_of_work(db):
        pipeline = opportunities.list_pipelines(db, actor)[0]
        stages = {str(s["name"]): int(s["id"]) for s in pipeline["stages"]}  # type: ignore[union-attr]
        pipelines.update_stage(
            db,
            actor,
            int(pipeline["id"]),  # type: ignore[arg-type]
            stages["Proposta enviada"],
            pipelines.StageUpdate(required_fields=["value", "expected_close"]),
        )
        customer = create_customer(db, actor, CustomerIn(name="Padaria Pão Quente"))
        db.flush()
        card = opportunities.create_opportunity(
            db, actor, opportunities.OpportunityIn(customer_id=customer.id, title="Migração 12 linhas")
        )
        return card.id or 0, customer.id or 0, stages


def _move_with_keyboard(page: Page, card_id: int, stage: str) -> None:
    """Focus "Mover para…", open it with Enter, type the stage's first letters (the menu's typeahead:
    where the focus starts after opening varies), check the highlighted item, pick it with Enter."""
    page.locator(f"#move-{card_id}").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem").first).to_be_visible()
    page.keyboard.type(stage[:3])
    expect(page.get_by_role("menuitem", name=stage)).to_be_focused()
    page.keyboard.press("Enter")


def test_move_to_menu_keyboard_path(page: Page, make_tenant) -> None:
    from models.tenant import StageHistory
    from tenants.database import session

    t = make_tenant()
    card_id, customer_id, stages = _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    expect(page.locator(f"#column-{stages['Lead']} #card-{card_id}")).to_be_visible()
    expect(page.locator(f"#column-{stages['Lead']} .column-total")).to_have_text("R$ 0,00")

    _move_with_keyboard(page, card_id, "Contato realizado")
    expect(page.locator(f"#column-{stages['Contato realizado']} #card-{card_id}")).to_be_visible()

    # → Proposta enviada: its required fields are asked in the modal, then the move completes.
    _move_with_keyboard(page, card_id, "Proposta enviada")
    expect(page.locator("#complete-move")).to_be_visible()
    page.fill("input[name=value]", "4.500,00")
    page.fill("input[name=expected_close]", "2031-03-15")
    page.click("#complete-move")
    column = page.locator(f"#column-{stages['Proposta enviada']}")
    expect(column.locator(f"#card-{card_id}")).to_be_visible()
    expect(column.locator(".column-total")).to_have_text("R$ 4.500,00")

    with session(t.schema) as db:
        rows = db.exec(
            select(StageHistory).where(StageHistory.opportunity_id == card_id).order_by(col(StageHistory.id))
        ).all()
        assert [(r.from_stage_id, r.to_stage_id) for r in rows] == [
            (None, stages["Lead"]),
            (stages["Lead"], stages["Contato realizado"]),
            (stages["Contato realizado"], stages["Proposta enviada"]),
        ]
    page.goto(f"/clientes/{customer_id}")
    expect(page.get_by_text("Contato realizado → Proposta enviada").first).to_be_visible()
