"""Conversations in the side panel: list, read with messages, reply, resolve, assign.

A reply goes through the outbox (app.messaging.sending.reply): it is queued with its timeline entry in
the caller's transaction and delivered by the messaging worker, which re-checks the opt-out at send time.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.visibility import check_assignable, customer_visible
from app.errors import Invalid, NotFound
from app.validation import Id, Str4096
from models.base import utcnow
from models.platform import User
from models.tenant import Contact, Conversation, Customer, Message

STATUSES = {"open": "Aberta", "pending": "Pendente", "resolved": "Resolvida"}


class ConversationRow(BaseModel):
    id: int
    customer_id: int
    customer_name: str
    channel: str
    status: str
    assignee_id: int | None
    subject: str | None
    last_message_at: datetime | None
    channel_id: int | None = None
    unread_count: int = 0
    queue: str | None = None


class ConversationDetail(BaseModel):
    conversation: ConversationRow
    contact: dict[str, Any] | None
    messages: list[dict[str, Any]]


class ReplyIn(BaseModel):
    body: Str4096
    canal_id: Id | None = None  # another of the actor's channels of the same medium


def _visible_clause(actor: Actor) -> ColumnElement[bool]:
    # A conversation is visible with its customer, or when it was assigned to the actor.
    if actor.visible_owner_ids is None:
        return customer_visible(actor)
    return or_(customer_visible(actor), col(Conversation.assignee_id) == actor.user_id)


def _row(conv: Conversation, name: str) -> ConversationRow:
    return ConversationRow(
        id=conv.id or 0,
        customer_id=conv.customer_id,
        customer_name=name,
        channel=conv.channel,
        status=conv.status,
        assignee_id=conv.assignee_id,
        subject=conv.subject,
        last_message_at=conv.last_message_at,
        channel_id=conv.channel_id,
        unread_count=conv.unread_count,
        queue=conv.queue,
    )


def _visible(db: Session, actor: Actor, conversation_id: int) -> tuple[Conversation, str]:
    found = db.exec(
        select(Conversation, Customer.name)
        .join(Customer, col(Customer.id) == Conversation.customer_id)
        .where(Conversation.id == conversation_id, col(Customer.deleted_at).is_(None), _visible_clause(actor))
    ).first()
    if found is None:
        raise NotFound("Conversa não encontrada.")
    return found[0], found[1]


def list_conversations(
    db: Session,
    actor: Actor,
    *,
    status: str | None = None,
    mine: bool = False,
    customer_id: int | None = None,
    limit: int = 50,
) -> list[ConversationRow]:
    actor.require(Perm.CUSTOMERS_READ)
    stmt = (
        select(Conversation, Customer.name)
        .join(Customer, col(Customer.id) == Conversation.customer_id)
        .where(col(Customer.deleted_at).is_(None), _visible_clause(actor))
    )
    if status:
        if status not in STATUSES:
            raise Invalid("status", "Status de conversa inválido.")
        stmt = stmt.where(Conversation.status == status)
    if mine:
        stmt = stmt.where(Conversation.assignee_id == actor.user_id)
    if customer_id is not None:
        stmt = stmt.where(Conversation.customer_id == customer_id)
    stmt = stmt.order_by(col(Conversation.last_message_at).desc().nulls_last(), col(Conversation.id).desc())
    return [_row(c, n) for c, n in db.exec(stmt.limit(max(1, min(limit, 200)))).all()]


def assignees(db: Session, actor: Actor, rows: list[ConversationRow]) -> list[User]:
    """The users these conversations are assigned to (names for the inbox), of the actor's tenant."""
    ids = sorted({r.assignee_id for r in rows if r.assignee_id})
    if not ids:
        return []
    return list(db.exec(select(User).where(col(User.id).in_(ids), User.tenant_id == actor.tenant_id)).all())


def get_conversation(
    db: Session, actor: Actor, conversation_id: int, *, messages: int = 100
) -> ConversationDetail:
    """A visible conversation with its latest messages (oldest first, as a chat reads)."""
    actor.require(Perm.CUSTOMERS_READ)
    conv, name = _visible(db, actor, conversation_id)
    rows = db.exec(
        select(Message)
        .where(Message.conversation_id == conv.id)
        .order_by(col(Message.id).desc())
        .limit(messages)
    ).all()
    contact = db.get(Contact, conv.contact_id) if conv.contact_id else None
    return ConversationDetail(
        conversation=_row(conv, name),
        contact={"id": contact.id, "kind": contact.kind, "value": contact.value, "opt_out": contact.opt_out}
        if contact
        else None,
        messages=[m.model_dump() for m in reversed(rows)],
    )


def reply(db: Session, actor: Actor, conversation_id: int, data: ReplyIn) -> Message:
    """Queue an outbound message in a visible conversation on the outbox (refused when the contact
    opted out, no channel can send it, or WhatsApp's 24-hour window is closed)."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    conv, _ = _visible(db, actor, conversation_id)
    body = data.body.strip()
    if not body:
        raise Invalid("body", "Escreva a mensagem.")
    # Function-level: app.messaging imports the CRM services, this module among them.
    from app.messaging import sending

    return sending.reply(db, actor, conv, body, channel_id=data.canal_id)


def resolve(db: Session, actor: Actor, conversation_id: int) -> Conversation:
    actor.require(Perm.CONVERSATIONS_REPLY)
    conv, _ = _visible(db, actor, conversation_id)
    if conv.status == "resolved":
        return conv
    before = conv.model_dump()
    conv.status, conv.updated_at = "resolved", utcnow()
    db.add(conv)
    record(db, actor, "conversation.resolve", "conversation", conv.id, before, conv)
    timeline.add(
        db,
        conv.customer_id,
        kind="conversation",
        summary="Conversa marcada como resolvida",
        payload={"conversation_id": conv.id, "status": "resolved"},
        actor=actor,
        ref=("conversation", conv.id),
    )
    return conv


def assign(db: Session, actor: Actor, conversation_id: int, user_id: int) -> Conversation:
    """Hand the conversation to a user the actor may assign to (self for agents, team for managers)."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    conv, _ = _visible(db, actor, conversation_id)
    user = check_assignable(db, actor, user_id, field="user_id")
    before = conv.model_dump()
    conv.assignee_id, conv.updated_at = user_id, utcnow()
    db.add(conv)
    record(db, actor, "conversation.assign", "conversation", conv.id, before, conv)
    timeline.add(
        db,
        conv.customer_id,
        kind="conversation",
        summary=f"Conversa atribuída a {user.name or user.email}",
        payload={"conversation_id": conv.id, "assignee_id": user_id},
        actor=actor,
        ref=("conversation", conv.id),
    )
    return conv
