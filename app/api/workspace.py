"""The rest of the workspace API: agenda and appointments, opportunities and pipelines, conversations,
tags, wallets, custom fields, segments, templates and the agent home."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.crm import (
    appointments,
    conversations,
    custom_fields,
    home,
    opportunities,
    segments,
    tags,
    templates,
    wallets,
)
from app.crm.customers import CustomerRow
from app.validation import Day, Id, Int32, Str20, Str1000
from models.tenant import Appointment, CustomField, Message, Opportunity, Segment, Tag, Template, Wallet

router = APIRouter(prefix="/api")


class MoveBody(BaseModel):
    stage_id: Id
    position: Int32 = 0


class AssignBody(BaseModel):
    user_id: Id


class StageOut(BaseModel):
    id: int
    name: str
    position: int
    outcome: str | None


class PipelineOut(BaseModel):
    id: int
    name: str
    is_default: bool
    stages: list[StageOut]


class ResolvedOut(BaseModel):
    id: int
    status: str


class AssignedOut(BaseModel):
    id: int
    assignee_id: int | None


class SegmentResult(BaseModel):
    items: list[CustomerRow]
    next_cursor: str | None
    count: int
    capped: bool


# ---------------------------------------------------------------- home and agenda
@router.get("/inicio", response_model=home.Home, tags=["início"], summary="Início do atendente")
def get_home(actor: TenantActor, db: TenantDB) -> home.Home:
    return home.home(db, actor)


@router.get("/agenda", response_model=list[appointments.AgendaItem], tags=["agenda"])
def get_agenda(
    actor: TenantActor,
    db: TenantDB,
    day: Day,
    span: Literal["day", "week"] = "day",
    owner_id: Id | None = None,
) -> list[appointments.AgendaItem]:
    return appointments.agenda(db, actor, day, span=span, owner_id=owner_id)


@router.post("/agendamentos", response_model=Appointment, status_code=201, tags=["agenda"])
def create_appointment(body: appointments.AppointmentIn, actor: TenantActor, db: TenantDB) -> Appointment:
    return appointments.create_appointment(db, actor, body)


@router.put("/agendamentos/{appointment_id:int}", response_model=Appointment, tags=["agenda"])
def update_appointment(
    appointment_id: Id, body: appointments.AppointmentUpdate, actor: TenantActor, db: TenantDB
) -> Appointment:
    return appointments.update_appointment(db, actor, appointment_id, body)


@router.delete("/agendamentos/{appointment_id:int}", status_code=204, tags=["agenda"])
def delete_appointment(appointment_id: Id, actor: TenantActor, db: TenantDB) -> Response:
    appointments.delete_appointment(db, actor, appointment_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- opportunities
@router.get("/funis", response_model=list[PipelineOut], tags=["oportunidades"])
def list_pipelines(actor: TenantActor, db: TenantDB) -> list[dict[str, Any]]:
    return opportunities.list_pipelines(db, actor)


@router.get(
    "/clientes/{customer_id:int}/oportunidades", response_model=list[Opportunity], tags=["oportunidades"]
)
def customer_opportunities(customer_id: Id, actor: TenantActor, db: TenantDB) -> list[Opportunity]:
    return opportunities.list_for_customer(db, actor, customer_id)


@router.post("/oportunidades", response_model=Opportunity, status_code=201, tags=["oportunidades"])
def create_opportunity(body: opportunities.OpportunityIn, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.create_opportunity(db, actor, body)


@router.get("/oportunidades/{opportunity_id:int}", response_model=Opportunity, tags=["oportunidades"])
def get_opportunity(opportunity_id: Id, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.get_opportunity(db, actor, opportunity_id)


@router.put("/oportunidades/{opportunity_id:int}", response_model=Opportunity, tags=["oportunidades"])
def update_opportunity(
    opportunity_id: Id, body: opportunities.OpportunityUpdate, actor: TenantActor, db: TenantDB
) -> Opportunity:
    return opportunities.update_opportunity(db, actor, opportunity_id, body)


@router.post("/oportunidades/{opportunity_id:int}/mover", response_model=Opportunity, tags=["oportunidades"])
def move_opportunity(opportunity_id: Id, body: MoveBody, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.move_opportunity(
        db, actor, opportunity_id, stage_id=body.stage_id, position=body.position
    )


@router.delete("/oportunidades/{opportunity_id:int}", status_code=204, tags=["oportunidades"])
def delete_opportunity(opportunity_id: Id, actor: TenantActor, db: TenantDB) -> Response:
    opportunities.delete_opportunity(db, actor, opportunity_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- conversations
@router.get("/conversas", response_model=list[conversations.ConversationRow], tags=["conversas"])
def list_conversations(
    actor: TenantActor,
    db: TenantDB,
    status: Str20 | None = None,
    mine: bool = False,
    customer_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[conversations.ConversationRow]:
    return conversations.list_conversations(
        db, actor, status=status, mine=mine, customer_id=customer_id, limit=limit
    )


@router.get(
    "/conversas/{conversation_id:int}", response_model=conversations.ConversationDetail, tags=["conversas"]
)
def get_conversation(
    conversation_id: Id, actor: TenantActor, db: TenantDB
) -> conversations.ConversationDetail:
    return conversations.get_conversation(db, actor, conversation_id)


@router.post(
    "/conversas/{conversation_id:int}/responder", response_model=Message, status_code=201, tags=["conversas"]
)
def reply(conversation_id: Id, body: conversations.ReplyIn, actor: TenantActor, db: TenantDB) -> Message:
    return conversations.reply(db, actor, conversation_id, body)


@router.post("/conversas/{conversation_id:int}/resolver", response_model=ResolvedOut, tags=["conversas"])
def resolve(conversation_id: Id, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    conv = conversations.resolve(db, actor, conversation_id)
    return {"id": conv.id, "status": conv.status}


@router.post("/conversas/{conversation_id:int}/atribuir", response_model=AssignedOut, tags=["conversas"])
def assign(conversation_id: Id, body: AssignBody, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    conv = conversations.assign(db, actor, conversation_id, body.user_id)
    return {"id": conv.id, "assignee_id": conv.assignee_id}


# ---------------------------------------------------------------- admin catalogues
# Tags, wallets, custom fields and segments have the same four routes (list, create, update, delete),
# each a thin call into its service: one registration instead of four copies.


def _crud_routes(
    path: str,
    label: str,
    out: Any,
    create_in: Any,
    update_in: Any,
    service: Any,
    noun: str,
) -> None:
    """GET/POST `path` and PUT/DELETE `path/{id}` for `service.list_<noun>s`, `create_<noun>`, ..."""
    list_fn = getattr(service, f"list_{noun}s")
    create_fn, update_fn, delete_fn = (
        getattr(service, f"{verb}_{noun}") for verb in ("create", "update", "delete")
    )

    def list_items(actor: TenantActor, db: TenantDB) -> Any:
        return list_fn(db, actor)

    def create_item(body: create_in, actor: TenantActor, db: TenantDB) -> Any:  # type: ignore[valid-type]
        return create_fn(db, actor, body)

    def update_item(item_id: Id, body: update_in, actor: TenantActor, db: TenantDB) -> Any:  # type: ignore[valid-type]
        return update_fn(db, actor, item_id, body)

    def delete_item(item_id: Id, actor: TenantActor, db: TenantDB) -> Response:
        delete_fn(db, actor, item_id)
        return Response(status_code=204)

    tags_ = [label]
    router.add_api_route(
        path, list_items, methods=["GET"], response_model=list[out], tags=tags_, name=f"list_{noun}s"
    )
    router.add_api_route(
        path,
        create_item,
        methods=["POST"],
        response_model=out,
        status_code=201,
        tags=tags_,
        name=f"create_{noun}",
    )
    router.add_api_route(
        path + "/{item_id:int}",
        update_item,
        methods=["PUT"],
        response_model=out,
        tags=tags_,
        name=f"update_{noun}",
    )
    router.add_api_route(
        path + "/{item_id:int}",
        delete_item,
        methods=["DELETE"],
        status_code=204,
        tags=tags_,
        name=f"delete_{noun}",
    )


_crud_routes("/etiquetas", "etiquetas", Tag, tags.TagIn, tags.TagIn, tags, "tag")
_crud_routes("/carteiras", "carteiras", Wallet, wallets.WalletIn, wallets.WalletIn, wallets, "wallet")
_crud_routes(
    "/campos",
    "campos personalizados",
    CustomField,
    custom_fields.CustomFieldIn,
    custom_fields.CustomFieldUpdate,
    custom_fields,
    "field",
)
_crud_routes("/segmentos", "segmentos", Segment, segments.SegmentIn, segments.SegmentIn, segments, "segment")


@router.get("/segmentos/{segment_id:int}/clientes", response_model=SegmentResult, tags=["segmentos"])
def segment_customers(
    segment_id: Id,
    actor: TenantActor,
    db: TenantDB,
    cursor: Str1000 | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SegmentResult:
    page, count = segments.evaluate(db, actor, segment_id, cursor=cursor, limit=limit)
    return SegmentResult(items=page.rows, next_cursor=page.next_cursor, **count)


# ---------------------------------------------------------------- templates
@router.get("/modelos", response_model=list[Template], tags=["modelos"])
def list_templates(actor: TenantActor, db: TenantDB, channel: Str20 | None = None) -> list[Template]:
    return templates.list_templates(db, actor, channel)


@router.post("/modelos", response_model=Template, status_code=201, tags=["modelos"])
def create_template(body: templates.TemplateIn, actor: TenantActor, db: TenantDB) -> Template:
    return templates.create_template(db, actor, body)


@router.get("/modelos/{template_id:int}", response_model=Template, tags=["modelos"])
def get_template(template_id: Id, actor: TenantActor, db: TenantDB) -> Template:
    return templates.get_template(db, actor, template_id)


@router.put("/modelos/{template_id:int}", response_model=Template, tags=["modelos"])
def update_template(
    template_id: Id, body: templates.TemplateIn, actor: TenantActor, db: TenantDB
) -> Template:
    return templates.update_template(db, actor, template_id, body)


@router.post(
    "/modelos/previa",
    response_model=templates.TemplatePreview,
    tags=["modelos"],
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
    tags=["modelos"],
    summary="Pré-visualizar o modelo para um cliente (ou com valores de exemplo)",
)
def preview_template(
    template_id: Id, body: templates.PreviewIn, actor: TenantActor, db: TenantDB
) -> templates.TemplatePreview:
    return templates.preview_template(db, actor, template_id, customer_id=body.customer_id)


@router.delete("/modelos/{template_id:int}", status_code=204, tags=["modelos"])
def delete_template(template_id: Id, actor: TenantActor, db: TenantDB) -> Response:
    templates.delete_template(db, actor, template_id)
    return Response(status_code=204)
