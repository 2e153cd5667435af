"""REST routes for pipelines and opportunities (the sales Kanban): thin calls into
`app.crm.opportunities`."""

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.crm import opportunities
from app.crm.kanban import moves
from app.validation import Id, Int32
from models.tenant import Opportunity

router = APIRouter(prefix="/api", tags=["oportunidades"])


class MoveBody(BaseModel):
    stage_id: Id
    position: Int32 = 0


class StageOut(BaseModel):
    id: int
    name: str
    position: int
    outcome: str | None
    color: str = "gray"
    wip_limit: int | None = None
    required_fields: list[str] = []


class PipelineOut(BaseModel):
    id: int
    name: str
    is_default: bool
    stages: list[StageOut]


@router.get("/funis", response_model=list[PipelineOut])
def list_pipelines(actor: TenantActor, db: TenantDB) -> list[dict[str, Any]]:
    return opportunities.list_pipelines(db, actor)


@router.get("/clientes/{customer_id:int}/oportunidades", response_model=list[Opportunity])
def customer_opportunities(customer_id: Id, actor: TenantActor, db: TenantDB) -> list[Opportunity]:
    return opportunities.list_for_customer(db, actor, customer_id)


@router.post("/oportunidades", response_model=Opportunity, status_code=201)
def create_opportunity(body: opportunities.OpportunityIn, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.create_opportunity(db, actor, body)


@router.get("/oportunidades/{opportunity_id:int}", response_model=Opportunity)
def get_opportunity(opportunity_id: Id, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.get_opportunity(db, actor, opportunity_id)


@router.put("/oportunidades/{opportunity_id:int}", response_model=Opportunity)
def update_opportunity(
    opportunity_id: Id, body: opportunities.OpportunityUpdate, actor: TenantActor, db: TenantDB
) -> Opportunity:
    return opportunities.update_opportunity(db, actor, opportunity_id, body)


@router.post("/oportunidades/{opportunity_id:int}/mover", response_model=Opportunity)
def move_opportunity(opportunity_id: Id, body: MoveBody, actor: TenantActor, db: TenantDB) -> Opportunity:
    """The index-based move of the first API: the same service as the Kanban's move."""
    before_id = moves.before_id_at(db, body.stage_id, body.position, opportunity_id)
    return moves.move_card(db, actor, opportunity_id, stage_id=body.stage_id, before_id=before_id).card


@router.delete(
    "/oportunidades/{opportunity_id:int}", status_code=204, response_model=None, response_class=Response
)
def delete_opportunity(opportunity_id: Id, actor: TenantActor, db: TenantDB) -> None:
    opportunities.delete_opportunity(db, actor, opportunity_id)
