"""The rest of the workspace API: agenda and appointments, opportunities and pipelines, conversations,
tags, wallets, custom fields, segments, templates and the agent home."""

from datetime import date
from typing import Annotated, Any

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
from models.tenant import Appointment, CustomField, Message, Opportunity, Segment, Tag, Template, Wallet

router = APIRouter(prefix="/api")


class MoveBody(BaseModel):
    stage_id: int
    position: int = 0


class AssignBody(BaseModel):
    user_id: int


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
    day: date,
    span: Annotated[str, Query(pattern="^(day|week)$")] = "day",
    owner_id: int | None = None,
) -> list[appointments.AgendaItem]:
    return appointments.agenda(db, actor, day, span, owner_id)


@router.post("/agendamentos", response_model=Appointment, status_code=201, tags=["agenda"])
def create_appointment(body: appointments.AppointmentIn, actor: TenantActor, db: TenantDB) -> Appointment:
    return appointments.create_appointment(db, actor, body)


@router.put("/agendamentos/{appointment_id}", response_model=Appointment, tags=["agenda"])
def update_appointment(
    appointment_id: int, body: appointments.AppointmentUpdate, actor: TenantActor, db: TenantDB
) -> Appointment:
    return appointments.update_appointment(db, actor, appointment_id, body)


@router.delete("/agendamentos/{appointment_id}", status_code=204, tags=["agenda"])
def delete_appointment(appointment_id: int, actor: TenantActor, db: TenantDB) -> Response:
    appointments.delete_appointment(db, actor, appointment_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- opportunities
@router.get("/funis", tags=["oportunidades"])
def list_pipelines(actor: TenantActor, db: TenantDB) -> list[dict[str, Any]]:
    return opportunities.list_pipelines(db, actor)


@router.get("/clientes/{customer_id}/oportunidades", response_model=list[Opportunity], tags=["oportunidades"])
def customer_opportunities(customer_id: int, actor: TenantActor, db: TenantDB) -> list[Opportunity]:
    return opportunities.list_for_customer(db, actor, customer_id)


@router.post("/oportunidades", response_model=Opportunity, status_code=201, tags=["oportunidades"])
def create_opportunity(body: opportunities.OpportunityIn, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.create_opportunity(db, actor, body)


@router.get("/oportunidades/{opportunity_id}", response_model=Opportunity, tags=["oportunidades"])
def get_opportunity(opportunity_id: int, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.get_opportunity(db, actor, opportunity_id)


@router.put("/oportunidades/{opportunity_id}", response_model=Opportunity, tags=["oportunidades"])
def update_opportunity(
    opportunity_id: int, body: opportunities.OpportunityUpdate, actor: TenantActor, db: TenantDB
) -> Opportunity:
    return opportunities.update_opportunity(db, actor, opportunity_id, body)


@router.post("/oportunidades/{opportunity_id}/mover", response_model=Opportunity, tags=["oportunidades"])
def move_opportunity(opportunity_id: int, body: MoveBody, actor: TenantActor, db: TenantDB) -> Opportunity:
    return opportunities.move_opportunity(db, actor, opportunity_id, body.stage_id, body.position)


@router.delete("/oportunidades/{opportunity_id}", status_code=204, tags=["oportunidades"])
def delete_opportunity(opportunity_id: int, actor: TenantActor, db: TenantDB) -> Response:
    opportunities.delete_opportunity(db, actor, opportunity_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- conversations
@router.get("/conversas", response_model=list[conversations.ConversationRow], tags=["conversas"])
def list_conversations(
    actor: TenantActor,
    db: TenantDB,
    status: str | None = None,
    mine: bool = False,
    customer_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[conversations.ConversationRow]:
    return conversations.list_conversations(db, actor, status, mine, customer_id, limit)


@router.get(
    "/conversas/{conversation_id}", response_model=conversations.ConversationDetail, tags=["conversas"]
)
def get_conversation(
    conversation_id: int, actor: TenantActor, db: TenantDB
) -> conversations.ConversationDetail:
    return conversations.get_conversation(db, actor, conversation_id)


@router.post(
    "/conversas/{conversation_id}/responder", response_model=Message, status_code=201, tags=["conversas"]
)
def reply(conversation_id: int, body: conversations.ReplyIn, actor: TenantActor, db: TenantDB) -> Message:
    return conversations.reply(db, actor, conversation_id, body)


@router.post("/conversas/{conversation_id}/resolver", tags=["conversas"])
def resolve(conversation_id: int, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    conv = conversations.resolve(db, actor, conversation_id)
    return {"id": conv.id, "status": conv.status}


@router.post("/conversas/{conversation_id}/atribuir", tags=["conversas"])
def assign(conversation_id: int, body: AssignBody, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    conv = conversations.assign(db, actor, conversation_id, body.user_id)
    return {"id": conv.id, "assignee_id": conv.assignee_id}


# ---------------------------------------------------------------- tags and wallets
@router.get("/etiquetas", response_model=list[Tag], tags=["etiquetas"])
def list_tags(actor: TenantActor, db: TenantDB) -> list[Tag]:
    return tags.list_tags(db, actor)


@router.post("/etiquetas", response_model=Tag, status_code=201, tags=["etiquetas"])
def create_tag(body: tags.TagIn, actor: TenantActor, db: TenantDB) -> Tag:
    return tags.create_tag(db, actor, body)


@router.put("/etiquetas/{tag_id}", response_model=Tag, tags=["etiquetas"])
def update_tag(tag_id: int, body: tags.TagIn, actor: TenantActor, db: TenantDB) -> Tag:
    return tags.update_tag(db, actor, tag_id, body)


@router.delete("/etiquetas/{tag_id}", status_code=204, tags=["etiquetas"])
def delete_tag(tag_id: int, actor: TenantActor, db: TenantDB) -> Response:
    tags.delete_tag(db, actor, tag_id)
    return Response(status_code=204)


@router.get("/carteiras", response_model=list[Wallet], tags=["carteiras"])
def list_wallets(actor: TenantActor, db: TenantDB) -> list[Wallet]:
    return wallets.list_wallets(db, actor)


@router.post("/carteiras", response_model=Wallet, status_code=201, tags=["carteiras"])
def create_wallet(body: wallets.WalletIn, actor: TenantActor, db: TenantDB) -> Wallet:
    return wallets.create_wallet(db, actor, body)


@router.put("/carteiras/{wallet_id}", response_model=Wallet, tags=["carteiras"])
def update_wallet(wallet_id: int, body: wallets.WalletIn, actor: TenantActor, db: TenantDB) -> Wallet:
    return wallets.update_wallet(db, actor, wallet_id, body)


@router.delete("/carteiras/{wallet_id}", status_code=204, tags=["carteiras"])
def delete_wallet(wallet_id: int, actor: TenantActor, db: TenantDB) -> Response:
    wallets.delete_wallet(db, actor, wallet_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- custom fields
@router.get("/campos", response_model=list[CustomField], tags=["campos personalizados"])
def list_fields(actor: TenantActor, db: TenantDB) -> list[CustomField]:
    return custom_fields.list_fields(db, actor)


@router.post("/campos", response_model=CustomField, status_code=201, tags=["campos personalizados"])
def create_field(body: custom_fields.CustomFieldIn, actor: TenantActor, db: TenantDB) -> CustomField:
    return custom_fields.create_field(db, actor, body)


@router.put("/campos/{field_id}", response_model=CustomField, tags=["campos personalizados"])
def update_field(
    field_id: int, body: custom_fields.CustomFieldUpdate, actor: TenantActor, db: TenantDB
) -> CustomField:
    return custom_fields.update_field(db, actor, field_id, body)


@router.delete("/campos/{field_id}", status_code=204, tags=["campos personalizados"])
def delete_field(field_id: int, actor: TenantActor, db: TenantDB) -> Response:
    custom_fields.delete_field(db, actor, field_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- segments
@router.get("/segmentos", response_model=list[Segment], tags=["segmentos"])
def list_segments(actor: TenantActor, db: TenantDB) -> list[Segment]:
    return segments.list_segments(db, actor)


@router.post("/segmentos", response_model=Segment, status_code=201, tags=["segmentos"])
def create_segment(body: segments.SegmentIn, actor: TenantActor, db: TenantDB) -> Segment:
    return segments.create_segment(db, actor, body)


@router.put("/segmentos/{segment_id}", response_model=Segment, tags=["segmentos"])
def update_segment(segment_id: int, body: segments.SegmentIn, actor: TenantActor, db: TenantDB) -> Segment:
    return segments.update_segment(db, actor, segment_id, body)


@router.delete("/segmentos/{segment_id}", status_code=204, tags=["segmentos"])
def delete_segment(segment_id: int, actor: TenantActor, db: TenantDB) -> Response:
    segments.delete_segment(db, actor, segment_id)
    return Response(status_code=204)


@router.get("/segmentos/{segment_id}/clientes", response_model=SegmentResult, tags=["segmentos"])
def segment_customers(
    segment_id: int,
    actor: TenantActor,
    db: TenantDB,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SegmentResult:
    page, count = segments.evaluate(db, actor, segment_id, cursor, limit)
    return SegmentResult(items=page.rows, next_cursor=page.next_cursor, **count)


# ---------------------------------------------------------------- templates
@router.get("/modelos", response_model=list[Template], tags=["modelos"])
def list_templates(actor: TenantActor, db: TenantDB, channel: str | None = None) -> list[Template]:
    return templates.list_templates(db, actor, channel)


@router.post("/modelos", response_model=Template, status_code=201, tags=["modelos"])
def create_template(body: templates.TemplateIn, actor: TenantActor, db: TenantDB) -> Template:
    return templates.create_template(db, actor, body)


@router.get("/modelos/{template_id}", response_model=Template, tags=["modelos"])
def get_template(template_id: int, actor: TenantActor, db: TenantDB) -> Template:
    return templates.get_template(db, actor, template_id)


@router.put("/modelos/{template_id}", response_model=Template, tags=["modelos"])
def update_template(
    template_id: int, body: templates.TemplateIn, actor: TenantActor, db: TenantDB
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
    return templates.preview_text(db, actor, body.subject, body.body, body.customer_id)


@router.post(
    "/modelos/{template_id}/previa",
    response_model=templates.TemplatePreview,
    tags=["modelos"],
    summary="Pré-visualizar o modelo para um cliente (ou com valores de exemplo)",
)
def preview_template(
    template_id: int, body: templates.PreviewIn, actor: TenantActor, db: TenantDB
) -> templates.TemplatePreview:
    return templates.preview_template(db, actor, template_id, body.customer_id)


@router.delete("/modelos/{template_id}", status_code=204, tags=["modelos"])
def delete_template(template_id: int, actor: TenantActor, db: TenantDB) -> Response:
    templates.delete_template(db, actor, template_id)
    return Response(status_code=204)
