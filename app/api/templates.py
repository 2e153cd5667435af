"""REST routes for message templates and their previews: thin calls into `app.crm.templates`."""

from fastapi import APIRouter, Response

from app.api.deps import TenantActor, TenantDB
from app.crm import templates
from app.validation import Id, Str20
from models.tenant import Template

router = APIRouter(prefix="/api", tags=["modelos"])


@router.get("/modelos", response_model=list[Template])
def list_templates(actor: TenantActor, db: TenantDB, channel: Str20 | None = None) -> list[Template]:
    return templates.list_templates(db, actor, channel)


@router.post("/modelos", response_model=Template, status_code=201)
def create_template(body: templates.TemplateIn, actor: TenantActor, db: TenantDB) -> Template:
    return templates.create_template(db, actor, body)


@router.get("/modelos/{template_id:int}", response_model=Template)
def get_template(template_id: Id, actor: TenantActor, db: TenantDB) -> Template:
    return templates.get_template(db, actor, template_id)


@router.put("/modelos/{template_id:int}", response_model=Template)
def update_template(
    template_id: Id, body: templates.TemplateIn, actor: TenantActor, db: TenantDB
) -> Template:
    return templates.update_template(db, actor, template_id, body)


@router.post(
    "/modelos/previa",
    response_model=templates.TemplatePreview,
    summary="Pré-visualizar um texto ainda não salvo",
)
def preview_text(
    body: templates.TextPreviewIn, actor: TenantActor, db: TenantDB
) -> templates.TemplatePreview:
    return templates.preview_text(
        db, actor, subject=body.subject, body=body.body, customer_id=body.customer_id
    )


@router.post(
    "/modelos/{template_id:int}/previa",
    response_model=templates.TemplatePreview,
    summary="Pré-visualizar o modelo para um cliente (ou com valores de exemplo)",
)
def preview_template(
    template_id: Id, body: templates.PreviewIn, actor: TenantActor, db: TenantDB
) -> templates.TemplatePreview:
    return templates.preview_template(db, actor, template_id, customer_id=body.customer_id)


@router.delete("/modelos/{template_id:int}", status_code=204, response_model=None, response_class=Response)
def delete_template(template_id: Id, actor: TenantActor, db: TenantDB) -> None:
    templates.delete_template(db, actor, template_id)
