"""Agents' sends: a WhatsApp or an e-mail to one customer, and replies in a conversation, via the outbox.

Everything that would make a send pointless or wrong is refused before anything is queued, with the
reason in pt-BR: no usable channel (409), no address (422), the address opted out (409), the WhatsApp
Cloud API's 24-hour window closed for free text (409), a template variable without a value (422: a
customer never receives a literal "{{plano_atual}}" nor an empty gap). The rendered text and the values
used are frozen on the message row, so a retry sends exactly what was checked here. Consent is checked
again by the worker at send time (app.messaging.outbox).
"""

import html as html_lib
import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import case
from sqlmodel import Session, col, select

from app import live
from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import templates as template_service
from app.crm import timeline
from app.crm.visibility import can_see_owner, get_visible_customer
from app.errors import Conflict, Invalid, NotFound
from app.messaging import attachments, consent, inbound, outbox
from app.messaging import channels as channel_service
from app.messaging.protocol import Medium
from app.validation import Id, NoNul, Str60, Str300, Str500, Str1000, Str4096
from models.base import utcnow
from models.tenant import Channel, Contact, Conversation, Customer, Message, Template

WINDOW = timedelta(hours=24)
MEDIUM_LABELS = {"whatsapp": "WhatsApp", "email": "e-mail"}
_TAGS = re.compile(r"<[^>]+>")
_BLANKS = re.compile(r"\n{3,}")
Html = Annotated[str, StringConstraints(max_length=200_000), NoNul]


class SendWhatsAppIn(BaseModel):
    canal_id: Id | None = None
    texto: Str4096 | None = None  # with `anexo`, its caption
    template_id: Id | None = None
    variaveis: dict[Str60, Str1000] = Field(default_factory=dict, max_length=100)
    anexo: Str500 | None = None  # key of a file sent to POST /api/anexos


class SendEmailIn(BaseModel):
    canal_id: Id | None = None
    template_id: Id | None = None
    assunto: Str300 | None = None
    html: Html | None = None
    variaveis: dict[Str60, Str1000] = Field(default_factory=dict, max_length=100)
    anexo: Str500 | None = None  # key of a file sent to POST /api/anexos


class SendOut(BaseModel):
    message_id: int
    conversation_id: int
    status: str


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    customer_id: int
    channel_id: int | None
    direction: str
    kind: str
    status: str
    body: str
    subject: str | None
    to_address: str | None
    provider_message_id: str | None
    error: str | None
    error_code: str | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None


# ---------------------------------------------------------------- rules


def resolve_channel(
    db: Session, actor: Actor, medium: str, channel_id: int | None, conversation: Conversation | None = None
) -> Channel:
    """The channel to send with: the one asked for, else the conversation's, else the actor's own
    session, else the organisation's default for the medium. It must be active."""
    label = MEDIUM_LABELS.get(medium, medium)
    if channel_id is not None:
        try:
            channel = channel_service.get_channel(db, actor, channel_id)
        except NotFound as exc:
            raise Invalid("canal_id", "Canal não encontrado.") from exc
        if channel.medium != medium:
            raise Invalid("canal_id", f"Este canal não envia {label}.")
        if channel.status != "active":
            raise Conflict(f"O canal “{channel.name}” não está ativo no momento.", field="canal_id")
        return channel
    candidates: list[Channel | None] = []
    if conversation is not None and conversation.channel_id:
        candidates.append(db.get(Channel, conversation.channel_id))
    candidates.append(
        db.exec(
            select(Channel).where(
                Channel.medium == medium,
                Channel.owner_user_id == actor.user_id,
                Channel.status == "active",
                col(Channel.deleted_at).is_(None),
            )
        ).first()
        if actor.user_id is not None
        else None
    )
    candidates.append(channel_service.default_channel(db, medium))
    for candidate in candidates:
        if (
            candidate is not None
            and candidate.medium == medium
            and candidate.status == "active"
            and candidate.deleted_at is None
            and candidate.owner_user_id in (None, actor.user_id)
        ):
            return candidate
    raise Conflict(
        f"Nenhum canal de {label} ativo. Um administrador pode configurar um em Canais.", field="canal_id"
    )


def address_for(db: Session, customer_id: int, medium: str, contact_id: int | None = None) -> Contact:
    """The contact to write to: the conversation's own, else the customer's primary of the medium."""
    kinds = consent.CONTACT_KINDS[medium]
    if contact_id is not None:
        contact = db.get(Contact, contact_id)
        if contact is not None and contact.kind in kinds:
            return contact
    found = db.exec(
        select(Contact)
        .where(Contact.customer_id == customer_id, col(Contact.kind).in_(kinds))
        .order_by(
            col(Contact.is_primary).desc(),
            case((col(Contact.kind) == "whatsapp", 0), else_=1),
            col(Contact.id),
        )
    ).first()
    if found is None:
        what = "telefone/WhatsApp" if medium == Medium.WHATSAPP else "e-mail"
        raise Invalid("cliente", f"O cliente não tem {what} cadastrado.")
    return found


def check_consent(db: Session, medium: str, address: str) -> None:
    if consent.is_opted_out(db, medium, address):
        label = MEDIUM_LABELS.get(medium, medium)
        raise Conflict(
            f"Este contato pediu para não receber mensagens por {label} (descadastrado).", field="cliente"
        )


def check_window(channel: Channel, conversation: Conversation | None, *, free_text: bool) -> None:
    """Meta's 24-hour customer-service window: free text only within 24 h of the customer's last message."""
    if channel.kind != "whatsapp_cloud" or not free_text:
        return
    last = conversation.last_inbound_at if conversation is not None else None
    if last is None or utcnow() - last > WINDOW:
        raise Conflict(
            "A janela de 24 horas do WhatsApp está fechada: o cliente não escreve há mais de 24 horas. "
            "Envie um modelo aprovado.",
            field="texto",
        )


def render_strict(text: str, values: dict[str, Any], field: str) -> str:
    """Fill {{variables}}; any variable without a value is an error naming it (nothing is sent)."""
    names = template_service.extract_variables(text)
    missing = [n for n in names if values.get(n) in (None, "")]
    if missing:
        listed = ", ".join("{{" + n + "}}" for n in missing)
        raise Invalid(field, f"Sem valor para {listed}: preencha em “variaveis” ou no cadastro do cliente.")
    return template_service.render(text, values)


def _values(customer: Customer, extra: dict[str, str]) -> dict[str, Any]:
    return {**template_service.variables_for(customer), **{k: v for k, v in extra.items() if v != ""}}


def _template(db: Session, actor: Actor, template_id: int, medium: str) -> Template:
    try:
        tpl = template_service.get_template(db, actor, template_id)
    except NotFound as exc:
        raise Invalid("template_id", "Modelo não encontrado.") from exc
    if tpl.channel != medium:
        raise Invalid("template_id", f"Este modelo não é de {MEDIUM_LABELS.get(medium, medium)}.")
    return tpl


def _conversation(db: Session, customer: Customer, channel: Channel, contact: Contact) -> Conversation:
    conv = db.exec(
        select(Conversation)
        .where(Conversation.customer_id == customer.id, Conversation.channel == channel.medium)
        .order_by(col(Conversation.id).desc())
    ).first()
    if conv is None:
        conv = Conversation(
            customer_id=customer.id or 0,
            contact_id=contact.id,
            channel=channel.medium,
            channel_id=channel.id,
            status="open",
        )
        db.add(conv)
        db.flush()
    return conv


def _attachment(actor: Actor, key: str | None) -> dict[str, Any] | None:
    """The stored file a send carries (this organisation's, uploaded through /api/anexos), checked now so
    a bad key is a 404 before anything is queued."""
    if key is None:
        return None
    return attachments.reference(actor.schema or "", key)


def _plain_text(html: str) -> str:
    text = _TAGS.sub("", re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", html))
    return _BLANKS.sub("\n\n", html_lib.unescape(text)).strip()


def html_from_text(text: str) -> str:
    """Plain text typed by an agent as e-mail HTML (escaped, line breaks kept)."""
    return "<p>" + html_lib.escape(text).replace("\n", "<br>") + "</p>"


def _queue(
    db: Session,
    actor: Actor,
    conv: Conversation,
    channel: Channel,
    contact: Contact,
    *,
    body: str,
    kind: str = "text",
    subject: str | None = None,
    html: str | None = None,
    template_id: int | None = None,
    variables: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    attachment: dict[str, Any] | None = None,
    action: str,
) -> Message:
    msg = outbox.queue_message(
        db,
        conversation_id=conv.id or 0,
        channel=channel,
        to_address=contact.value,
        body=body,
        kind=kind,
        subject=subject,
        html=html,
        template_id=template_id,
        variables=variables,
        author_id=actor.user_id,
        idempotency_key=idempotency_key,
        attachments=[attachment] if attachment else None,
    )
    now = utcnow()
    conv.last_message_at, conv.updated_at = now, now
    conv.channel_id = conv.channel_id or channel.id
    conv.contact_id = conv.contact_id or contact.id
    if conv.status == "resolved":
        conv.status = "open"
    db.add(conv)
    db.flush()
    record(
        db,
        actor,
        action,
        "message",
        msg.id,
        None,
        {
            "conversation_id": conv.id,
            "channel_id": channel.id,
            "kind": kind,
            "template_id": template_id,
            "length": len(body),
        },
    )
    preview = subject or body
    timeline.add(
        db,
        conv.customer_id,
        kind="message_out",
        summary=preview if len(preview) <= 160 else preview[:157] + "...",
        payload={
            "conversation_id": conv.id,
            "message_id": msg.id,
            "channel": conv.channel,
            "channel_id": channel.id,
            "status": "queued",
            "attachments": [attachment] if attachment else [],
        },
        actor=actor,
        ref=("conversation", conv.id),
    )
    live.touch(db, inbound.NAMESPACE_CUSTOMER, conv.customer_id)
    live.touch(db, inbound.NAMESPACE_INBOX, "all")
    return msg


# ---------------------------------------------------------------- services


def send_whatsapp(
    db: Session, actor: Actor, customer_id: int, data: SendWhatsAppIn, *, idempotency_key: str | None = None
) -> Message:
    """Queue a WhatsApp text or template to a visible customer; refused (nothing queued) when it cannot go."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    customer = get_visible_customer(db, actor, customer_id)
    has_text = bool((data.texto or "").strip()) or data.anexo is not None
    if has_text == (data.template_id is not None):
        raise Invalid("texto", "Escreva a mensagem ou escolha um modelo (apenas um dos dois).")
    attachment = _attachment(actor, data.anexo)
    medium = Medium.WHATSAPP.value
    existing = db.exec(
        select(Conversation)
        .where(Conversation.customer_id == customer.id, Conversation.channel == medium)
        .order_by(col(Conversation.id).desc())
    ).first()
    channel = resolve_channel(db, actor, medium, data.canal_id, existing)
    contact = address_for(db, customer.id or 0, medium, existing.contact_id if existing else None)
    check_consent(db, medium, contact.value)
    values = _values(customer, data.variaveis)
    variables: dict[str, Any] = {}
    kind = "text"
    if data.template_id is not None:
        tpl = _template(db, actor, data.template_id, medium)
        body = render_strict(tpl.body, values, "variaveis")
        used = template_service.extract_variables(tpl.body)
        variables = {n: str(values[n]) for n in used}
        if channel.kind == "whatsapp_cloud":
            if not tpl.provider_name:
                raise Invalid("template_id", "Este modelo não está aprovado na Meta (sem nome no provedor).")
            kind = "template"
            variables["_template"] = {
                "name": tpl.provider_name,
                "language": tpl.language,
                "params": [str(values[n]) for n in used],
            }
    else:
        body = render_strict((data.texto or "").strip(), values, "texto")
        check_window(channel, existing, free_text=True)
        if attachment is not None:
            kind = "image" if attachment["kind"] == "image" else "document"
    conv = existing or _conversation(db, customer, channel, contact)
    return _queue(
        db,
        actor,
        conv,
        channel,
        contact,
        body=body,
        kind=kind,
        template_id=data.template_id,
        variables=variables,
        idempotency_key=idempotency_key,
        attachment=attachment,
        action="message.send_whatsapp",
    )


def send_email(
    db: Session, actor: Actor, customer_id: int, data: SendEmailIn, *, idempotency_key: str | None = None
) -> Message:
    """Queue an e-mail (a template, or a subject and HTML) to a visible customer."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    customer = get_visible_customer(db, actor, customer_id)
    medium = Medium.EMAIL.value
    direct = bool((data.assunto or "").strip() or (data.html or "").strip())
    if direct == (data.template_id is not None):
        raise Invalid("template_id", "Escolha um modelo ou informe assunto e HTML (apenas um dos dois).")
    values = _values(customer, data.variaveis)
    if data.template_id is not None:
        tpl = _template(db, actor, data.template_id, medium)
        subject = render_strict(tpl.subject or "", values, "variaveis")
        source = tpl.body
        used = template_service.extract_variables(tpl.subject, tpl.body)
        body_html = render_strict(source if "<" in source else html_from_text(source), values, "variaveis")
    else:
        errors = {}
        if not (data.assunto or "").strip():
            errors["assunto"] = "Informe o assunto do e-mail."
        if not (data.html or "").strip():
            errors["html"] = "Escreva o conteúdo do e-mail."
        if errors:
            raise Invalid(errors)
        subject = render_strict((data.assunto or "").strip(), values, "assunto")
        body_html = render_strict(data.html or "", values, "html")
        used = template_service.extract_variables(data.assunto, data.html)
    existing = db.exec(
        select(Conversation)
        .where(Conversation.customer_id == customer.id, Conversation.channel == medium)
        .order_by(col(Conversation.id).desc())
    ).first()
    channel = resolve_channel(db, actor, medium, data.canal_id, existing)
    contact = address_for(db, customer.id or 0, medium, existing.contact_id if existing else None)
    check_consent(db, medium, contact.value)
    conv = existing or _conversation(db, customer, channel, contact)
    if not conv.subject:
        conv.subject = subject[:300]
    return _queue(
        db,
        actor,
        conv,
        channel,
        contact,
        body=_plain_text(body_html),
        kind="email",
        subject=subject[:300],
        html=body_html,
        template_id=data.template_id,
        variables={n: str(values[n]) for n in used},
        idempotency_key=idempotency_key,
        attachment=_attachment(actor, data.anexo),
        action="message.send_email",
    )


def reply(
    db: Session, actor: Actor, conv: Conversation, body: str, *, channel_id: int | None = None
) -> Message:
    """Queue an agent's reply in a conversation the caller has already found visible."""
    medium = conv.channel if conv.channel in consent.CONTACT_KINDS else Medium.WHATSAPP.value
    channel = resolve_channel(db, actor, medium, channel_id, conv)
    contact = address_for(db, conv.customer_id, medium, conv.contact_id)
    if consent.is_opted_out(db, medium, contact.value):
        raise Invalid("body", "Este contato pediu para não receber mensagens (descadastrado).")
    check_window(channel, conv, free_text=True)
    if medium == Medium.EMAIL:
        subject = conv.subject or "Atendimento"
        subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        return _queue(
            db,
            actor,
            conv,
            channel,
            contact,
            body=body,
            kind="email",
            subject=subject[:300],
            html=html_from_text(body),
            action="message.reply",
        )
    return _queue(db, actor, conv, channel, contact, body=body, action="message.reply")


def get_message(db: Session, actor: Actor, message_id: int) -> MessageOut:
    """A message of a conversation the actor may see (its customer, or assigned to the actor)."""
    actor.require(Perm.CUSTOMERS_READ)
    found = db.exec(
        select(Message, Conversation, Customer)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .join(Customer, col(Customer.id) == Conversation.customer_id)
        .where(Message.id == message_id, col(Customer.deleted_at).is_(None))
    ).first()
    if found is None:
        raise NotFound("Mensagem não encontrada.")
    msg, conv, customer = found
    if not (can_see_owner(actor, customer.owner_id) or conv.assignee_id == actor.user_id):
        raise NotFound("Mensagem não encontrada.")
    return MessageOut(
        id=msg.id or 0,
        conversation_id=conv.id or 0,
        customer_id=customer.id or 0,
        channel_id=msg.channel_id,
        direction=msg.direction,
        kind=msg.kind,
        status=msg.status,
        body=msg.body,
        subject=msg.subject,
        to_address=msg.to_address,
        provider_message_id=msg.provider_message_id,
        error=msg.error,
        error_code=msg.error_code,
        attempts=msg.attempts,
        created_at=msg.created_at,
        sent_at=msg.sent_at,
        delivered_at=msg.delivered_at,
        read_at=msg.read_at,
        failed_at=msg.failed_at,
    )
