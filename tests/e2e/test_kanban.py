"""The sales Kanban in Chromium, keyboard path: "Mover para…" on a card moves it to another column;
a stage with required fields opens the modal, the move completes after it, and the move is in the
card's stage history and on the customer's timeline."""

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlmodel import col, select

from tests.conftest import TenantHandle
from tests.e2e.conftest import login, login_home
from tests.e2e.test_a11y import _blocking_violations


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
    from models.tenant import Opportunity, StageHistory
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
        # The modal's hidden fields (here the loss reason) arrive as null and are left alone.
        card = db.get(Opportunity, card_id)
        assert card is not None and card.loss_reason is None and str(card.value) == "4500.00"
    page.goto(f"/clientes/{customer_id}")
    expect(page.get_by_text("Contato realizado → Proposta enviada").first).to_be_visible()


def _drag(page: Page, source: str, target: str, *, at: float = 0.5, shown: Callable[[], None]) -> None:
    """A real mouse drag: press on the source, move past the 5 px threshold, glide to the target (at
    `at` of its height from the top), wait until the board shows where the card would go (`shown`, what
    a person looks for before letting go), release."""
    page.locator(source).scroll_into_view_if_needed()
    box = page.locator(source).bounding_box()
    goal = page.locator(target).bounding_box()
    assert box is not None and goal is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + 12
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 8, y + 8, steps=4)
    gx = goal["x"] + goal["width"] / 2
    gy = goal["y"] + goal["height"] * at
    page.mouse.move(gx, gy, steps=15)
    page.mouse.move(gx + 1, gy, steps=2)
    shown()
    page.mouse.up()


def _drop_column(page: Page, stage_id: int) -> Callable[[], None]:
    """While dragging: the column a drop would land in is outlined (data-drop-over on its drop area)."""
    return lambda: expect(page.locator(f"[data-drop-over] > #column-{stage_id}")).to_be_visible()


def _shown_above(page: Page, upper: str, lower: str) -> Callable[[], None]:
    """While dragging inside a column: the board already shows `upper` above `lower` (the new order)."""
    return lambda: page.wait_for_function(
        "([a, b]) => document.querySelector(a).getBoundingClientRect().top"
        " < document.querySelector(b).getBoundingClientRect().top",
        arg=[upper, lower],
        polling=100,
    )


def _token(page: Page, t: TenantHandle) -> str:
    answer = page.request.post(
        "/api/auth/login", data={"tenant": t.slug, "email": t.admin_email, "password": t.password}
    )
    assert answer.ok, answer.text()
    return str(answer.json()["access_token"])


def test_mouse_drag_to_stage_with_required_fields(page: Page, make_tenant) -> None:
    """Lead → "Proposta enviada" by mouse: the modal asks value and close date, then the move completes
    where the card was dropped; the history (REST) and the customer's timeline show it."""
    from app.crm import opportunities
    from tenants.database import session, unit_of_work

    t = make_tenant()
    card_id, customer_id, stages = _seed(t)
    with session(t.schema) as db, unit_of_work(db):
        other = opportunities.create_opportunity(
            db,
            t.actor(),
            opportunities.OpportunityIn(
                customer_id=customer_id,
                title="Já na proposta",
                stage_id=stages["Proposta enviada"],
                value="100",
                expected_close="2031-01-01",
            ),
        )
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    target = f"#column-{stages['Proposta enviada']}"
    expect(page.locator(f"{target} #card-{other.id}")).to_be_visible()

    # Dropped on the upper half of the card already there: it goes before it.
    _drag(
        page,
        f"#card-{card_id}",
        f"#card-{other.id}",
        at=0.25,
        shown=_drop_column(page, stages["Proposta enviada"]),
    )
    expect(page.locator("#complete-move")).to_be_visible()
    # Nothing moved yet: the server has not accepted the move.
    expect(page.locator(f"#column-{stages['Lead']} #card-{card_id}")).to_be_visible()
    page.fill("input[name=value]", "4.500,00")
    page.fill("input[name=expected_close]", "2031-03-15")
    page.click("#complete-move")
    expect(page.locator(f"{target} #card-{card_id}")).to_be_visible()
    expect(page.locator(f"{target} .kanban-card")).to_have_count(2)
    ids = page.locator(f"{target} .kanban-card").evaluate_all("cards => cards.map(c => c.dataset.card)")
    assert ids == [str(card_id), str(other.id)]
    expect(page.locator(f"{target} .column-total")).to_have_text("R$ 4.600,00")

    token = _token(page, t)
    history = page.request.get(
        f"/api/oportunidades/{card_id}/historico", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [(h["from_stage_id"], h["to_stage_id"]) for h in history] == [
        (stages["Lead"], stages["Proposta enviada"]),
        (None, stages["Lead"]),
    ]
    page.goto(f"/clientes/{customer_id}")
    expect(page.get_by_text("Lead → Proposta enviada").first).to_be_visible()


def test_drag_refused_by_wip_limit_stays_put(page: Page, make_tenant) -> None:
    """A full column refuses the drop: the card stays in its column and the reason is a pt-BR toast."""
    from app.crm import opportunities
    from app.crm.kanban import pipelines
    from tenants.database import session, unit_of_work

    t = make_tenant()
    card_id, customer_id, stages = _seed(t)
    actor = t.actor()
    with session(t.schema) as db, unit_of_work(db):
        pipeline_id = int(opportunities.list_pipelines(db, actor)[0]["id"])  # type: ignore[arg-type]
        pipelines.update_stage(
            db, actor, pipeline_id, stages["Contato realizado"], pipelines.StageUpdate(wip_limit=1)
        )
        opportunities.create_opportunity(
            db,
            actor,
            opportunities.OpportunityIn(
                customer_id=customer_id, title="Ocupa a vaga", stage_id=stages["Contato realizado"]
            ),
        )
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    contact = stages["Contato realizado"]
    _drag(page, f"#card-{card_id}", f"#column-{contact}", at=0.85, shown=_drop_column(page, contact))
    expect(page.get_by_text("atingiu o limite de 1 cartões").first).to_be_visible()
    expect(page.locator(f"#column-{stages['Lead']} #card-{card_id}")).to_be_visible()
    expect(page.locator(f"#column-{stages['Contato realizado']} .kanban-card")).to_have_count(1)


def test_drag_reorders_inside_a_column(page: Page, make_tenant) -> None:
    """Dragging the first card below the second one swaps them, and the order survives a reload."""
    from app.crm import opportunities
    from tenants.database import session, unit_of_work

    t = make_tenant()
    card_id, customer_id, stages = _seed(t)
    with session(t.schema) as db, unit_of_work(db):
        second = opportunities.create_opportunity(
            db, t.actor(), opportunities.OpportunityIn(customer_id=customer_id, title="Segundo")
        )
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    lead = f"#column-{stages['Lead']}"
    _expect_order(page, lead, [card_id, second.id or 0])
    # Onto the lower part of the card below it: the board shows the new order while dragging, the
    # server's answer keeps it (one drag: a second one would move the card back up).
    _drag(
        page,
        f"#card-{card_id}",
        f"#card-{second.id}",
        at=0.85,
        shown=_shown_above(page, f"#card-{second.id}", f"#card-{card_id}"),
    )
    _expect_order(page, lead, [second.id or 0, card_id])
    page.reload()
    _expect_order(page, lead, [second.id or 0, card_id])


def _expect_order(page: Page, column: str, ids: list[int]) -> None:
    """The column's cards in this order, waited for: the board may still be re-rendering (hydration, a
    live reload), when a one-shot read of the cards finds none."""
    cards = page.locator(f"{column} .kanban-card")
    expect(cards).to_have_count(len(ids))
    for i, card in enumerate(ids):
        expect(cards.nth(i)).to_have_attribute("data-card", str(card))


def test_card_details_edit_note_task_won_lost_and_other_pipeline(page: Page, make_tenant) -> None:
    """The details modal: edit title/value/close date/owner, a note and a task for the customer, then
    "Marcar como perdido" (the loss reason from the required-fields modal), "Marcar como ganho", and a
    move to another pipeline — each checked in the database."""
    from app.crm import opportunities
    from app.crm.kanban import pipelines
    from models.tenant import Appointment, Note, Opportunity
    from tenants.database import session, unit_of_work

    t = make_tenant()
    card_id, customer_id, stages = _seed(t)
    actor = t.actor()
    agent = t.actor("agent", email=f"vendas@{t.slug}.com.br")
    with session(t.schema) as db, unit_of_work(db):
        second = opportunities.create_opportunity(
            db, actor, opportunities.OpportunityIn(customer_id=customer_id, title="Segunda venda")
        )
        other = pipelines.create_pipeline(
            db,
            actor,
            pipelines.PipelineIn(
                name="Pós-venda",
                stages=[pipelines.StageIn(name="Onboarding"), pipelines.StageIn(name="Ativo")],
            ),
        )
        other_id = other.id
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")

    page.click(f"#details-{card_id}")
    expect(page.locator("#detail-customer-link")).to_have_attribute("href", f"/clientes/{customer_id}")
    page.fill("#detail_title", "Migração 20 linhas")
    page.fill("#detail_value", "7.000,00")
    page.fill("#detail_close", "2031-06-30")
    page.click("#detail_owner")
    page.get_by_role("option", name="vendas", exact=True).click()
    page.click("#detail-save")
    expect(page.locator(f"#card-{card_id}")).to_contain_text("Migração 20 linhas")
    expect(page.locator(f"#column-{stages['Lead']} .column-total")).to_have_text("R$ 7.000,00")
    with session(t.schema) as db:
        card = db.get(Opportunity, card_id)
        assert card is not None
        assert (card.title, str(card.value), str(card.expected_close), card.owner_id) == (
            "Migração 20 linhas",
            "7000.00",
            "2031-06-30",
            agent.user_id,
        )

    page.click(f"#details-{card_id}")
    page.fill("#card_note", "Cliente pediu desconto no plano.")
    page.click("#card-note-save")
    expect(page.get_by_text("Nota adicionada ao cliente.")).to_be_visible()
    page.fill("#task_title", "Ligar para o dono")
    page.fill("#task_date", "2031-01-10")
    page.fill("#task_time", "10:30")
    page.click("#card-task-save")
    expect(page.get_by_text("Tarefa criada na agenda.")).to_be_visible()
    with session(t.schema) as db:
        assert db.exec(select(Note.body).where(Note.customer_id == customer_id)).all() == [
            "Cliente pediu desconto no plano."
        ]
        task = db.exec(select(Appointment).where(Appointment.customer_id == customer_id)).one()
        assert (task.title, task.kind) == ("Ligar para o dono", "task")

    # Perdido: the lost stage asks the loss reason in the required-fields modal, then the move completes.
    page.click("#mark-lost")
    page.fill("input[name=loss_reason]", "Preço acima do concorrente")
    page.click("#complete-move")
    lost = stages["Fechado – perdido"]
    expect(page.locator(f"#column-{lost} #card-{card_id}")).to_be_visible()

    page.click(f"#details-{second.id}")
    page.click("#mark-won")
    expect(page.locator(f"#column-{stages['Fechado – ganho']} #card-{second.id}")).to_be_visible()

    page.click(f"#details-{card_id}")
    page.click("#transfer_stage")
    page.get_by_role("option", name="Pós-venda › Onboarding").click()
    page.click("#card-transfer-save")
    expect(page.locator(f"#card-{card_id}")).to_have_count(0)
    with session(t.schema) as db:
        lost_card, won_card = db.get(Opportunity, card_id), db.get(Opportunity, second.id)
        assert lost_card is not None and won_card is not None
        assert lost_card.loss_reason == "Preço acima do concorrente"
        assert lost_card.pipeline_id == other_id
        assert won_card.stage_id == stages["Fechado – ganho"] and won_card.closed_at is not None


def test_filters_apply_and_persist_per_user_across_reload_and_login(
    page: Page, browser, app_url, make_tenant
) -> None:
    """Owner "Meus cartões", a tag, a minimum value and a close-date range narrow the board; they are the
    user's preference: still there after a reload and in a new login, and stored once per user."""
    from app.crm import opportunities, preferences
    from app.crm.customers import CustomerIn, create_customer
    from models.tenant import CustomerTag, Tag
    from tenants.database import session, unit_of_work

    t = make_tenant()
    card_id, customer_id, stages = _seed(t)
    admin, agent = t.actor(), t.actor("agent")
    with session(t.schema) as db, unit_of_work(db):
        opportunities.update_opportunity(
            db,
            admin,
            card_id,
            opportunities.OpportunityUpdate(
                value="5000", expected_close="2031-02-01", owner_id=admin.user_id
            ),
        )
        tag = Tag(name="Corporativo")
        db.add(tag)
        db.flush()
        db.add(CustomerTag(customer_id=customer_id, tag_id=tag.id))
        others = create_customer(db, admin, CustomerIn(name="Mercado Bom Preço", owner_id=agent.user_id))
        db.flush()
        cheap = opportunities.create_opportunity(
            db, admin, opportunities.OpportunityIn(customer_id=others.id, title="Chip avulso", value="100")
        )
        big_other = opportunities.create_opportunity(
            db,
            admin,
            opportunities.OpportunityIn(
                customer_id=others.id, title="Frota", value="9000", owner_id=agent.user_id
            ),
        )
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    lead = f"#column-{stages['Lead']}"
    expect(page.locator(f"{lead} .kanban-card")).to_have_count(3)

    page.click("#f_owner")
    page.get_by_role("option", name="Meus cartões").click()
    page.click("#f_tag")
    page.get_by_role("option", name="Corporativo").click()
    page.fill("#f_value_min", "1.000")
    page.fill("#f_close_from", "2031-01-01")
    page.fill("#f_close_to", "2031-12-31")
    page.click("#kanban-filter")
    expect(page.locator(f"{lead} .kanban-card")).to_have_count(1)
    expect(page.locator(f"{lead} #card-{card_id}")).to_be_visible()

    page.reload()
    expect(page.locator(f"{lead} #card-{card_id}")).to_be_visible()
    expect(page.locator(f"{lead} .kanban-card")).to_have_count(1)
    expect(page.locator("#f_value_min")).to_have_value("1.000")
    expect(page.locator("#f_owner")).to_contain_text("Meus cartões")

    # A new login (another tab's session) restores the same filters: they belong to the user.
    other = browser.new_context(base_url=app_url, locale="pt-BR", viewport={"width": 1366, "height": 900})
    try:
        tab = other.new_page()
        login_home(tab, t.slug, t.admin_email, t.password)
        tab.goto("/kanban")
        expect(tab.locator(f"{lead} #card-{card_id}")).to_be_visible()
        expect(tab.locator(f"{lead} .kanban-card")).to_have_count(1)
        expect(tab.locator("#f_close_to")).to_have_value("2031-12-31")
    finally:
        other.close()

    page.click("#kanban-clear")
    expect(page.locator(f"{lead} .kanban-card")).to_have_count(3)
    for card in (cheap, big_other):
        expect(page.locator(f"{lead} #card-{card.id}")).to_be_visible()
    with session(t.schema) as db:
        assert preferences.get(db, admin, preferences.KANBAN_FILTERS) == {
            "pipeline": page_pipeline(db, admin)
        }


def page_pipeline(db, actor) -> str:
    from app.crm import opportunities

    return str(opportunities.list_pipelines(db, actor)[0]["id"])


def test_other_open_boards_follow_a_move_without_reload(page: Page, browser, app_url, make_tenant) -> None:
    """Two people on the same board: a move in one tab shows up in the other within a few seconds,
    without a reload (the board polls its pipeline's revision)."""
    t = make_tenant()
    card_id, _customer_id, stages = _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    expect(page.locator(f"#column-{stages['Lead']} #card-{card_id}")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    other = browser.new_context(base_url=app_url, locale="pt-BR", viewport={"width": 1366, "height": 900})
    try:
        tab = other.new_page()
        login_home(tab, t.slug, t.admin_email, t.password)
        tab.goto("/kanban")
        _move_with_keyboard(tab, card_id, "Contato realizado")
        expect(tab.locator(f"#column-{stages['Contato realizado']} #card-{card_id}")).to_be_visible()
    finally:
        other.close()

    expect(page.locator(f"#column-{stages['Contato realizado']} #card-{card_id}")).to_be_visible(
        timeout=10_000
    )
    expect(page.locator(f"#column-{stages['Lead']} #card-{card_id}")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened


def _touch_drag(
    page: Page, source: str, target: str, *, hold_ms: int, shown: Callable[[], None] | None = None
) -> None:
    """A finger on the source, held `hold_ms`, then slid to the target's middle and lifted (CDP touch);
    with `shown`, lifted once the board shows where the card would go."""
    cdp = page.context.new_cdp_session(page)
    box, goal = page.locator(source).bounding_box(), page.locator(target).bounding_box()
    assert box is not None and goal is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    gx, gy = goal["x"] + goal["width"] / 2, goal["y"] + goal["height"] / 2

    def touch(kind: str, px: float, py: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": px, "y": py}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", x, y)
    page.wait_for_timeout(hold_ms)
    for i in range(1, 16):
        touch("touchMove", x + (gx - x) * i / 15, y + (gy - y) * i / 15)
        page.wait_for_timeout(16)
    if shown is not None:
        shown()
    touch("touchEnd", gx, gy)


def test_touch_drag_needs_a_press_before_it_moves(browser, app_url, make_tenant) -> None:
    """On a touch screen a quick swipe does not drag the card; a 150 ms press, then a slide, moves it."""
    from models.tenant import Opportunity
    from tenants.database import session

    t = make_tenant()
    card_id, _customer_id, stages = _seed(t)
    context = browser.new_context(
        base_url=app_url, locale="pt-BR", viewport={"width": 1366, "height": 900}, has_touch=True
    )
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        login(page, t.slug, t.admin_email, t.password)
        page.wait_for_url("**/inicio")
        page.goto("/kanban")
        lead, contact = f"#column-{stages['Lead']}", f"#column-{stages['Contato realizado']}"
        expect(page.locator(f"{lead} #card-{card_id}")).to_be_visible()
        _touch_drag(page, f"#card-{card_id}", contact, hold_ms=0)
        page.wait_for_timeout(1500)
        # The swipe scrolled (at the board's left edge headless Chromium may even take it as "back").
        with session(t.schema) as db:
            card = db.get(Opportunity, card_id)
            assert card is not None and card.stage_id == stages["Lead"]
        if not page.url.endswith("/kanban"):
            page.goto("/kanban")
        expect(page.locator(f"{lead} #card-{card_id}")).to_be_visible()
        _touch_drag(
            page,
            f"#card-{card_id}",
            contact,
            hold_ms=400,
            shown=_drop_column(page, stages["Contato realizado"]),
        )
        expect(page.locator(f"{contact} #card-{card_id}")).to_be_visible()
    finally:
        context.close()


def test_required_owner_is_picked_in_the_modal(page: Page, make_tenant) -> None:
    """A stage that requires the owner: the required-fields modal offers the assignable users (a select),
    and the move completes with the one picked."""
    from app.crm.kanban import pipelines
    from models.tenant import Opportunity
    from tenants.database import session, unit_of_work

    t = make_tenant()
    card_id, _customer_id, stages = _seed(t)
    actor = t.actor()
    agent = t.actor("agent", email=f"vendas@{t.slug}.com.br")
    with session(t.schema) as db, unit_of_work(db):
        card = db.get(Opportunity, card_id)
        assert card is not None
        pipelines.update_stage(
            db,
            actor,
            card.pipeline_id,
            stages["Contato realizado"],
            pipelines.StageUpdate(required_fields=["owner_id"]),
        )
        card.owner_id = None  # e.g. imported without one
        db.add(card)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    _move_with_keyboard(page, card_id, "Contato realizado")
    expect(page.locator("#complete-move")).to_be_visible()
    expect(page.locator("input[name=value]")).to_have_count(0)
    violations = _blocking_violations(page)  # the modal with its select passes axe too
    assert not violations, violations
    page.get_by_role("dialog").get_by_label("Responsável").click()
    page.get_by_role("option", name="vendas", exact=True).click()
    page.click("#complete-move")
    expect(page.locator(f"#column-{stages['Contato realizado']} #card-{card_id}")).to_be_visible()
    with session(t.schema) as db:
        moved = db.get(Opportunity, card_id)
        assert moved is not None and (moved.stage_id, moved.owner_id) == (
            stages["Contato realizado"],
            agent.user_id,
        )


def test_card_details_modal_passes_axe(page: Page, make_tenant) -> None:
    """axe-core with the card details modal open, then with a field error in it: no serious or critical
    violation, light and dark."""
    t = make_tenant()
    card_id, _customer_id, _stages = _seed(t)
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/kanban")
    themes = []
    for _ in range(2):
        themes.append("dark" in (page.locator("html").get_attribute("class") or "").split())
        page.click(f"#details-{card_id}")
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#detail_title")).to_have_value("Migração 12 linhas")
        violations = _blocking_violations(page)
        assert not violations, violations
        # With a field error shown (its red text must keep its contrast).
        page.fill("#detail_value", "muito")
        page.click("#detail-save")
        expect(dialog.locator(".field-error")).to_be_visible()
        violations = _blocking_violations(page)
        assert not violations, violations
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        page.click("#color-mode-toggle")
    assert sorted(themes) == [False, True]  # light and dark
