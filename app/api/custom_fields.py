"""REST routes for custom field definitions: thin calls into `app.crm.custom_fields`."""

from fastapi import APIRouter, Response

from app.api.deps import TenantActor, TenantDB
from app.crm import custom_fields
from app.validation import Id
from models.tenant import CustomField

router = APIRouter(prefix="/api", tags=["campos personalizados"])

# The path parameter keeps its historical name `item_id` so the OpenAPI document does not change.


@router.get("/campos", response_model=list[CustomField])
def list_fields(actor: TenantActor, db: TenantDB) -> list[CustomField]:
    return custom_fields.list_fields(db, actor)


@router.post("/campos", response_model=CustomField, status_code=201)
def create_field(body: custom_fields.CustomFieldIn, actor: TenantActor, db: TenantDB) -> CustomField:
    return custom_fields.create_field(db, actor, body)


@router.put("/campos/{item_id:int}", response_model=CustomField)
def update_field(
    item_id: Id, body: custom_fields.CustomFieldUpdate, actor: TenantActor, db: TenantDB
) -> CustomField:
    return custom_fields.update_field(db, actor, item_id, body)


@router.delete("/campos/{item_id:int}", status_code=204, response_model=None, response_class=Response)
def delete_field(item_id: Id, actor: TenantActor, db: TenantDB) -> None:
    custom_fields.delete_field(db, actor, item_id)
