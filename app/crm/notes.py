"""Notes on a customer: each one is also a timeline entry pointing back to it."""

from pydantic import BaseModel
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.visibility import get_visible_customer
from app.errors import Forbidden, Invalid, NotFound
from app.validation import Str10000
from models.base import utcnow
from models.tenant import Interaction, Note


class NoteIn(BaseModel):
    body: Str10000


def _preview(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= 200 else flat[:197] + "..."


def add_note(db: Session, actor: Actor, customer_id: int, data: NoteIn) -> Note:
    """Add a note to a visible customer (timeline + audit)."""
    actor.require(Perm.TIMELINE_WRITE)
    get_visible_customer(db, actor, customer_id)
    body = data.body.strip()
    if not body:
        raise Invalid("body", "Escreva a nota.")
    note = Note(customer_id=customer_id, body=body, author_id=actor.user_id)
    db.add(note)
    db.flush()
    record(db, actor, "note.create", "note", note.id, None, note)
    timeline.add(
        db,
        customer_id,
        kind="note",
        summary=_preview(body),
        payload={"note_id": note.id},
        actor=actor,
        ref=("note", note.id),
    )
    return note


def _own_note(db: Session, actor: Actor, note_id: int) -> Note:
    note = db.get(Note, note_id)
    if note is None:
        raise NotFound("Nota não encontrada.")
    try:
        get_visible_customer(db, actor, note.customer_id)
    except NotFound:
        raise NotFound("Nota não encontrada.") from None
    # Authors edit their notes; admins and managers may correct anyone's.
    if note.author_id != actor.user_id and actor.role == "agent":
        raise Forbidden("Só o autor pode alterar esta nota.")
    return note


def update_note(db: Session, actor: Actor, note_id: int, data: NoteIn) -> Note:
    actor.require(Perm.TIMELINE_WRITE)
    note = _own_note(db, actor, note_id)
    body = data.body.strip()
    if not body:
        raise Invalid("body", "Escreva a nota.")
    before = note.model_dump()
    note.body, note.updated_at = body, utcnow()
    db.add(note)
    record(db, actor, "note.update", "note", note.id, before, note)
    for item in db.exec(
        select(Interaction).where(Interaction.ref_type == "note", Interaction.ref_id == note.id)
    ):
        item.summary = _preview(body)
        db.add(item)
    return note


def delete_note(db: Session, actor: Actor, note_id: int) -> None:
    actor.require(Perm.TIMELINE_WRITE)
    note = _own_note(db, actor, note_id)
    record(db, actor, "note.delete", "note", note.id, note, None)
    for item in db.exec(
        select(Interaction).where(Interaction.ref_type == "note", Interaction.ref_id == note.id)
    ):
        db.delete(item)
    db.delete(note)


def list_notes(db: Session, actor: Actor, customer_id: int) -> list[Note]:
    actor.require(Perm.CUSTOMERS_READ)
    get_visible_customer(db, actor, customer_id)
    return list(
        db.exec(
            select(Note).where(Note.customer_id == customer_id).order_by(col(Note.created_at).desc())
        ).all()
    )
