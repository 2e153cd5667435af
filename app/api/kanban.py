"""REST routes of the sales Kanban: board, column pages, moves, stage history, metrics and the
pipeline/stage configuration; thin calls into `app.crm.kanban`."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.api.opportunities import PipelineOut
from app.crm.kanban import board, metrics, moves, pipelines
from app.errors import Invalid
from app.validation import Day, Id
from models.tenant import Pipeline, Stage, StageHistory

router = APIRouter(prefix="/api", tags=["kanban"])


class MoveBody(BaseModel):
    stage_id: Id
    before_id: Id | None = None  # null or omitted: end of the column
    # What the required-fields modal collected; applied before the stage's rules are checked.
    fields: moves.MoveFields | None = None


class MoveOut(BaseModel):
    card: board.Card
    history: StageHistory | None


def _filters(
    owner_id: Id | None = None,
    team: bool = False,
    tag: Id | None = None,
    q: Annotated[str | None, Query(max_length=120)] = None,
    stage_id: Id | None = None,
    created_from: Day | None = None,
    created_to: Day | None = None,
    close_from: Day | None = None,
    close_to: Day | None = None,
    value_min: Annotated[Decimal | None, Query(ge=0, le=Decimal("999999999999.99"))] = None,
    value_max: Annotated[Decimal | None, Query(ge=0, le=Decimal("999999999999.99"))] = None,
) -> board.BoardFilter:
    return board.BoardFilter(
        owner_id=owner_id,
        team=team,
        tag_id=tag,
        q=q,
        stage_id=stage_id,
        created_from=created_from,
        created_to=created_to,
        close_from=close_from,
        close_to=close_to,
        value_min=value_min,
        value_max=value_max,
    )


Filters = Annotated[board.BoardFilter, Depends(_filters)]


@router.post("/kanban/cards/{card_id:int}/move", response_model=MoveOut)
def move_card(card_id: Id, body: MoveBody, actor: TenantActor, db: TenantDB) -> MoveOut:
    result = moves.move_card(
        db, actor, card_id, stage_id=body.stage_id, before_id=body.before_id, fields=body.fields
    )
    return MoveOut(card=board.card_of(db, result.card), history=result.history)


@router.get("/kanban/{pipeline_id:int}", response_model=board.Board)
def get_board(
    pipeline_id: Id,
    filters: Filters,
    actor: TenantActor,
    db: TenantDB,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> board.Board:
    """The board; with `cursor` (and the column's `stage_id`), that column holds its next page."""
    return board.board(db, actor, pipeline_id, filters, cursor)


@router.get("/kanban/{pipeline_id:int}/metricas", response_model=metrics.Metrics)
def get_metrics(
    pipeline_id: Id,
    filters: Filters,
    actor: TenantActor,
    db: TenantDB,
    start: Day | None = None,
    end: Day | None = None,
) -> metrics.Metrics:
    end = end or datetime.now().date()
    start = start or end - timedelta(days=30)
    if start > end:
        raise Invalid("start", "A data inicial deve ser anterior à final.")
    return metrics.stage_metrics(db, actor, pipeline_id, start, end, filters)


@router.get("/oportunidades/{opportunity_id:int}/historico", response_model=list[StageHistory])
def stage_history(opportunity_id: Id, actor: TenantActor, db: TenantDB) -> list[StageHistory]:
    return moves.history(db, actor, opportunity_id)


@router.post("/funis", response_model=PipelineOut, status_code=201)
def create_pipeline(body: pipelines.PipelineIn, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    pipeline = pipelines.create_pipeline(db, actor, body)
    return _pipeline_out(db, pipeline)


@router.put("/funis/{pipeline_id:int}", response_model=PipelineOut)
def update_pipeline(
    pipeline_id: Id, body: pipelines.PipelineUpdate, actor: TenantActor, db: TenantDB
) -> dict[str, Any]:
    return _pipeline_out(db, pipelines.update_pipeline(db, actor, pipeline_id, body))


@router.delete("/funis/{pipeline_id:int}", status_code=204, response_model=None, response_class=Response)
def archive_pipeline(pipeline_id: Id, actor: TenantActor, db: TenantDB) -> None:
    pipelines.archive_pipeline(db, actor, pipeline_id)


@router.post("/funis/{pipeline_id:int}/etapas", response_model=Stage, status_code=201)
def add_stage(pipeline_id: Id, body: pipelines.StageIn, actor: TenantActor, db: TenantDB) -> Stage:
    return pipelines.add_stage(db, actor, pipeline_id, body)


@router.put("/funis/{pipeline_id:int}/etapas/{stage_id:int}", response_model=Stage)
def update_stage(
    pipeline_id: Id, stage_id: Id, body: pipelines.StageUpdate, actor: TenantActor, db: TenantDB
) -> Stage:
    return pipelines.update_stage(db, actor, pipeline_id, stage_id, body)


@router.delete(
    "/funis/{pipeline_id:int}/etapas/{stage_id:int}",
    status_code=204,
    response_model=None,
    response_class=Response,
)
def archive_stage(pipeline_id: Id, stage_id: Id, actor: TenantActor, db: TenantDB) -> None:
    pipelines.archive_stage(db, actor, pipeline_id, stage_id)


def _pipeline_out(db: TenantDB, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "id": pipeline.id,
        "name": pipeline.name,
        "is_default": pipeline.is_default,
        "stages": [s.model_dump() for s in pipelines.open_stages(db, pipeline.id or 0)],
    }
