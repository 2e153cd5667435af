"""Moving a card: reorder inside a column, change stage, change pipeline. One service for the board,
REST (`/api/kanban/cards/{id}/move` and `/api/oportunidades/{id}/mover`) and tasks.

Concurrent moves of one card serialise on its row lock: the last one to commit wins, and each
writes its own history row whose `from` is the stage the previous one left the card in. Moves
into a stage with a WIP limit also lock the stage row, so two moves cannot both take its last slot.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.kanban import live, ordering, rules
from app.crm.opportunities import visible_opportunity
from app.crm.visibility import check_assignable
from app.errors import Conflict, NotFound
from app.validation import Day, Id
from models.base import utcnow
from models.tenant import Opportunity, Pipeline, Stage, StageHistory

STAGE_NOT_FOUND = "Etapa não encontrada."
CARD_NOT_FOUND = "Cartão de referência não encontrado nesta etapa."


class MoveFields(BaseModel):
    """Fields the required-fields modal collects; applied to the card before the stage rules run."""

    value: Decimal | None = Field(
        default=None, ge=0, le=Decimal("999999999999.99"), max_digits=14, decimal_places=2
    )
    expected_close: Day | None = None
    owner_id: Id | None = None
    loss_reason: str | None = Field(default=None, max_length=300)


@dataclass
class MoveResult:
    card: Opportunity
    history: StageHistory | None  # None for a reorder inside the same column


def _stages(db: Session, target_id: int, current_id: int) -> tuple[Stage, Stage | None]:
    """The target stage (exists, open, in an open pipeline) and the card's current one, in one read."""
    rows = db.exec(
        select(Stage, Pipeline.archived_at)
        .join(Pipeline, col(Pipeline.id) == Stage.pipeline_id)
        .where(col(Stage.id).in_({target_id, current_id}))
    ).all()
    by_id = {stage.id: (stage, archived) for stage, archived in rows}
    if target_id not in by_id:
        raise NotFound(STAGE_NOT_FOUND)
    stage, pipeline_archived = by_id[target_id]
    if stage.archived_at is not None:
        raise Conflict(f"A etapa «{stage.name}» está arquivada.", field="stage_id")
    if pipeline_archived is not None:
        raise Conflict("Este funil está arquivado.", field="stage_id")
    current = by_id.get(current_id)
    return stage, current[0] if current else None


def _apply_fields(db: Session, actor: Actor, card: Opportunity, fields: MoveFields | None) -> None:
    if fields is None:
        return
    sent = fields.model_dump(exclude_unset=True, exclude_none=True)
    if "owner_id" in sent:
        check_assignable(db, actor, sent["owner_id"])
    if "loss_reason" in sent:
        sent["loss_reason"] = sent["loss_reason"].strip() or None
    for key, value in sent.items():
        setattr(card, key, value)


def _seconds_since(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return max(0, int((utcnow() - moment).total_seconds()))


def move_card(
    db: Session,
    actor: Actor,
    opportunity_id: int,
    *,
    stage_id: int,
    before_id: int | None = None,
    fields: MoveFields | None = None,
) -> MoveResult:
    """Place a card before `before_id` (None: at the end) of `stage_id`, enforcing the stage's rules.

    Rules: the actor may write opportunities and see the card's customer (else NotFound); the
    target stage exists and is not archived; entering a new stage respects its WIP limit (409) and
    its required fields (422 naming them; a lost stage needs a loss reason). Writes one card row
    (plus a rare local rebalance), and for a stage change a history row, a timeline entry and the audit row.
    """
    actor.require(Perm.OPPORTUNITIES_WRITE)
    card = visible_opportunity(db, actor, opportunity_id, for_update=True)
    stage, old = _stages(db, stage_id, card.stage_id)
    assert stage.id is not None and card.id is not None
    before_row: Opportunity | None = None
    if before_id is not None and before_id != card.id:
        before_row = db.exec(
            select(Opportunity).where(Opportunity.id == before_id, Opportunity.stage_id == stage.id)
        ).first()
        if before_row is None:
            raise NotFound(CARD_NOT_FOUND)
    snapshot = card.model_dump()
    changes_stage = card.stage_id != stage.id
    _apply_fields(db, actor, card, fields)
    if changes_stage:
        if stage.wip_limit is not None:
            db.exec(select(Stage.id).where(Stage.id == stage.id).with_for_update()).one()
            rules.check_wip(db, stage)
        rules.check_required(card, stage)
    if before_id == card.id:
        position = card.position
    elif before_row is not None:
        position = ordering.position_before(db, stage.id, before_row, card.id)
    else:
        position = ordering.append_position(db, stage.id)
    old_stage_id, entered = card.stage_id, card.stage_entered_at
    now = utcnow()
    card.stage_id, card.pipeline_id, card.position = stage.id, stage.pipeline_id, position
    card.updated_at = now
    history: StageHistory | None = None
    if changes_stage:
        card.stage_entered_at = now
        card.closed_at = now if stage.outcome else None
        history = StageHistory(
            opportunity_id=card.id,
            pipeline_id=stage.pipeline_id,
            from_stage_id=old_stage_id,
            to_stage_id=stage.id,
            actor_id=actor.user_id,
            moved_at=now,
            seconds_in_previous=_seconds_since(entered),
        )
        db.add(history)
        old_name = old.name if old else "?"
        summary = f"{card.title}: {old_name} → {stage.name}"
        if stage.outcome == "lost" and card.loss_reason:
            summary += f" (motivo: {card.loss_reason})"
        timeline.add(
            db,
            card.customer_id,
            kind="stage_change",
            summary=summary,
            payload={
                "opportunity_id": card.id,
                "from_stage": old_stage_id,
                "to_stage": stage.id,
                "from_stage_name": old_name,
                "to_stage_name": stage.name,
                "outcome": stage.outcome,
            },
            actor=actor,
            ref=("opportunity", card.id),
            at=now,
        )
    db.add(card)
    record(db, actor, "opportunity.move", "opportunity", card.id, snapshot, card)
    live.touch(db, snapshot["pipeline_id"], stage.pipeline_id)
    db.flush()
    return MoveResult(card, history)


OUTCOME_STAGE_MISSING = {
    "won": "Este funil não tem uma etapa de ganho.",
    "lost": "Este funil não tem uma etapa de perda.",
}


def outcome_stage(db: Session, actor: Actor, opportunity_id: int, outcome: str) -> int:
    """The open `won`/`lost` stage of a visible card's pipeline ("Marcar como ganho/perdido").

    The move itself is `move_card` to that stage, so its rules (a lost stage needs a loss reason) apply.
    """
    actor.require(Perm.OPPORTUNITIES_WRITE)
    if outcome not in OUTCOME_STAGE_MISSING:
        raise NotFound(STAGE_NOT_FOUND)
    card = visible_opportunity(db, actor, opportunity_id)
    stage_id = db.exec(
        select(Stage.id)
        .where(
            Stage.pipeline_id == card.pipeline_id,
            Stage.outcome == outcome,
            col(Stage.archived_at).is_(None),
        )
        .order_by(col(Stage.position), col(Stage.id))
        .limit(1)
    ).first()
    if stage_id is None:
        raise NotFound(OUTCOME_STAGE_MISSING[outcome])
    return stage_id


def before_id_at(db: Session, stage_id: int, index: int, moving_id: int) -> int | None:
    """The id of the card at 0-based `index` of a column (without the moving card); None past the end.

    Lets the older index-based API (`/api/oportunidades/{id}/mover`, {"position": n}) use move_card.
    """
    return db.exec(
        select(Opportunity.id)
        .where(Opportunity.stage_id == stage_id, Opportunity.id != moving_id)
        .order_by(col(Opportunity.position), col(Opportunity.id))
        .offset(max(0, index))
        .limit(1)
    ).first()


def history(db: Session, actor: Actor, opportunity_id: int) -> list[StageHistory]:
    """A visible card's stage history, newest first."""
    actor.require(Perm.CUSTOMERS_READ)
    visible_opportunity(db, actor, opportunity_id)
    return list(
        db.exec(
            select(StageHistory)
            .where(StageHistory.opportunity_id == opportunity_id)
            .order_by(col(StageHistory.id).desc())
        ).all()
    )
