"""Contacts of a customer (phones in E.164, lower-case e-mails, WhatsApp ids) and opt-outs."""

import re

import phonenumbers
from pydantic import BaseModel, Field, StrictBool
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.visibility import get_visible_customer
from app.errors import Conflict, Invalid, NotFound
from app.messaging import consent
from app.search import sync as search_sync
from app.validation import Str10, Str60, Str320
from models.base import utcnow
from models.tenant import Contact

KINDS = ("phone", "email", "whatsapp")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContactIn(BaseModel):
    kind: Str10
    value: Str320 = Field(min_length=1)
    label: Str60 | None = None
    is_primary: StrictBool = False


class ContactUpdate(BaseModel):
    value: Str320 | None = Field(default=None, min_length=1)
    label: Str60 | None = None
    is_primary: StrictBool | None = None


def normalise(kind: str, value: str, field: str = "value") -> str:
    """Phones to E.164 (region BR), e-mails lower-case; a bad value is a 422 on `field`."""
    if kind not in KINDS:
        raise Invalid("kind", "Tipo de contato inválido (telefone, e-mail ou WhatsApp).")
    value = value.strip()
    if kind == "email":
        value = value.lower()
        if not _EMAIL.match(value):
            raise Invalid(field, "E-mail inválido.")
        return value
    try:
        number = phonenumbers.parse(value, "BR")
    except phonenumbers.NumberParseException:
        raise Invalid(field, "Telefone inválido.") from None
    if not phonenumbers.is_valid_number(number):
        raise Invalid(field, "Telefone inválido.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _check_free(db: Session, kind: str, value: str, field: str, own_id: int | None = None) -> None:
    other = db.exec(select(Contact).where(Contact.kind == kind, Contact.value == value)).first()
    if other is not None and other.id != own_id:
        # Deliberately not saying whose: the other customer may be outside the actor's portfolio.
        raise Conflict("Este contato já está cadastrado em outro cliente.", field=field)


def add_contact(
    db: Session, actor: Actor, customer_id: int, data: ContactIn, *, field: str = "value"
) -> Contact:
    """Add a phone/e-mail to a visible customer; a value already used by any customer is a conflict."""
    actor.require(Perm.CUSTOMERS_WRITE)
    customer = get_visible_customer(db, actor, customer_id)
    value = normalise(data.kind, data.value, field)
    _check_free(db, data.kind, value, field)
    contact = Contact(
        customer_id=customer.id or 0,
        kind=data.kind,
        value=value,
        label=data.label,
        is_primary=data.is_primary,
    )
    db.add(contact)
    db.flush()
    record(db, actor, "contact.create", "contact", contact.id, None, contact)
    search_sync.mark_dirty(db, [contact.customer_id])
    return contact


def _visible_contact(db: Session, actor: Actor, contact_id: int) -> Contact:
    contact = db.get(Contact, contact_id)
    if contact is None:
        raise NotFound("Contato não encontrado.")
    try:
        get_visible_customer(db, actor, contact.customer_id)
    except NotFound:
        raise NotFound("Contato não encontrado.") from None
    return contact


def list_contacts(db: Session, actor: Actor, customer_id: int) -> list[Contact]:
    actor.require(Perm.CUSTOMERS_READ)
    get_visible_customer(db, actor, customer_id)
    return list(
        db.exec(
            select(Contact)
            .where(Contact.customer_id == customer_id)
            .order_by(col(Contact.kind), col(Contact.id))
        ).all()
    )


def update_contact(db: Session, actor: Actor, contact_id: int, data: ContactUpdate) -> Contact:
    actor.require(Perm.CUSTOMERS_WRITE)
    contact = _visible_contact(db, actor, contact_id)
    before = contact.model_dump()
    if data.value is not None:
        value = normalise(contact.kind, data.value)
        _check_free(db, contact.kind, value, "value", contact.id)
        contact.value = value
    if data.label is not None:
        contact.label = data.label
    if data.is_primary is not None:
        contact.is_primary = data.is_primary
    db.add(contact)
    record(db, actor, "contact.update", "contact", contact.id, before, contact)
    search_sync.mark_dirty(db, [contact.customer_id])
    return contact


def delete_contact(db: Session, actor: Actor, contact_id: int) -> None:
    actor.require(Perm.CUSTOMERS_WRITE)
    contact = _visible_contact(db, actor, contact_id)
    record(db, actor, "contact.delete", "contact", contact.id, contact, None)
    db.delete(contact)
    search_sync.mark_dirty(db, [contact.customer_id])


def set_opt_out(
    db: Session, actor: Actor, contact_id: int, *, opt_out: bool, reason: str | None = None
) -> Contact:
    """Mark (or clear) a contact's opt-out; sends check this flag at send time, always."""
    actor.require(Perm.CUSTOMERS_WRITE)
    contact = _visible_contact(db, actor, contact_id)
    if contact.opt_out == opt_out:
        return contact
    before = contact.model_dump()
    contact.opt_out = opt_out
    contact.opt_out_at = utcnow() if opt_out else None
    contact.opt_out_reason = (reason or "")[:200] or None if opt_out else None
    db.add(contact)
    consent.append(
        db,
        medium="email" if contact.kind == "email" else "whatsapp",
        address=contact.value,
        status="opt_out" if opt_out else "opt_in",
        source="agent",
        customer_id=contact.customer_id,
        evidence={"contact_id": contact.id, "reason": contact.opt_out_reason},
        actor=actor,
    )
    record(
        db, actor, "contact.opt_out" if opt_out else "contact.opt_in", "contact", contact.id, before, contact
    )
    summary = f"{'Descadastrou' if opt_out else 'Voltou a aceitar'} {contact.value}"
    timeline.add(
        db,
        contact.customer_id,
        kind="opt_out",
        summary=summary,
        payload={"contact_id": contact.id, "opt_out": opt_out, "reason": contact.opt_out_reason},
        actor=actor,
        ref=("contact", contact.id),
    )
    return contact
