"""What providers tell us: status reports on messages we sent, and messages customers send us.

Webhook routes (WhatsApp Cloud, WPPConnect, Resend) parse their provider's payload into
`protocol.StatusEvent` / `protocol.InboundEvent` and call these, inside the tenant's session; the route
commits. Both are idempotent: a replayed status cannot move a message backwards, and a replayed inbound
message (same provider id on the same channel) is stored once.
"""

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, col, select

from app import live
from app.audit.log import record
from app.auth.actor import system_actor
from app.campaigns import counters
from app.crm import timeline
from app.crm.contacts import ContactIn
from app.crm.customers.schemas import CustomerIn
from app.crm.customers.service import create_customer
from app.errors import RetryLater
from app.messaging import consent, failure_reasons, inbound_media, reputation
from app.messaging.protocol import InboundEvent, StatusEvent
from models.base import utcnow
from models.tenant import CampaignRecipient, Channel, Contact, Conversation, Customer, Message

log = logging.getLogger(__name__)

# How far along a sent message is; a status only moves a message forward. `uncertain` (the worker died
# around the provider call) sits with `reserved`: any report from the provider settles it.
RANK = {"queued": 0, "reserved": 1, "uncertain": 1, "sent": 2, "delivered": 3, "read": 4}
# Provider vocabulary onto ours (Resend's e-mail events included).
STATUS_MAP = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "opened": "read",
    "clicked": "read",
    "failed": "failed",
    "bounced": "failed",
}
REPLY_WINDOW = timedelta(days=7)
# `error_code` of a send the outbox settled as failed because its outcome stayed unknown.
UNCERTAIN_CODE = "uncertain"
NAMESPACE_CUSTOMER = "conversations"
NAMESPACE_INBOX = "inbox"


def already_seen(db: Session, provider: str, event_id: str) -> bool:
    """Record a provider event id; True when it had been applied before (a replay to ignore)."""
    schema = db.info.get("schema")
    inserted = db.execute(
        text(
            f'INSERT INTO "{schema}".webhook_receipts (provider, event_id) VALUES (:p, :e) '
            "ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"p": provider[:20], "e": event_id[:200]},
    ).first()
    return inserted is None


def _touch_conversation(db: Session, customer_id: int) -> None:
    live.touch(db, NAMESPACE_CUSTOMER, customer_id)
    live.touch(db, NAMESPACE_INBOX, "all")


def apply_status(db: Session, channel: Channel, event: StatusEvent) -> Message | None:
    """Move the message this status is about forward (None when it is not ours: another channel's id,
    or a message sent outside the CRM). Bounces and complaints also opt the address out."""
    msg = db.exec(
        select(Message)
        .where(
            Message.channel_id == channel.id,
            Message.provider_message_id == event.provider_message_id,
            Message.direction == "out",
        )
        .with_for_update()
    ).first()
    revived = False
    if msg is None and event.message_id is not None:
        msg, revived = _unrecorded_send(db, channel, event)
    if msg is None:
        if _sending(db, channel):
            # The provider answered the send and reported on it before our worker recorded the answer
            # (its id): refuse for now, the provider's retry will find the message.
            raise RetryLater(
                "Mensagem ainda sendo registrada; tente de novo.", provider_id=event.provider_message_id
            )
        return None
    at = _aware(event.at) or utcnow()
    target = STATUS_MAP.get(event.status)
    changed, old = revived, msg.status
    if target == "failed":
        # A failure after delivery (Cloud API can report one late) does not undo the delivery.
        if RANK.get(msg.status, 0) < RANK["delivered"] and msg.status != "failed":
            msg.status, msg.failed_at, changed = "failed", at, True
            msg.error_code = (event.error_code or event.status)[:40]
            msg.error = (failure_reasons.reason_pt(event.error_code) or event.error or event.status)[:500]
    elif target is not None and RANK.get(msg.status, -1) < RANK[target] and msg.status != "failed":
        msg.status, changed = target, True
        msg.sent_at = msg.sent_at or at
        if RANK[target] >= RANK["delivered"]:
            msg.delivered_at = msg.delivered_at or at
        if target == "read":
            msg.read_at = msg.read_at or at
    if changed:
        msg.updated_at = utcnow()
        db.add(msg)
    if msg.campaign_id is not None:
        delta = counters.transition(old, msg.status) if changed else Counter()
        if revived:
            # Settled as failed while its status was missing: it was sent after all.
            delta.update({"failed": -1, "queued": 1})
        if event.status in ("opened", "clicked") and not (
            event.event_id and already_seen(db, "campaign", event.event_id)
        ):
            delta[event.status] += 1
        counters.bump(db, msg.campaign_id, delta)
    if event.status in ("bounced", "complained") and msg.to_address:
        consent.opt_out(
            db,
            medium=channel.medium,
            address=msg.to_address,
            source="hard_bounce" if event.status == "bounced" else "complaint",
            evidence={"message_id": msg.id, "event_id": event.event_id, "provider_status": event.status},
        )
        db.flush()
        reputation.check(db, channel)
    if changed:
        conv = db.get(Conversation, msg.conversation_id)
        if conv is not None:
            _touch_conversation(db, conv.customer_id)
    return msg


IN_FLIGHT = timedelta(minutes=10)


def _unrecorded_send(db: Session, channel: Channel, event: StatusEvent) -> tuple[Message | None, bool]:
    """The message a status names through our own id (echoed by the provider) when its provider id was
    never recorded: the worker died, or lost the answer, between the call and the mark. Only a send still
    uncertain, or settled as failed for that reason, is matched; the provider id is recorded on it.
    Returns (message, revived): revived when it had been settled as failed and now goes back to the
    uncertain state the status moves forward from."""
    msg = db.exec(
        select(Message)
        .where(
            Message.id == event.message_id,
            Message.channel_id == channel.id,
            Message.direction == "out",
        )
        .with_for_update()
    ).first()
    if msg is not None and msg.provider_message_id == event.provider_message_id:
        return msg, False  # the worker's mark landed while this status waited for the row
    if msg is None or msg.provider_message_id is not None:
        return None, False
    revived = msg.status == "failed" and msg.error_code == UNCERTAIN_CODE
    if msg.status != "uncertain" and not revived:
        return None, False
    msg.provider_message_id = event.provider_message_id[:200]
    if revived:
        msg.status, msg.failed_at, msg.error, msg.error_code = "uncertain", None, None, None
    log.info("status %s matched to unrecorded send %s", event.status, msg.id)
    return msg, revived


def _sending(db: Session, channel: Channel) -> bool:
    """Whether the channel has sends whose provider id is not recorded yet (claimed in the last minutes)."""
    return (
        db.exec(
            select(Message.id)
            .where(
                Message.channel_id == channel.id,
                Message.status == "uncertain",
                col(Message.provider_message_id).is_(None),
                col(Message.updated_at) > utcnow() - IN_FLIGHT,
            )
            .limit(1)
        ).first()
        is not None
    )


def phone_variants(sender: str) -> list[str]:
    """E.164 forms a WhatsApp sender may be stored under. WhatsApp ids of older Brazilian mobiles lack
    the ninth digit (55 + DDD + 8 digits); contacts are stored with it."""
    digits = "".join(c for c in sender if c.isdigit())
    variants = [f"+{digits}"]
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":
        variants.append(f"+{digits[:4]}9{digits[4:]}")
    elif digits.startswith("55") and len(digits) == 13 and digits[4] == "9":
        variants.append(f"+{digits[:4]}{digits[5:]}")
    return variants


def _find_contact(db: Session, medium: str, addresses: list[str]) -> Contact | None:
    return db.exec(
        select(Contact)
        .join(Customer, col(Customer.id) == Contact.customer_id)
        .where(
            col(Contact.value).in_(addresses),
            col(Contact.kind).in_(consent.CONTACT_KINDS[medium]),
            col(Customer.deleted_at).is_(None),
        )
        .order_by(col(Contact.is_primary).desc(), col(Contact.id))
    ).first()


def _new_lead(db: Session, channel: Channel, address: str, name: str | None) -> Contact:
    """An unknown sender becomes a prospect customer with that contact (audited as the system)."""
    actor = system_actor(None, str(db.info.get("schema", "")))
    kind = "email" if channel.medium == "email" else "whatsapp"
    customer = create_customer(
        db,
        actor,
        CustomerIn(
            name=(name or address).strip()[:300] or address,
            status="prospecto",
            contacts=[ContactIn(kind=kind, value=address, is_primary=True)],
        ),
    )
    contact = db.exec(select(Contact).where(Contact.customer_id == customer.id)).first()
    assert contact is not None  # created just above
    return contact


def _conversation(db: Session, channel: Channel, contact: Contact) -> Conversation:
    conv = db.exec(
        select(Conversation)
        .where(Conversation.customer_id == contact.customer_id, Conversation.channel == channel.medium)
        .order_by(col(Conversation.id).desc())
        .with_for_update()
    ).first()
    if conv is None:
        conv = Conversation(
            customer_id=contact.customer_id,
            contact_id=contact.id,
            channel=channel.medium,
            channel_id=channel.id,
            status="open",
        )
    conv.channel_id = conv.channel_id or channel.id
    conv.contact_id = conv.contact_id or contact.id
    return conv


def apply_inbound(db: Session, channel: Channel, event: InboundEvent) -> Message | None:
    """Store a customer's message on their conversation (None when it was already stored)."""
    duplicate = db.exec(
        select(Message.id).where(
            Message.channel_id == channel.id,
            Message.provider_message_id == event.provider_message_id,
            Message.direction == "in",
        )
    ).first()
    if duplicate is not None:
        return None
    email = channel.medium == "email"
    addresses = [event.sender.strip().lower()] if email else phone_variants(event.sender)
    contact = _find_contact(db, channel.medium, addresses)
    if contact is None:
        # A new contact is stored in its full form (a Brazilian mobile with its ninth digit).
        contact = _new_lead(db, channel, max(addresses, key=len), event.sender_name)
    conv = _conversation(db, channel, contact)
    at = _aware(event.at) or utcnow()
    conv.last_inbound_at = max(conv.last_inbound_at or at, at)
    conv.last_message_at = max(conv.last_message_at or at, at)
    conv.unread_count += 1
    if conv.status == "resolved":
        conv.status = "open"
    conv.updated_at = utcnow()
    db.add(conv)
    db.flush()
    # An image or document to fetch from the provider becomes a pending attachment (downloaded by a
    # task after the commit, never in the webhook's request); other media keep the provider's metadata.
    to_fetch = inbound_media.pending_ref(channel, event.provider_message_id, event.kind, event.media)
    msg = Message(
        conversation_id=conv.id or 0,
        direction="in",
        body=event.text[:65_536],
        kind=event.kind[:20],
        attachments=[to_fetch] if to_fetch else [event.media] if event.media else [],
        status="received",
        provider_message_id=event.provider_message_id[:200],
        channel_id=channel.id,
        to_address=None,
        created_at=at,
    )
    db.add(msg)
    db.flush()
    actor = system_actor(None, str(db.info.get("schema", "")))
    record(
        db,
        actor,
        "message.receive",
        "message",
        msg.id,
        None,
        {"conversation_id": conv.id, "channel_id": channel.id, "kind": msg.kind, "length": len(msg.body)},
    )
    preview = msg.body if len(msg.body) <= 160 else msg.body[:157] + "..."
    timeline.add(
        db,
        conv.customer_id,
        kind="message_in",
        summary=preview or _media_label(msg.kind),
        payload={
            "conversation_id": conv.id,
            "message_id": msg.id,
            "channel": channel.medium,
            "attachments": msg.attachments,
        },
        ref=("conversation", conv.id),
        at=at,
    )
    _count_reply(db, conv, at)
    if to_fetch:
        inbound_media.schedule(db, msg)
    if channel.medium == "whatsapp" and consent.is_stop_keyword(event.text):
        consent.opt_out(
            db,
            medium="whatsapp",
            address=contact.value,
            source="keyword",
            customer_id=contact.customer_id,
            evidence={"message_id": msg.id, "keyword": event.text.strip()[:40]},
        )
    _touch_conversation(db, conv.customer_id)
    return msg


def _count_reply(db: Session, conv: Conversation, at: datetime) -> None:
    """A message from a customer who got a campaign message in the last REPLY_WINDOW counts once as that
    campaign's reply."""
    recipient = db.exec(
        select(CampaignRecipient)
        .join(Message, col(Message.id) == CampaignRecipient.message_id)
        .where(
            Message.conversation_id == conv.id,
            col(Message.campaign_id).is_not(None),
            col(Message.sent_at) >= at - REPLY_WINDOW,
            col(CampaignRecipient.replied_at).is_(None),
        )
        .order_by(col(Message.id).desc())
        .limit(1)
        .with_for_update()
    ).first()
    if recipient is not None:
        recipient.replied_at = at
        db.add(recipient)
        counters.bump(db, recipient.campaign_id, {"replied": 1})


def _media_label(kind: str) -> str:
    return {"image": "Imagem recebida", "document": "Documento recebido", "audio": "Áudio recebido"}.get(
        kind, "Mensagem recebida"
    )


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
