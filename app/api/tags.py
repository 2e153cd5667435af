"""REST routes for tags: thin calls into `app.crm.tags`."""

from fastapi import APIRouter, Response

from app.api.deps import TenantActor, TenantDB
from app.crm import tags
from app.validation import Id
from models.tenant import Tag

router = APIRouter(prefix="/api", tags=["etiquetas"])

# The path parameter keeps its historical name `item_id` so the OpenAPI document does not change.


@router.get("/etiquetas", response_model=list[Tag])
def list_tags(actor: TenantActor, db: TenantDB) -> list[Tag]:
    return tags.list_tags(db, actor)


@router.post("/etiquetas", response_model=Tag, status_code=201)
def create_tag(body: tags.TagIn, actor: TenantActor, db: TenantDB) -> Tag:
    return tags.create_tag(db, actor, body)


@router.put("/etiquetas/{item_id:int}", response_model=Tag)
def update_tag(item_id: Id, body: tags.TagIn, actor: TenantActor, db: TenantDB) -> Tag:
    return tags.update_tag(db, actor, item_id, body)


@router.delete("/etiquetas/{item_id:int}", status_code=204, response_model=None, response_class=Response)
def delete_tag(item_id: Id, actor: TenantActor, db: TenantDB) -> None:
    tags.delete_tag(db, actor, item_id)
