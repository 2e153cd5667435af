"""Kanban services on real PostgreSQL: gap ordering and local rebalance, move rules (WIP, required
fields, loss reason, visibility), history/timeline/audit, board and column pages with filters,
pipeline/stage archive rules, metrics, and last-write-wins under concurrent moves (threads)."""

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select

from app.crm import opportunities, timeline
from app.crm.kanban import board, metrics, moves, ordering, pipelines
from app.errors import Conflict, Forbidden, Invalid, NotFound
from models.tenant import AuditLog, CustomerTag, Opportunity, Stage, StageHistory, Tag
from tenants.database import session
from tests.integration.crm.conftest import Crm, new_customer

STEP = ordering.STEP


def _pipeline(db: Session, crm: Crm, **stage_rules: dict) -> tuple[int, list[int]]:
    """A fresh pipeline "A, B, Proposta, Ganho, Perdido"; stage_rules maps a stage name to its settings."""
    names = [("A", None), ("B", None), ("Proposta", None), ("Ganho", "won"), ("Perdido", "lost")]
    stages = [
        pipelines.StageIn(name=name, outcome=outcome, **stage_rules.get(name, {})) for name, outcome in names
    ]
    p = pipelines.create_pipeline(
        db, crm.manager, pipelines.PipelineIn(name=f"F {uuid.uuid4().hex[:5]}", stages=stages)
    )
    return p.id or 0, [s.id or 0 for s in pipelines.open_stages(db, p.id or 0)]


def _card(db: Session, crm: Crm, actor, pipeline_id: int, stage_id: int, **fields) -> Opportunity:
    customer = new_customer(db, actor, **fields.pop("customer", {}))
    return opportunities.create_opportunity(
        db,
        actor,
        opportunities.OpportunityIn(
            customer_id=customer.id, pipeline_id=pipeline_id, stage_id=stage_id, title="Card", **fields
        ),
    )


def _order(db: Session, stage_id: int) -> list[int]:
    db.flush()
    db.expire_all()
    return list(
        db.exec(
            select(Opportunity.id)
            .where(Opportunity.stage_id == stage_id)
            .order_by(col(Opportunity.position), col(Opportunity.id))
        ).all()
    )


def test_gap_ordering_midpoint_and_one_row_per_move(db: Session, crm: Crm) -> None:
    pid, (a, b, *_) = _pipeline(db, crm)
    cards = [_card(db, crm, crm.agent, pid, a) for _ in range(4)]
    assert [c.position for c in cards] == [STEP, 2 * STEP, 3 * STEP, 4 * STEP]
    before = {c.id: c.position for c in cards}
    moves.move_card(db, crm.agent, cards[3].id, stage_id=a, before_id=cards[1].id)
    assert cards[3].position == (STEP + 2 * STEP) // 2
    after = dict(db.exec(select(Opportunity.id, Opportunity.position).where(Opportunity.stage_id == a)).all())
    assert [k for k in after if after[k] != before[k]] == [cards[3].id]  # one row written
    assert _order(db, a) == [cards[0].id, cards[3].id, cards[1].id, cards[2].id]
    moves.move_card(db, crm.agent, cards[0].id, stage_id=b)  # end of an empty column
    assert cards[0].position == STEP and _order(db, b) == [cards[0].id]
    moves.move_card(db, crm.agent, cards[2].id, stage_id=a, before_id=cards[3].id)
    assert _order(db, a) == [cards[2].id, cards[3].id, cards[1].id]


def test_exhausted_gap_rebalances_a_few_neighbours_only(db: Session, crm: Crm) -> None:
    pid, (a, *_) = _pipeline(db, crm)
    cards = [_card(db, crm, crm.agent, pid, a) for _ in range(40)]
    # Pack the first 5 cards one apart: no integer left between neighbours.
    for i, card in enumerate(cards[:5]):
        card.position = 1000 + i
        db.add(card)
    db.flush()
    start = dict(db.exec(select(Opportunity.id, Opportunity.position).where(Opportunity.stage_id == a)).all())
    mover = cards[30]
    moves.move_card(db, crm.agent, mover.id, stage_id=a, before_id=cards[1].id)
    expected = [c.id for c in cards if c.id != mover.id]
    expected.insert(1, mover.id)
    assert _order(db, a) == expected
    positions = dict(
        db.exec(select(Opportunity.id, Opportunity.position).where(Opportunity.stage_id == a)).all()
    )
    changed = {i for i in positions if positions[i] != start[i]} - {mover.id}
    assert 0 < len(changed) <= ordering.REBALANCE_WINDOW  # a few neighbours, not the column
    assert positions[cards[0].id] == 1000  # cards before the drop point never move
    assert changed <= {c.id for c in cards[1 : 1 + ordering.REBALANCE_WINDOW]}


def test_repeated_inserts_at_one_spot_stay_ordered(db: Session, crm: Crm) -> None:
    pid, (a, b, *_) = _pipeline(db, crm)
    anchor, *others = [_card(db, crm, crm.agent, pid, a) for _ in range(25)]
    target = _card(db, crm, crm.agent, pid, b)
    # 24 inserts right before the same card halve the same gap until it is exhausted (16 halvings).
    for card in others:
        moves.move_card(db, crm.agent, card.id, stage_id=b, before_id=target.id)
    order = _order(db, b)
    assert order == [c.id for c in others] + [target.id]
    assert anchor.id in _order(db, a)


def test_move_writes_history_timeline_and_audit(db: Session, crm: Crm) -> None:
    pid, (a, b, *_) = _pipeline(db, crm)
    card = _card(db, crm, crm.agent, pid, a)
    card.stage_entered_at = datetime.now(UTC) - timedelta(hours=2)
    db.add(card)
    db.flush()
    result = moves.move_card(db, crm.agent, card.id, stage_id=b)
    h = result.history
    assert h is not None and (h.from_stage_id, h.to_stage_id, h.actor_id) == (a, b, crm.agent.user_id)
    assert 7190 <= (h.seconds_in_previous or 0) <= 7300
    items = timeline.list_timeline(db, crm.agent, card.customer_id, kinds=["stage_change"]).rows
    assert items[0].payload["to_stage"] == b and "A → B" in items[0].summary
    db.flush()
    assert db.exec(
        select(AuditLog).where(AuditLog.action == "opportunity.move", AuditLog.entity_id == str(card.id))
    ).first()
    # Reordering in the same column writes no history row.
    assert moves.move_card(db, crm.agent, card.id, stage_id=b).history is None
    listed = moves.history(db, crm.agent, card.id)
    assert [(r.from_stage_id, r.to_stage_id) for r in listed] == [(a, b), (None, a)]


def test_wip_limit_refuses_with_conflict(db: Session, crm: Crm) -> None:
    pid, (a, b, *_) = _pipeline(db, crm, B={"wip_limit": 1})
    first, second = _card(db, crm, crm.agent, pid, a), _card(db, crm, crm.agent, pid, a)
    moves.move_card(db, crm.agent, first.id, stage_id=b)
    with pytest.raises(Conflict) as exc:
        moves.move_card(db, crm.agent, second.id, stage_id=b)
    assert "limite de 1" in exc.value.message
    moves.move_card(db, crm.agent, first.id, stage_id=b)  # reorder inside a full column is fine


def test_required_fields_name_the_missing_ones_then_move(db: Session, crm: Crm) -> None:
    pid, (a, _, proposal, _, lost) = _pipeline(
        db, crm, Proposta={"required_fields": ["value", "expected_close"]}
    )
    card = _card(db, crm, crm.agent, pid, a)
    with pytest.raises(Invalid) as exc:
        moves.move_card(db, crm.agent, card.id, stage_id=proposal)
    assert set(exc.value.fields) == {"value", "expected_close"} and "Proposta" in exc.value.fields["value"]
    fields = moves.MoveFields(value=Decimal("1500.00"), expected_close=date(2031, 1, 31))
    moves.move_card(db, crm.agent, card.id, stage_id=proposal, fields=fields)
    assert card.stage_id == proposal and card.value == Decimal("1500.00")
    with pytest.raises(Invalid) as exc:
        moves.move_card(db, crm.agent, card.id, stage_id=lost)
    assert set(exc.value.fields) == {"loss_reason"}
    moves.move_card(db, crm.agent, card.id, stage_id=lost, fields=moves.MoveFields(loss_reason="Preço"))
    assert card.loss_reason == "Preço" and card.closed_at is not None


def test_required_owner_is_picked_from_the_assignable_users(db: Session, crm: Crm) -> None:
    """A stage that requires the owner: a card without one is refused naming `owner_id`; the board's
    modal offers `assignable_users` (the details modal's list), and any of them completes the move,
    while a user outside the actor's visibility is refused."""
    from app.crm.visibility import assignable_users

    pid, (a, b, *_) = _pipeline(db, crm, B={"required_fields": ["owner_id"]})
    card = _card(db, crm, crm.manager, pid, a)
    card.owner_id = None  # e.g. imported without one, or its owner's cards were released
    db.add(card)
    db.flush()
    with pytest.raises(Invalid) as exc:
        moves.move_card(db, crm.manager, card.id or 0, stage_id=b)
    assert set(exc.value.fields) == {"owner_id"} and "Responsável" in exc.value.fields["owner_id"]
    offered = {u.id for u in assignable_users(db, crm.manager)}
    assert crm.agent2.user_id in offered and crm.outsider.user_id not in offered
    with pytest.raises(Invalid) as exc:
        moves.move_card(
            db, crm.manager, card.id or 0, stage_id=b, fields=moves.MoveFields(owner_id=crm.outsider.user_id)
        )
    assert set(exc.value.fields) == {"owner_id"}
    assert card.stage_id == a
    result = moves.move_card(
        db, crm.manager, card.id or 0, stage_id=b, fields=moves.MoveFields(owner_id=crm.agent2.user_id)
    )
    assert result.history is not None and result.history.to_stage_id == b
    db.expire_all()
    moved = db.get(Opportunity, card.id)
    assert moved is not None and (moved.stage_id, moved.owner_id) == (b, crm.agent2.user_id)


def test_visibility_unknown_ids_and_permissions(db: Session, crm: Crm) -> None:
    pid, (a, b, *_) = _pipeline(db, crm)
    card = _card(db, crm, crm.agent, pid, a)
    with pytest.raises(NotFound):
        moves.move_card(db, crm.outsider, card.id, stage_id=b)
    moves.move_card(db, crm.manager, card.id, stage_id=b)  # same team
    with pytest.raises(NotFound):
        moves.move_card(db, crm.agent, 987654321, stage_id=b)
    with pytest.raises(NotFound):
        moves.move_card(db, crm.agent, card.id, stage_id=987654321)
    other = _card(db, crm, crm.agent, pid, a)
    with pytest.raises(NotFound):  # before_id must be in the target column
        moves.move_card(db, crm.agent, card.id, stage_id=b, before_id=other.id)
    with pytest.raises(Forbidden):
        pipelines.create_pipeline(
            db, crm.agent, pipelines.PipelineIn(name="X", stages=[pipelines.StageIn(name="Y")])
        )


def test_archive_rules(db: Session, crm: Crm) -> None:
    pid, (a, b, *_) = _pipeline(db, crm)
    card = _card(db, crm, crm.agent, pid, a)
    with pytest.raises(Conflict) as exc:
        pipelines.archive_stage(db, crm.manager, pid, a)
    assert exc.value.details["cards"] == 1
    moves.move_card(db, crm.agent, card.id, stage_id=b)
    pipelines.archive_stage(db, crm.manager, pid, a)
    assert a not in [c.stage_id for c in board.board(db, crm.manager, pid).columns]
    with pytest.raises(Conflict):  # no card may enter an archived stage
        moves.move_card(db, crm.agent, card.id, stage_id=a)
    with pytest.raises(Conflict):
        pipelines.archive_pipeline(db, crm.manager, pid)
    default = opportunities.list_pipelines(db, crm.admin)[0]
    with pytest.raises(Conflict):
        pipelines.archive_pipeline(db, crm.admin, default["id"])
    stage = pipelines.update_stage(db, crm.manager, pid, b, pipelines.StageUpdate(name="Bê", position=3))
    assert stage.name == "Bê" and [s.id for s in pipelines.open_stages(db, pid)][3] == b
    with pytest.raises(Invalid):
        pipelines.update_stage(db, crm.manager, pid, b, pipelines.StageUpdate(required_fields=["nope"]))


def test_board_counts_totals_pages_and_filters(db: Session, crm: Crm) -> None:
    pid, (a, *_) = _pipeline(db, crm)
    mine = [_card(db, crm, crm.agent, pid, a, value=Decimal("10.00")) for _ in range(60)]
    theirs = _card(db, crm, crm.outsider, pid, a, value=Decimal("5.00"), customer={"name": "Zebra Norte"})
    tag = Tag(name=f"vip{uuid.uuid4().hex[:4]}")
    db.add(tag)
    db.flush()
    db.add(CustomerTag(customer_id=mine[0].customer_id, tag_id=tag.id))
    db.flush()
    full = board.board(db, crm.admin, pid)
    col_a = full.columns[0]
    assert (col_a.count, col_a.total, col_a.total_label) == (61, Decimal("605.00"), "R$ 605,00")
    assert len(col_a.cards) == board.PAGE_SIZE and col_a.next_cursor
    rest, cursor = board.column_page(db, crm.admin, pid, a, col_a.next_cursor)
    assert len(rest) == 11 and cursor is None
    assert {c.id for c in col_a.cards + rest} == {c.id for c in mine} | {theirs.id}
    # Agents see only their customers' cards.
    agent_col = board.board(db, crm.agent, pid).columns[0]
    assert agent_col.count == 60 and theirs.id not in {c.id for c in agent_col.cards}
    by_tag = board.board(db, crm.admin, pid, board.BoardFilter(tag_id=tag.id)).columns[0]
    assert [c.id for c in by_tag.cards] == [mine[0].id] and by_tag.cards[0].tags == [tag.name]
    by_name = board.board(db, crm.admin, pid, board.BoardFilter(q="zebra")).columns[0]
    assert [c.id for c in by_name.cards] == [theirs.id]
    by_owner = board.board(db, crm.admin, pid, board.BoardFilter(owner_id=crm.outsider.user_id)).columns[0]
    assert by_owner.count == 1
    by_value = board.board(db, crm.admin, pid, board.BoardFilter(value_max=Decimal("6"))).columns[0]
    assert by_value.count == 1
    assert board.board(db, crm.admin, pid).columns[1].count == 0
    # "Minha equipe": owners of the actor's team; an actor without a team sees its own cards.
    team = board.BoardFilter(team=True)
    assert board.board(db, crm.manager, pid, team).columns[0].count == 60
    assert board.board(db, crm.outsider, pid, team).columns[0].count == 1
    assert board.board(db, crm.admin, pid, team).columns[0].count == 0


def test_metrics_conversion_time_in_stage_and_closed_value(db: Session, crm: Crm) -> None:
    pid, (a, b, _, won, lost) = _pipeline(db, crm)
    cards = [_card(db, crm, crm.agent, pid, a, value=Decimal("100.00")) for _ in range(4)]
    for card in cards[:2]:
        moves.move_card(db, crm.agent, card.id, stage_id=b)
    moves.move_card(db, crm.agent, cards[0].id, stage_id=won)
    moves.move_card(db, crm.agent, cards[1].id, stage_id=lost, fields=moves.MoveFields(loss_reason="x"))
    today = datetime.now(UTC).date()
    m = metrics.stage_metrics(db, crm.admin, pid, today - timedelta(days=1), today)
    by = {s.stage_id: s for s in m.stages}
    assert by[a].entered == 4 and by[b].entered == 2 and by[a].conversion_to_next == 0.5
    assert by[a].avg_seconds is not None
    assert (m.won_value, m.lost_value) == (Decimal("100.00"), Decimal("100.00"))


def test_concurrent_moves_of_one_card_last_write_wins(crm: Crm) -> None:
    with session(crm.schema) as db:
        pid, stages = _pipeline(db, crm)
        card = _card(db, crm, crm.agent, pid, stages[0])
        others = [_card(db, crm, crm.agent, pid, stages[1]) for _ in range(3)]
        db.commit()
        card_id, anchor = card.id, others[1].id
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def move(i: int) -> None:
        try:
            with session(crm.schema) as s:
                barrier.wait()
                target = stages[1] if i % 2 else stages[2]
                moves.move_card(s, crm.agent, card_id, stage_id=target, before_id=anchor if i % 2 else None)
                s.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with session(crm.schema) as db:
        rows = db.exec(
            select(StageHistory).where(StageHistory.opportunity_id == card_id).order_by(col(StageHistory.id))
        ).all()
        final = db.get(Opportunity, card_id)
        assert final is not None
        # Every move serialised on the row: each history row starts where the previous one ended.
        assert (rows[0].from_stage_id, rows[0].to_stage_id) == (None, stages[0])  # creation
        chain = [r.from_stage_id for r in rows[1:]]
        assert chain == [r.to_stage_id for r in rows[:-1]]
        # A move into the stage the card is already in is a reorder: no history row for it.
        assert 2 <= len(rows) <= 9 and final.stage_id == rows[-1].to_stage_id
        audits = db.exec(
            select(AuditLog).where(AuditLog.action == "opportunity.move", AuditLog.entity_id == str(card_id))
        ).all()
        assert len(audits) == 8


def test_concurrent_drops_into_one_column_keep_every_card(crm: Crm) -> None:
    with session(crm.schema) as db:
        pid, stages = _pipeline(db, crm)
        movers = [_card(db, crm, crm.agent, pid, stages[0]) for _ in range(6)]
        anchor = _card(db, crm, crm.agent, pid, stages[1])
        db.commit()
        ids, anchor_id = [m.id for m in movers], anchor.id
    barrier = threading.Barrier(len(ids))

    def move(card_id: int) -> None:
        with session(crm.schema) as s:
            barrier.wait()
            moves.move_card(s, crm.agent, card_id, stage_id=stages[1], before_id=anchor_id)
            s.commit()

    threads = [threading.Thread(target=move, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session(crm.schema) as db:
        order = _order(db, stages[1])
        assert sorted(order[:-1]) == sorted(ids) and order[-1] == anchor_id
        assert (
            db.exec(
                text(f'SELECT count(*) FROM "{crm.schema}".stage_history WHERE to_stage_id = {stages[1]}')
            ).one()[0]
            == 7  # the anchor's creation and the six moves
        )


def test_stage_model_has_defaults(db: Session, crm: Crm) -> None:
    stage = db.exec(select(Stage).where(col(Stage.outcome) == "lost")).first()
    assert stage is not None and stage.color and stage.required_fields == []


def test_outcome_stage_is_the_pipeline_won_or_lost_stage(db: Session, crm: Crm) -> None:
    pid, (a, _b, _p, won, lost) = _pipeline(db, crm)
    card = _card(db, crm, crm.agent, pid, a)
    assert moves.outcome_stage(db, crm.agent, card.id or 0, "won") == won
    assert moves.outcome_stage(db, crm.agent, card.id or 0, "lost") == lost
    # Marking as lost is a move to that stage: the loss reason is required.
    with pytest.raises(Invalid) as refused:
        moves.move_card(db, crm.agent, card.id or 0, stage_id=lost)
    assert "loss_reason" in refused.value.fields
    moves.move_card(db, crm.agent, card.id or 0, stage_id=lost, fields=moves.MoveFields(loss_reason="Preço"))
    assert card.stage_id == lost and card.loss_reason == "Preço" and card.closed_at is not None
    with pytest.raises(NotFound):
        moves.outcome_stage(db, crm.agent, card.id or 0, "draw")
    with pytest.raises(NotFound):
        moves.outcome_stage(db, crm.agent, 10**9, "won")
