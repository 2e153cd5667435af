"""REST routes for segments (saved customer filters) and their evaluation: thin calls into
`app.crm.segments`."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.crm import segments
from app.crm.customers import CustomerRow
from app.validation import Id, Str1000
from models.tenant import Segment


class SegmentResult(BaseModel):
    items: list[CustomerRow]
    next_cursor: str | None
    count: int
    capped: bool


router = APIRouter(prefix="/api", tags=["segmentos"])

# The path parameter keeps its historical name `item_id` so the OpenAPI document does not change.


@router.get("/segmentos", response_model=list[Segment])
def list_segments(actor: TenantActor, db: TenantDB) -> list[Segment]:
    return segments.list_segments(db, actor)


@router.post("/segmentos", response_model=Segment, status_code=201)
def create_segment(body: segments.SegmentIn, actor: TenantActor, db: TenantDB) -> Segment:
    return segments.create_segment(db, actor, body)


@router.put("/segmentos/{item_id:int}", response_model=Segment)
def update_segment(item_id: Id, body: segments.SegmentIn, actor: TenantActor, db: TenantDB) -> Segment:
    return segments.update_segment(db, actor, item_id, body)


@router.delete("/segmentos/{item_id:int}", status_code=204, response_model=None, response_class=Response)
def delete_segment(item_id: Id, actor: TenantActor, db: TenantDB) -> None:
    segments.delete_segment(db, actor, item_id)


@router.get("/segmentos/{segment_id:int}/clientes", response_model=SegmentResult)
def segment_customers(
    segment_id: Id,
    actor: TenantActor,
    db: TenantDB,
    cursor: Str1000 | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SegmentResult:
    page, count = segments.evaluate(db, actor, segment_id, cursor=cursor, limit=limit)
    return SegmentResult(items=page.rows, next_cursor=page.next_cursor, **count)
