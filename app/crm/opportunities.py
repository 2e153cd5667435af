"""Opportunities: create/convert from a customer, update, delete. Moves live in app.crm.kanban.moves."""

from decimal import Decimal

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.kanban import live
from app.crm.kanban.ordering import append_position
from app.crm.visibility import check_assignable, customer_visible, get_visible_customer
from app.errors import Invalid, NotFound
from app.formatting import money_br
from app.validation import Day, Id, Str200
from models.base import utcnow
from models.tenant import Customer, Opportunity, Pipeline, Stage, StageHistory


class OpportunityIn(BaseModel):
    customer_id: Id
    pipeline_id: Id | None = None  # default pipeline when omitted
    stage_id: Id | None = None  # first stage when omitted
    title: Str200
    value: Decimal = Field(
        default=Decimal(0), ge=0, le=Decimal("999999999999.99"), max_digits=14, decimal_places=2
    )
    expected_close: Day | None = None
    owner_id: Id | None = None


class OpportunityUpdate(BaseModel):
    title: Str200 | None = None
    value: Decimal | None = Field(
        default=None, ge=0, le=Decimal("999999999999.99"), max_digits=14, decimal_places=2
    )
    expected_close: Day | None = None
    owner_id: Id | None = None


def brl(value: Decimal) -> str:
    """R$ 1.234,56: users read Brazilian money notation, not Python's."""
    return money_br(value)


def list_pipelines(db: Session, actor: Actor) -> list[dict[str, object]]:
    actor.require(Perm.CUSTOMERS_READ)
    pipelines = db.exec(
        select(Pipeline)
        .where(col(Pipeline.archived_at).is_(None))
        .order_by(col(Pipeline.is_default).desc(), col(Pipeline.id))
    ).all()
    stages = db.exec(
        select(Stage)
        .where(col(Stage.archived_at).is_(None))
        .order_by(col(Stage.pipeline_id), col(Stage.position), col(Stage.id))
    ).all()
    return [
        {
            "id": p.id,
            "name": p.name,
            "is_default": p.is_default,
            "stages": [
                {
                    "id": s.id,
                    "name": s.name,
                    "position": s.position,
                    "outcome": s.outcome,
                    "color": s.color,
                    "wip_limit": s.wip_limit,
                    "required_fields": list(s.required_fields),
                }
                for s in stages
                if s.pipeline_id == p.id
            ],
        }
        for p in pipelines
    ]


def _stage(db: Session, pipeline_id: int | None, stage_id: int | None) -> tuple[Pipeline, Stage]:
    if pipeline_id is None:
        pipeline = db.exec(
            select(Pipeline)
            .where(col(Pipeline.archived_at).is_(None))
            .order_by(col(Pipeline.is_default).desc(), col(Pipeline.id))
        ).first()
    else:
        pipeline = db.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.archived_at is not None:
        raise Invalid("pipeline_id", "Funil não encontrado.")
    if stage_id is None:
        stage = db.exec(
            select(Stage)
            .where(Stage.pipeline_id == pipeline.id, col(Stage.archived_at).is_(None))
            .order_by(col(Stage.position), col(Stage.id))
        ).first()
    else:
        stage = db.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline.id or stage.archived_at is not None:
        raise Invalid("stage_id", "Etapa não encontrada neste funil.")
    return pipeline, stage


def visible_opportunity(
    db: Session, actor: Actor, opportunity_id: int, *, for_update: bool = False
) -> Opportunity:
    """The opportunity if its customer is live and visible to the actor, else NotFound.

    `for_update` locks the card row (and re-reads it) so concurrent moves of one card serialise.
    """
    stmt = (
        select(Opportunity)
        .join(Customer, col(Customer.id) == Opportunity.customer_id)
        .where(Opportunity.id == opportunity_id, col(Customer.deleted_at).is_(None), customer_visible(actor))
    )
    if for_update:
        stmt = stmt.with_for_update(of=Opportunity).execution_options(populate_existing=True)
    row = db.exec(stmt).first()
    if row is None:
        raise NotFound("Oportunidade não encontrada.")
    return row


def get_opportunity(db: Session, actor: Actor, opportunity_id: int) -> Opportunity:
    actor.require(Perm.CUSTOMERS_READ)
    return visible_opportunity(db, actor, opportunity_id)


def list_for_customer(db: Session, actor: Actor, customer_id: int) -> list[Opportunity]:
    actor.require(Perm.CUSTOMERS_READ)
    get_visible_customer(db, actor, customer_id)
    return list(
        db.exec(
            select(Opportunity)
            .where(Opportunity.customer_id == customer_id)
            .order_by(col(Opportunity.id).desc())
        ).all()
    )


def create_opportunity(db: Session, actor: Actor, data: OpportunityIn) -> Opportunity:
    """Convert a visible customer into an opportunity at the end of the chosen stage."""
    actor.require(Perm.OPPORTUNITIES_WRITE)
    customer = get_visible_customer(db, actor, data.customer_id)
    title = data.title.strip()
    if not title:
        raise Invalid("title", "Informe o título da oportunidade.")
    pipeline, stage = _stage(db, data.pipeline_id, data.stage_id)
    owner_id = data.owner_id or customer.owner_id or actor.user_id
    if owner_id is not None and owner_id != actor.user_id and data.owner_id is not None:
        check_assignable(db, actor, owner_id)
    opp = Opportunity(
        customer_id=customer.id or 0,
        pipeline_id=pipeline.id or 0,
        stage_id=stage.id or 0,
        title=title,
        value=data.value,
        expected_close=data.expected_close,
        owner_id=owner_id,
        position=append_position(db, stage.id or 0),
        closed_at=utcnow() if stage.outcome else None,
    )
    db.add(opp)
    db.flush()
    # The entry into the first stage is history too: stage metrics count entries from these rows.
    db.add(
        StageHistory(
            opportunity_id=opp.id or 0,
            pipeline_id=opp.pipeline_id,
            from_stage_id=None,
            to_stage_id=opp.stage_id,
            actor_id=actor.user_id,
            moved_at=opp.stage_entered_at,
        )
    )
    record(db, actor, "opportunity.create", "opportunity", opp.id, None, opp)
    live.touch(db, opp.pipeline_id)
    timeline.add(
        db,
        opp.customer_id,
        kind="opportunity",
        summary=f"Oportunidade criada: {title} ({brl(data.value)})",
        payload={
            "opportunity_id": opp.id,
            "pipeline": pipeline.name,
            "stage": stage.name,
            "value": str(data.value),
        },
        actor=actor,
        ref=("opportunity", opp.id),
    )
    return opp


def update_opportunity(
    db: Session, actor: Actor, opportunity_id: int, data: OpportunityUpdate
) -> Opportunity:
    actor.require(Perm.OPPORTUNITIES_WRITE)
    opp = visible_opportunity(db, actor, opportunity_id)
    before = opp.model_dump()
    sent = data.model_dump(exclude_unset=True)
    if sent.get("title") is not None:
        if not sent["title"].strip():
            raise Invalid("title", "Informe o título da oportunidade.")
        opp.title = sent["title"].strip()
    if sent.get("value") is not None:
        opp.value = sent["value"]
    if "expected_close" in sent:
        opp.expected_close = sent["expected_close"]
    if sent.get("owner_id") is not None:
        check_assignable(db, actor, sent["owner_id"])
        opp.owner_id = sent["owner_id"]
    opp.updated_at = utcnow()
    db.add(opp)
    record(db, actor, "opportunity.update", "opportunity", opp.id, before, opp)
    live.touch(db, opp.pipeline_id)
    return opp


def delete_opportunity(db: Session, actor: Actor, opportunity_id: int) -> None:
    actor.require(Perm.OPPORTUNITIES_WRITE)
    opp = visible_opportunity(db, actor, opportunity_id)
    record(db, actor, "opportunity.delete", "opportunity", opp.id, opp, None)
    live.touch(db, opp.pipeline_id)
    # Gap ordering: the neighbours keep their positions, a hole costs nothing.
    db.delete(opp)
