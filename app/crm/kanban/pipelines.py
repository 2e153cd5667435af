"""Pipeline and stage configuration (admins and managers): create, rename, reorder, archive.

Archive rules: a stage or pipeline that still holds cards is not archived (409 naming how many and
where they can go); an archived stage or pipeline leaves the board but keeps its history. The
default pipeline cannot be archived, and a pipeline keeps at least one open stage.
"""

from typing import Annotated

from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.kanban import rules
from app.errors import Conflict, Invalid, NotFound
from app.validation import Str200
from models.base import utcnow
from models.tenant import Opportunity, Pipeline, Stage

PIPELINE_NOT_FOUND = "Funil não encontrado."
STAGE_NOT_FOUND = "Etapa não encontrada neste funil."


FieldName = Annotated[str, Field(max_length=30)]


class StageIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    color: str = Field(default="gray", min_length=1, max_length=20)
    wip_limit: int | None = Field(default=None, ge=1, le=100_000)
    outcome: str | None = Field(default=None, max_length=10)
    required_fields: list[FieldName] = Field(default_factory=list, max_length=10)


class StageUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    color: str | None = Field(default=None, min_length=1, max_length=20)
    wip_limit: int | None = Field(default=None, ge=1, le=100_000)
    outcome: str | None = Field(default=None, max_length=10)
    required_fields: list[FieldName] | None = Field(default=None, max_length=10)
    position: int | None = Field(default=None, ge=0, le=1000)  # 0-based place among the open stages


class PipelineIn(BaseModel):
    name: Str200 = Field(max_length=120)
    stages: list[StageIn] = Field(min_length=1, max_length=30)


class PipelineUpdate(BaseModel):
    name: Str200 | None = Field(default=None, min_length=1, max_length=120)
    # Strict: pydantic's lax mode reads 1, "yes" or "on" as true (schemathesis ST201).
    is_default: StrictBool | None = None


def get_pipeline(db: Session, pipeline_id: int) -> Pipeline:
    pipeline = db.get(Pipeline, pipeline_id)
    if pipeline is None or pipeline.archived_at is not None:
        raise NotFound(PIPELINE_NOT_FOUND)
    return pipeline


def open_stages(db: Session, pipeline_id: int) -> list[Stage]:
    return list(
        db.exec(
            select(Stage)
            .where(Stage.pipeline_id == pipeline_id, col(Stage.archived_at).is_(None))
            .order_by(col(Stage.position), col(Stage.id))
        ).all()
    )


def _stage_of(db: Session, pipeline_id: int, stage_id: int) -> Stage:
    stage = db.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline_id or stage.archived_at is not None:
        raise NotFound(STAGE_NOT_FOUND)
    return stage


def _check(stage: StageIn) -> None:
    rules.validate_settings(stage.name, stage.color, stage.wip_limit, stage.outcome, stage.required_fields)


def create_pipeline(db: Session, actor: Actor, data: PipelineIn) -> Pipeline:
    """A new pipeline with its ordered stages."""
    actor.require(Perm.PIPELINES_MANAGE)
    name = data.name.strip()
    if not name:
        raise Invalid("name", "Informe o nome do funil.")
    for stage in data.stages:
        _check(stage)
    pipeline = Pipeline(name=name, is_default=False)
    db.add(pipeline)
    db.flush()
    assert pipeline.id is not None
    for position, stage in enumerate(data.stages):
        db.add(
            Stage(
                pipeline_id=pipeline.id,
                name=stage.name.strip(),
                color=stage.color,
                wip_limit=stage.wip_limit,
                outcome=stage.outcome,
                required_fields=list(dict.fromkeys(stage.required_fields)),
                position=position,
            )
        )
    db.flush()
    record(
        db,
        actor,
        "pipeline.create",
        "pipeline",
        pipeline.id,
        None,
        {"name": name, "stages": len(data.stages)},
    )
    return pipeline


def update_pipeline(db: Session, actor: Actor, pipeline_id: int, data: PipelineUpdate) -> Pipeline:
    """Rename a pipeline or make it the default one (the previous default stops being it)."""
    actor.require(Perm.PIPELINES_MANAGE)
    pipeline = get_pipeline(db, pipeline_id)
    before = pipeline.model_dump()
    if data.name is not None:
        if not data.name.strip():
            raise Invalid("name", "Informe o nome do funil.")
        pipeline.name = data.name.strip()
    if data.is_default:
        for other in db.exec(select(Pipeline).where(col(Pipeline.is_default), Pipeline.id != pipeline.id)):
            other.is_default = False
            db.add(other)
        pipeline.is_default = True
    db.add(pipeline)
    record(db, actor, "pipeline.update", "pipeline", pipeline.id, before, pipeline)
    return pipeline


def _card_count(db: Session, *where: object) -> int:
    return int(db.exec(select(func.count()).select_from(Opportunity).where(*where)).one())  # type: ignore[arg-type]


def archive_pipeline(db: Session, actor: Actor, pipeline_id: int) -> None:
    """Archive a pipeline without cards; the default pipeline stays."""
    actor.require(Perm.PIPELINES_MANAGE)
    pipeline = get_pipeline(db, pipeline_id)
    if pipeline.is_default:
        raise Conflict("O funil padrão não pode ser arquivado; defina outro como padrão antes.")
    cards = _card_count(db, Opportunity.pipeline_id == pipeline.id)
    if cards:
        raise Conflict(
            f"Este funil ainda tem {cards} oportunidade(s); mova-as para outro funil antes de arquivá-lo.",
            cards=cards,
        )
    before = pipeline.model_dump()
    pipeline.archived_at = utcnow()
    db.add(pipeline)
    record(db, actor, "pipeline.archive", "pipeline", pipeline.id, before, pipeline)


def add_stage(db: Session, actor: Actor, pipeline_id: int, data: StageIn) -> Stage:
    """Append a stage to a pipeline."""
    actor.require(Perm.PIPELINES_MANAGE)
    pipeline = get_pipeline(db, pipeline_id)
    _check(data)
    stages = open_stages(db, pipeline_id)
    stage = Stage(
        pipeline_id=pipeline.id or 0,
        name=data.name.strip(),
        color=data.color,
        wip_limit=data.wip_limit,
        outcome=data.outcome,
        required_fields=list(dict.fromkeys(data.required_fields)),
        position=(stages[-1].position + 1) if stages else 0,
    )
    db.add(stage)
    db.flush()
    record(db, actor, "stage.create", "stage", stage.id, None, stage)
    return stage


def update_stage(db: Session, actor: Actor, pipeline_id: int, stage_id: int, data: StageUpdate) -> Stage:
    """Rename, recolour, change rules or reorder a stage (stages are few: reordering renumbers them)."""
    actor.require(Perm.PIPELINES_MANAGE)
    get_pipeline(db, pipeline_id)
    stage = _stage_of(db, pipeline_id, stage_id)
    before = stage.model_dump()
    sent = data.model_dump(exclude_unset=True)
    merged = StageIn(
        name=sent.get("name") or stage.name,
        color=sent.get("color") or stage.color,
        wip_limit=sent.get("wip_limit", stage.wip_limit),
        outcome=sent.get("outcome", stage.outcome),
        required_fields=list(
            data.required_fields if data.required_fields is not None else stage.required_fields
        ),
    )
    _check(merged)
    stage.name, stage.color = merged.name.strip(), merged.color
    stage.wip_limit, stage.outcome = merged.wip_limit, merged.outcome
    stage.required_fields = list(dict.fromkeys(merged.required_fields))
    if data.position is not None:
        others = [s for s in open_stages(db, pipeline_id) if s.id != stage.id]
        others.insert(min(data.position, len(others)), stage)
        for position, row in enumerate(others):
            row.position = position
            db.add(row)
    db.add(stage)
    record(db, actor, "stage.update", "stage", stage.id, before, stage)
    return stage


def archive_stage(db: Session, actor: Actor, pipeline_id: int, stage_id: int) -> None:
    """Archive an empty stage; a stage with cards answers 409 with how many must be moved first."""
    actor.require(Perm.PIPELINES_MANAGE)
    get_pipeline(db, pipeline_id)
    stage = _stage_of(db, pipeline_id, stage_id)
    cards = _card_count(db, Opportunity.stage_id == stage.id)
    if cards:
        raise Conflict(
            f"A etapa «{stage.name}» ainda tem {cards} cartão(ões); "
            "mova-os para outra etapa antes de arquivá-la.",
            cards=cards,
        )
    if len(open_stages(db, pipeline_id)) <= 1:
        raise Conflict("Um funil precisa de pelo menos uma etapa.")
    before = stage.model_dump()
    stage.archived_at = utcnow()
    db.add(stage)
    record(db, actor, "stage.archive", "stage", stage.id, before, stage)
