"""REST for Meta-approved WhatsApp templates: sync them from a Cloud API channel's WABA and map their
positional parameters to our variables (thin calls into `app.messaging.cloud_templates`)."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.contract import ErrorOut
from app.api.deps import TenantActor, TenantDB
from app.messaging import cloud_templates
from app.validation import Id, Str120
from models.tenant import Template

router = APIRouter(prefix="/api", tags=["modelos"])
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "A Meta não respondeu ou recusou o token do canal"}
}


class SyncOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: int
    unmapped: list[str]


class MappingIn(BaseModel):
    variables: list[Str120] = Field(max_length=100)


@router.post("/canais/{channel_id:int}/modelos/sincronizar", response_model=SyncOut, responses=_UNAVAILABLE)
def sync_templates(channel_id: Id, actor: TenantActor, db: TenantDB) -> SyncOut:
    report = cloud_templates.sync(db, actor, channel_id)
    return SyncOut(**report.__dict__)


@router.put("/modelos/{template_id:int}/mapeamento", response_model=Template)
def map_template_variables(template_id: Id, body: MappingIn, actor: TenantActor, db: TenantDB) -> Template:
    return cloud_templates.map_variables(db, actor, template_id, body.variables)
