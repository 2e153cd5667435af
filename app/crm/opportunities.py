"""Opportunities: create/convert from a customer, move between stages keeping Kanban positions."""

from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.tables import table_of
from app.crm.visibility import check_assignable, customer_visible, get_visible_customer
from app.errors import Invalid, NotFound
from app.formatting import money_br
from app.validation import Day, Id, Str200
from models.base import utcnow
from models.tenant import Customer, Opportunity, Pipeline, Stage


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
    pipelines = db.exec(select(Pipeline).order_by(col(Pipeline.is_default).desc(), col(Pipeline.id))).all()
    stages = db.exec(select(Stage).order_by(col(Stage.pipeline_id), col(Stage.position))).all()
    return [
        {
            "id": p.id,
            "name": p.name,
            "is_default": p.is_default,
            "stages": [
                {"id": s.id, "name": s.name, "position": s.position, "outcome": s.outcome}
                for s in stages
                if s.pipeline_id == p.id
            ],
        }
        for p in pipelines
    ]


def _stage(db: Session, pipeline_id: int | None, stage_id: int | None) -> tuple[Pipeline, Stage]:
    if pipeline_id is None:
        pipeline = db.exec(
            select(Pipeline).order_by(col(Pipeline.is_default).desc(), col(Pipeline.id))
        ).first()
    else:
        pipeline = db.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise Invalid("pipeline_id", "Funil não encontrado.")
    if stage_id is None:
        stage = db.exec(
            select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(col(Stage.position))
        ).first()
    else:
        stage = db.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline.id:
        raise Invalid("stage_id", "Etapa não encontrada neste funil.")
    return pipeline, stage


def _visible(db: Session, actor: Actor, opportunity_id: int) -> Opportunity:
    row = db.exec(
        select(Opportunity)
        .join(Customer, col(Customer.id) == Opportunity.customer_id)
        .where(Opportunity.id == opportunity_id, col(Customer.deleted_at).is_(None), customer_visible(actor))
    ).first()
    if row is None:
        raise NotFound("Oportunidade não encontrada.")
    return row


def get_opportunity(db: Session, actor: Actor, opportunity_id: int) -> Opportunity:
    actor.require(Perm.CUSTOMERS_READ)
    return _visible(db, actor, opportunity_id)


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
    position = db.exec(
        select(func.coalesce(func.max(Opportunity.position), -1)).where(Opportunity.stage_id == stage.id)
    ).one()
    opp = Opportunity(
        customer_id=customer.id or 0,
        pipeline_id=pipeline.id or 0,
        stage_id=stage.id or 0,
        title=title,
        value=data.value,
        expected_close=data.expected_close,
        owner_id=owner_id,
        position=int(position) + 1,
        closed_at=utcnow() if stage.outcome else None,
    )
    db.add(opp)
    db.flush()
    record(db, actor, "opportunity.create", "opportunity", opp.id, None, opp)
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
    opp = _visible(db, actor, opportunity_id)
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
    return opp


def move_opportunity(
    db: Session, actor: Actor, opportunity_id: int, *, stage_id: int, position: int
) -> Opportunity:
    """Move a card to `position` in `stage_id` (same pipeline), shifting the others; logs a stage_change."""
    actor.require(Perm.OPPORTUNITIES_WRITE)
    opp = _visible(db, actor, opportunity_id)
    stage = db.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != opp.pipeline_id:
        raise Invalid("stage_id", "Etapa não encontrada neste funil.")
    before = opp.model_dump()
    old_stage = db.get(Stage, opp.stage_id)
    table = table_of(Opportunity)
    # Close the gap in the old column, open one in the new column, then place the card.
    db.exec(
        update(table)
        .where(table.c.stage_id == opp.stage_id, table.c.position > opp.position, table.c.id != opp.id)
        .values(position=table.c.position - 1)
    )
    position = max(0, position)
    db.exec(
        update(table)
        .where(table.c.stage_id == stage_id, table.c.position >= position, table.c.id != opp.id)
        .values(position=table.c.position + 1)
    )
    count = db.exec(
        select(func.count())
        .select_from(Opportunity)
        .where(Opportunity.stage_id == stage_id, Opportunity.id != opp.id)
    ).one()
    opp.stage_id, opp.position = stage_id, min(position, int(count))
    opp.closed_at = utcnow() if stage.outcome else None
    opp.updated_at = utcnow()
    db.add(opp)
    record(db, actor, "opportunity.move", "opportunity", opp.id, before, opp)
    if old_stage is None or old_stage.id != stage.id:
        timeline.add(
            db,
            opp.customer_id,
            kind="stage_change",
            summary=f"{opp.title}: {old_stage.name if old_stage else '?'} → {stage.name}",
            payload={
                "opportunity_id": opp.id,
                "from_stage": old_stage.id if old_stage else None,
                "to_stage": stage.id,
                "outcome": stage.outcome,
            },
            actor=actor,
            ref=("opportunity", opp.id),
        )
    return opp


def delete_opportunity(db: Session, actor: Actor, opportunity_id: int) -> None:
    actor.require(Perm.OPPORTUNITIES_WRITE)
    opp = _visible(db, actor, opportunity_id)
    record(db, actor, "opportunity.delete", "opportunity", opp.id, opp, None)
    table = table_of(Opportunity)
    db.exec(
        update(table)
        .where(table.c.stage_id == opp.stage_id, table.c.position > opp.position)
        .values(position=table.c.position - 1)
    )
    db.delete(opp)
