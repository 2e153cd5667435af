"""LGPD data-subject requests on one customer: access (everything we hold, as JSON) and erasure.

Erasure anonymises instead of deleting rows: the customer's timeline, conversations and sales history keep
their shape for the organisation's reports, but nothing in them names or reaches the person any more. The
consent ledger keeps its lines with the address cleared and its hash kept, so an address that opted out
stays suppressed if it is ever imported again (the proof LGPD art. 16 lets us keep). The audit log is kept
as it is (a legal record of who did what).
"""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import event, update
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.visibility import get_visible_customer
from app.messaging import attachments, consent
from app.search import sync as search_sync
from models.base import utcnow
from models.tenant import (
    Appointment,
    ConsentEvent,
    Contact,
    Conversation,
    Customer,
    CustomerTag,
    Interaction,
    Message,
    Note,
    Opportunity,
    StageHistory,
    Tag,
)

log = logging.getLogger(__name__)

ANONYMISED_NAME = "Titular anonimizado"


def _rows(db: Session, model: Any, *where: Any, order: Any = None) -> list[dict[str, Any]]:
    stmt = select(model).where(*where)
    if order is not None:
        stmt = stmt.order_by(order)
    return [r.model_dump(mode="json") for r in db.exec(stmt).all()]


def export_customer_data(db: Session, actor: Actor, customer_id: int) -> dict[str, Any]:
    """Everything held about the customer (LGPD access request), in one JSON document."""
    actor.require(Perm.CUSTOMERS_EXPORT)
    customer = get_visible_customer(db, actor, customer_id)
    conversations = db.exec(select(Conversation).where(Conversation.customer_id == customer_id)).all()
    conv_ids = [c.id for c in conversations]
    opportunities = _rows(db, Opportunity, Opportunity.customer_id == customer_id)
    data = {
        "gerado_em": utcnow().isoformat(),
        "cliente": customer.model_dump(mode="json", exclude={"name_key", "import_hash"}),
        "contatos": _rows(db, Contact, Contact.customer_id == customer_id),
        "etiquetas": list(
            db.exec(
                select(Tag.name)
                .join(CustomerTag, col(CustomerTag.tag_id) == Tag.id)
                .where(CustomerTag.customer_id == customer_id)
            ).all()
        ),
        "anotacoes": _rows(db, Note, Note.customer_id == customer_id, order=col(Note.id)),
        "agendamentos": _rows(db, Appointment, Appointment.customer_id == customer_id),
        "oportunidades": opportunities,
        "historico_de_etapas": _rows(
            db,
            StageHistory,
            col(StageHistory.opportunity_id).in_([o["id"] for o in opportunities]),
            order=col(StageHistory.id),
        ),
        "conversas": [c.model_dump(mode="json") for c in conversations],
        "mensagens": _rows(
            db,
            Message,
            col(Message.conversation_id).in_(conv_ids),
            order=col(Message.id),
        ),
        "linha_do_tempo": _rows(
            db, Interaction, Interaction.customer_id == customer_id, order=col(Interaction.id)
        ),
        "consentimentos": [
            r.model_dump(mode="json") for r in consent.list_for_customer(db, actor, customer_id)
        ],
    }
    record(db, actor, "customer.data_export", "customer", customer_id, None, {"sections": sorted(data)})
    return data


def _erase_files_after_commit(db: Session, keys: list[str]) -> None:
    """The files the person sent or received (images, documents) go with the erasure, once it is
    committed: a rolled-back erasure keeps them, as it keeps the rows pointing at them."""
    schema = str(db.info.get("schema", ""))
    if not keys or not schema:
        return

    def erase(_session: Session) -> None:
        for key in keys:
            try:
                attachments.discard(schema, key)
            except Exception:  # a file already gone, or storage down: the references are gone anyway
                log.warning("erasure: could not delete attachment %s of %s", key, schema)

    event.listen(db, "after_commit", erase, once=True)


def anonymise_customer(db: Session, actor: Actor, customer_id: int) -> Customer:
    """Erase what identifies or reaches the person (LGPD erasure) and take the customer off the lists."""
    actor.require(Perm.CUSTOMERS_DELETE)
    customer = get_visible_customer(db, actor, customer_id, for_update=True)
    now: datetime = utcnow()
    contacts = db.exec(select(Contact).where(Contact.customer_id == customer_id)).all()
    for contact in contacts:
        # Opted-out addresses keep a ledger line that outlives the contact (by hash).
        if contact.opt_out:
            medium = "email" if contact.kind == "email" else "whatsapp"
            if not any(
                e.status == "opt_out"
                for e in db.exec(
                    select(ConsentEvent).where(
                        ConsentEvent.medium == medium,
                        ConsentEvent.address_hash == consent.address_hash(medium, contact.value),
                    )
                ).all()
            ):
                consent.append(
                    db,
                    medium=medium,
                    address=contact.value,
                    status="opt_out",
                    source="agent",
                    customer_id=customer_id,
                    evidence={"reason": "opt-out kept at erasure"},
                    actor=actor,
                )
        db.delete(contact)
    db.flush()
    db.exec(update(ConsentEvent).where(col(ConsentEvent.customer_id) == customer_id).values(address=None))
    conv_ids = list(db.exec(select(Conversation.id).where(Conversation.customer_id == customer_id)).all())
    if conv_ids:
        _erase_files_after_commit(
            db,
            [
                str(ref["key"])
                for refs in db.exec(
                    select(Message.attachments).where(col(Message.conversation_id).in_(conv_ids))
                )
                for ref in refs or []
                if ref.get("key")
            ],
        )
        db.exec(
            update(Message)
            .where(col(Message.conversation_id).in_(conv_ids))
            .values(body="", html=None, subject=None, attachments=[], to_address=None, variables={})
        )
        db.exec(
            update(Conversation)
            .where(col(Conversation.id).in_(conv_ids))
            .values(subject=None, contact_id=None)
        )
    db.exec(update(Note).where(col(Note.customer_id) == customer_id).values(body=""))
    db.exec(
        update(Interaction)
        .where(col(Interaction.customer_id) == customer_id)
        .values(summary="[dados anonimizados]", payload={})
    )
    db.exec(update(Appointment).where(col(Appointment.customer_id) == customer_id).values(description=""))
    before = {"id": customer.id, "deleted_at": customer.deleted_at}
    customer.name = ANONYMISED_NAME
    customer.trade_name = customer.document = customer.plan = None
    customer.source = customer.source_key = None
    customer.custom = {}
    customer.deleted_at = customer.deleted_at or now
    customer.updated_at = now
    db.add(customer)
    db.flush()
    # The audit keeps that it happened, not what was erased.
    record(
        db,
        actor,
        "customer.anonymise",
        "customer",
        customer_id,
        before,
        {"id": customer.id, "deleted_at": now},
    )
    search_sync.mark_dirty(db, [customer_id])
    return customer
