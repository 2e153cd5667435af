"""Stage metrics of a pipeline for a period and the board's filters: conversion between consecutive
stages, average time spent in each stage, and won/lost value closed in the period.

Conversion from stage A to the next stage B = cards that entered B in the period / cards that
entered A in the period (history rows; creating a card writes its entry into the first stage).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.kanban.board import BoardFilter, filter_conditions
from app.crm.kanban.pipelines import get_pipeline, open_stages
from app.formatting import money_br
from models.tenant import Customer, Opportunity, StageHistory


@dataclass
class StageMetric:
    stage_id: int
    name: str
    entered: int
    avg_seconds: float | None  # average time spent in the stage by cards that left it in the period
    conversion_to_next: float | None  # 0..1; None for the last stage or when nobody entered


@dataclass
class Metrics:
    stages: list[StageMetric]
    won_value: Decimal
    lost_value: Decimal
    won_label: str
    lost_label: str


def stage_metrics(
    db: Session,
    actor: Actor,
    pipeline_id: int,
    start: date,
    end: date,
    filters: BoardFilter | None = None,
) -> Metrics:
    """Metrics of the visible, filtered cards of a pipeline between `start` and `end` (inclusive, UTC)."""
    actor.require(Perm.CUSTOMERS_READ)
    get_pipeline(db, pipeline_id)
    f = filters or BoardFilter()
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    where = filter_conditions(actor, pipeline_id, f.model_copy(update={"stage_id": None}))
    in_period = (col(StageHistory.moved_at) >= since, col(StageHistory.moved_at) < until)
    history_where = (*where, StageHistory.pipeline_id == pipeline_id, *in_period)
    entered = dict(
        db.exec(
            select(StageHistory.to_stage_id, func.count())
            .join(Opportunity, col(Opportunity.id) == StageHistory.opportunity_id)
            .join(Customer, col(Customer.id) == Opportunity.customer_id)
            .where(*history_where)
            .group_by(col(StageHistory.to_stage_id))
        ).all()
    )
    durations = dict(
        db.exec(
            select(StageHistory.from_stage_id, func.avg(StageHistory.seconds_in_previous))
            .join(Opportunity, col(Opportunity.id) == StageHistory.opportunity_id)
            .join(Customer, col(Customer.id) == Opportunity.customer_id)
            .where(*history_where, col(StageHistory.from_stage_id).is_not(None))
            .group_by(col(StageHistory.from_stage_id))
        ).all()
    )
    stages = open_stages(db, pipeline_id)
    counts = [int(entered.get(s.id or 0, 0)) for s in stages]
    result = []
    for index, stage in enumerate(stages):
        nxt = counts[index + 1] if index + 1 < len(stages) and stage.outcome is None else None
        avg = durations.get(stage.id or 0)
        result.append(
            StageMetric(
                stage_id=stage.id or 0,
                name=stage.name,
                entered=counts[index],
                avg_seconds=float(avg) if avg is not None else None,
                conversion_to_next=(nxt / counts[index]) if nxt is not None and counts[index] else None,
            )
        )
    won = _closed_value(db, where, [s.id for s in stages if s.outcome == "won" and s.id], since, until)
    lost = _closed_value(db, where, [s.id for s in stages if s.outcome == "lost" and s.id], since, until)
    return Metrics(result, won, lost, money_br(won), money_br(lost))


def _closed_value(
    db: Session, where: list[Any], stage_ids: list[int], since: datetime, until: datetime
) -> Decimal:
    """Value of the filtered cards closed into `stage_ids` in the period."""
    if not stage_ids:
        return Decimal(0)
    total = db.exec(
        select(func.sum(Opportunity.value))
        .join(Customer, col(Customer.id) == Opportunity.customer_id)
        .where(
            *where,
            col(Opportunity.stage_id).in_(stage_ids),
            col(Opportunity.closed_at) >= since,
            col(Opportunity.closed_at) < until,
        )
    ).one()
    return Decimal(total or 0)
