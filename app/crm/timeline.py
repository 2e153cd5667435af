"""The customer timeline: one `interactions` row per event, read newest-first with keyset pagination."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.pagination import Page, decode_cursor, encode_cursor
from app.crm.visibility import get_visible_customer
from app.errors import Invalid
from models.base import utcnow
from models.tenant import Interaction

KINDS = (
    "message_in",
    "message_out",
    "note",
    "call",
    "status_change",
    "stage_change",
    "appointment",
    "import",
    "campaign",
    "opt_out",
    "field_change",
    "opportunity",
    "conversation",
)
KIND_LABELS = {
    "message_in": "Mensagem recebida",
    "message_out": "Mensagem enviada",
    "note": "Nota",
    "call": "Ligação",
    "status_change": "Mudança de status",
    "stage_change": "Mudança de etapa",
    "appointment": "Agendamento",
    "import": "Importação",
    "campaign": "Campanha",
    "opt_out": "Descadastro",
    "field_change": "Alteração de dados",
    "opportunity": "Oportunidade",
    "conversation": "Conversa",
}


class TimelineItem(BaseModel):
    id: int
    customer_id: int
    kind: str
    label: str
    summary: str
    payload: dict[str, Any]
    actor_id: int | None
    origin: str
    ref_type: str | None
    ref_id: int | None
    at: datetime


def add(
    db: Session,
    customer_id: int,
    *,
    kind: str,
    summary: str = "",
    payload: dict[str, Any] | None = None,
    actor: Actor | None = None,
    ref: tuple[str, int | None] | None = None,
    at: datetime | None = None,
) -> Interaction:
    """Append a timeline row; callers have already checked that the actor may touch the customer."""
    if kind not in KINDS:
        raise ValueError(f"unknown interaction kind {kind!r}")
    row = Interaction(
        customer_id=customer_id,
        kind=kind,
        summary=summary[:500],
        payload=payload or {},
        actor_id=actor.user_id if actor else None,
        origin="user" if actor is not None and actor.user_id is not None else "system",
        ref_type=ref[0] if ref else None,
        ref_id=ref[1] if ref else None,
        at=at or utcnow(),
    )
    db.add(row)
    return row


def _item(row: Interaction) -> TimelineItem:
    return TimelineItem(
        id=row.id or 0,
        customer_id=row.customer_id,
        kind=row.kind,
        label=KIND_LABELS.get(row.kind, row.kind),
        summary=row.summary,
        payload=row.payload,
        actor_id=row.actor_id,
        origin=row.origin,
        ref_type=row.ref_type,
        ref_id=row.ref_id,
        at=row.at,
    )


def list_timeline(
    db: Session,
    actor: Actor,
    customer_id: int,
    *,
    kinds: list[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[TimelineItem]:
    """Newest-first page of a visible customer's timeline, optionally only some kinds."""
    actor.require(Perm.CUSTOMERS_READ)
    customer = get_visible_customer(db, actor, customer_id)
    limit = max(1, min(limit, 200))
    stmt = select(Interaction).where(Interaction.customer_id == customer_id)
    if kinds:
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise Invalid("kind", "Tipo de interação desconhecido.")
        stmt = stmt.where(col(Interaction.kind).in_(kinds))
    if cursor:
        at, last_id = decode_cursor(cursor, "timeline")
        stmt = stmt.where(tuple_(Interaction.at, Interaction.id) < tuple_(at, last_id))
    stmt = stmt.order_by(col(Interaction.at).desc(), col(Interaction.id).desc()).limit(limit + 1)
    rows = list(db.exec(stmt).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor("timeline", last.at, last.id or 0)
    items = [_item(r) for r in rows]
    if next_cursor is None and customer.import_id and (not kinds or "import" in kinds):
        items.append(_created_by_import(customer.id or 0, customer.import_id, customer.created_at))
    return Page(rows=items, next_cursor=next_cursor)


def _created_by_import(customer_id: int, import_id: int, created_at: datetime) -> TimelineItem:
    """The import that created a customer, derived from customers.import_id rather than stored.

    Writing one interaction per created customer would double the import's write volume (500k rows);
    the customer row already says which import made it, and creation is the oldest event of its
    history, so the entry closes the last page.
    """
    return TimelineItem(
        id=0,
        customer_id=customer_id,
        kind="import",
        label=KIND_LABELS["import"],
        summary=f"Cliente criado pela importação #{import_id}",
        payload={"import_id": import_id, "derived": True},
        actor_id=None,
        origin="system",
        ref_type="import",
        ref_id=import_id,
        at=created_at,
    )
