"""REST routes for agents' sends and messages: thin calls into `app.messaging.sending`.

`POST /api/templates` is the English alias of `POST /api/modelos` (same service, same body)."""

from typing import Annotated, Any

from fastapi import APIRouter, Header

import tasks.messaging  # noqa: F401  (registers the deliver task the outbox kicks after commit)
from app.api.deps import TenantActor, TenantDB
from app.crm import templates
from app.messaging import sending
from app.validation import Id, Str120
from models.tenant import Template

router = APIRouter(prefix="/api", tags=["mensagens"])

IdempotencyKey = Annotated[
    Str120 | None,
    Header(alias="Idempotency-Key", description="A repeated key returns the message queued the first time."),
]


def _out(msg: Any) -> dict[str, Any]:
    return {"message_id": msg.id, "conversation_id": msg.conversation_id, "status": msg.status}


@router.post(
    "/clientes/{customer_id:int}/acoes/send-whatsapp",
    response_model=sending.SendOut,
    status_code=202,
    summary="Enviar WhatsApp (texto ou modelo) ao cliente",
)
def send_whatsapp(
    customer_id: Id,
    body: sending.SendWhatsAppIn,
    actor: TenantActor,
    db: TenantDB,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _out(sending.send_whatsapp(db, actor, customer_id, body, idempotency_key=idempotency_key))


@router.post(
    "/clientes/{customer_id:int}/acoes/send-email",
    response_model=sending.SendOut,
    status_code=202,
    summary="Enviar e-mail (modelo, ou assunto e HTML) ao cliente",
)
def send_email(
    customer_id: Id,
    body: sending.SendEmailIn,
    actor: TenantActor,
    db: TenantDB,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _out(sending.send_email(db, actor, customer_id, body, idempotency_key=idempotency_key))


@router.get("/mensagens/{message_id:int}", response_model=sending.MessageOut)
def get_message(message_id: Id, actor: TenantActor, db: TenantDB) -> sending.MessageOut:
    return sending.get_message(db, actor, message_id)


@router.post(
    "/templates", response_model=Template, status_code=201, summary="Criar modelo (= POST /api/modelos)"
)
def create_template(body: templates.TemplateIn, actor: TenantActor, db: TenantDB) -> Template:
    return templates.create_template(db, actor, body)
