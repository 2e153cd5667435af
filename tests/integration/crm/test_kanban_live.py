"""Live board revisions on real PostgreSQL (+ Redis): a committed move bumps both pipelines it touched,
a rolled-back one bumps nothing, other tenants' counters are their own; the same with Redis as the store."""

import pytest
from sqlmodel import Session

from app import live as app_live
from app.crm import opportunities
from app.crm.kanban import live, moves, pipelines
from tenants.database import session, unit_of_work
from tests.integration.crm.conftest import Crm, new_customer


def _two_pipelines(crm: Crm) -> tuple[int, int, int, int]:
    """(pipeline A, its first stage, pipeline B, its first stage) and a card in A's first stage."""
    with session(crm.schema) as db, unit_of_work(db):
        ids = []
        for name in ("Vendas live", "Pós-venda live"):
            p = pipelines.create_pipeline(
                db,
                crm.manager,
                pipelines.PipelineIn(
                    name=name, stages=[pipelines.StageIn(name="Um"), pipelines.StageIn(name="Dois")]
                ),
            )
            ids += [p.id or 0, pipelines.open_stages(db, p.id or 0)[0].id or 0]
    return ids[0], ids[1], ids[2], ids[3]


def _card(db: Session, crm: Crm, pipeline_id: int, stage_id: int) -> int:
    customer = new_customer(db, crm.agent)
    card = opportunities.create_opportunity(
        db,
        crm.agent,
        opportunities.OpportunityIn(
            customer_id=customer.id, pipeline_id=pipeline_id, stage_id=stage_id, title="C"
        ),
    )
    return card.id or 0


def _check_bumps(crm: Crm) -> None:
    a, a_first, b, b_first = _two_pipelines(crm)
    before_a, before_b = live.revision(crm.schema, a), live.revision(crm.schema, b)
    with session(crm.schema) as db, unit_of_work(db):
        card = _card(db, crm, a, a_first)
    assert live.revision(crm.schema, a) == before_a + 1  # a new card is a change too
    # A move that rolls back bumps nothing.
    with session(crm.schema) as db:
        moves.move_card(db, crm.agent, card, stage_id=b_first)
        db.rollback()
    assert (live.revision(crm.schema, a), live.revision(crm.schema, b)) == (before_a + 1, before_b)
    # A committed move to another pipeline bumps both boards once.
    with session(crm.schema) as db, unit_of_work(db):
        moves.move_card(db, crm.agent, card, stage_id=b_first)
    assert (live.revision(crm.schema, a), live.revision(crm.schema, b)) == (before_a + 2, before_b + 1)
    # Another tenant's pipeline of the same id has its own counter.
    assert live.revision("t_zzzzzz", a) == 0


def test_revisions_in_memory(crm: Crm) -> None:
    _check_bumps(crm)


def test_revisions_in_redis(crm: Crm, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = app_live._redis_for(redis_url)
    monkeypatch.setattr(app_live, "redis_client", lambda: client)
    _check_bumps(crm)
    key = next(iter(client.scan_iter(f"live:kanban:{crm.schema}:*")))
    assert 0 < client.ttl(key) <= 86_400
