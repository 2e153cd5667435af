"""The consent ledger and what providers tell us (app.messaging.consent / inbound), on real PostgreSQL:
opt-outs by keyword, link, bounce and agent; the ledger outliving the contact; inbound messages matched
to customers (ninth digit, unknown senders become prospects), replays ignored, statuses only forward."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from app import live
from app.crm import contacts
from app.errors import Invalid, NotFound
from app.messaging import consent, inbound
from app.messaging.protocol import InboundEvent, StatusEvent
from models.tenant import (
    AuditLog,
    Channel,
    ConsentEvent,
    Contact,
    Conversation,
    Customer,
    Interaction,
    Message,
    Notification,
)
from tests.integration.crm.conftest import Crm, new_customer


def _channel(db: Session, medium: str = "whatsapp") -> Channel:
    ch = Channel(kind=f"sandbox_{medium}", medium=medium, name=f"Teste {uuid.uuid4().hex[:4]}")
    db.add(ch)
    db.flush()
    return ch


def _phone() -> str:
    return f"+55119{uuid.uuid4().int % 10**8:08d}"


def test_stop_keywords_are_whole_messages_only() -> None:
    assert consent.is_stop_keyword("SAIR")
    assert consent.is_stop_keyword("  Parar! ")
    assert consent.is_stop_keyword("cancelar.")
    assert consent.is_stop_keyword("Não quero")
    assert not consent.is_stop_keyword("quero cancelar meu plano")
    assert not consent.is_stop_keyword("sair de casa amanhã")


def test_unsubscribe_tokens_round_trip_and_refuse_tampering() -> None:
    token = consent.unsubscribe_token(7, "email", "Ana@Example.com")
    assert "ana@example.com" not in token.lower()
    assert consent.read_unsubscribe_token(token) == (7, "email", "ana@example.com")
    with pytest.raises(Invalid):
        consent.read_unsubscribe_token(token[:-4] + "AAAA")
    with pytest.raises(Invalid):
        consent.read_unsubscribe_token("not-a-token")


def test_agent_switch_and_link_write_the_ledger_and_the_flag(db: Session, crm: Crm) -> None:
    email = f"cli-{uuid.uuid4().hex[:6]}@exemplo.com.br"
    c = new_customer(db, crm.agent, contacts=[{"kind": "email", "value": email}])
    contact = db.exec(select(Contact).where(Contact.customer_id == c.id)).one()
    contacts.set_opt_out(db, crm.agent, contact.id, opt_out=True, reason="pediu")
    db.flush()
    assert consent.is_opted_out(db, "email", email.upper())
    contacts.set_opt_out(db, crm.agent, contact.id, opt_out=False)
    db.flush()
    assert not consent.is_opted_out(db, "email", email)
    event = consent.opt_out(
        db, medium="email", address=email, source="unsubscribe_link", evidence={"ip": "203.0.113.9"}
    )
    assert event is not None and event.customer_id == c.id
    assert contact.opt_out and consent.is_opted_out(db, "email", email)
    # A second click adds nothing.
    assert consent.opt_out(db, medium="email", address=email, source="unsubscribe_link") is None
    rows = consent.list_for_customer(db, crm.agent, c.id)
    assert [(r.status, r.source) for r in rows] == [
        ("opt_out", "unsubscribe_link"),
        ("opt_in", "agent"),
        ("opt_out", "agent"),
    ]
    assert rows[0].evidence == {"ip": "203.0.113.9"}
    audit = db.exec(select(AuditLog).where(AuditLog.action == "consent.opt_out")).all()
    assert any(a.entity_id == str(event.id) and a.actor_email == "system" for a in audit)
    with pytest.raises(NotFound):
        consent.list_for_customer(db, crm.outsider, c.id)


def test_the_ledger_suppresses_an_address_after_its_contact_is_gone(db: Session, crm: Crm) -> None:
    phone = _phone()
    c = new_customer(db, crm.agent, contacts=[{"kind": "phone", "value": phone}])
    consent.opt_out(db, medium="whatsapp", address=phone, source="keyword")
    db.flush()
    contact = db.exec(select(Contact).where(Contact.customer_id == c.id)).one()
    db.delete(contact)
    db.flush()
    # Re-imported later without the flag: the ledger still says no.
    other = new_customer(db, crm.agent, contacts=[{"kind": "whatsapp", "value": phone}])
    assert other.id != c.id
    assert consent.opted_out(db, "whatsapp", [phone, _phone()]) == {phone}


def test_flagged_contacts_without_ledger_lines_count_as_opted_out(db: Session, crm: Crm) -> None:
    phone = _phone()
    c = new_customer(db, crm.agent, contacts=[{"kind": "phone", "value": phone}])
    contact = db.exec(select(Contact).where(Contact.customer_id == c.id)).one()
    contact.opt_out = True  # as an import or the demo data sets it
    db.add(contact)
    db.flush()
    assert consent.is_opted_out(db, "whatsapp", phone)
    assert not consent.is_opted_out(db, "email", phone)


def test_inbound_message_lands_on_the_customer_conversation(db: Session, crm: Crm) -> None:
    ch = _channel(db)
    digits = f"9{uuid.uuid4().int % 10**7:07d}"  # an old 8-digit mobile number
    c = new_customer(db, crm.agent, contacts=[{"kind": "phone", "value": f"+55119{digits}"}])
    before = live.revision(crm.schema, inbound.NAMESPACE_CUSTOMER, c.id)
    # WhatsApp ids of older Brazilian mobiles come without the ninth digit.
    event = InboundEvent(provider_message_id=f"wamid.{uuid.uuid4().hex}", sender=f"5511{digits}", text="Oi!")
    msg = inbound.apply_inbound(db, ch, event)
    assert msg is not None and msg.status == "received" and msg.direction == "in"
    conv = db.get(Conversation, msg.conversation_id)
    assert conv is not None and conv.customer_id == c.id and conv.unread_count == 1
    assert conv.last_inbound_at is not None and conv.channel_id == ch.id
    assert inbound.apply_inbound(db, ch, event) is None  # a replay is stored once
    again = inbound.apply_inbound(
        db,
        ch,
        InboundEvent(provider_message_id=f"wamid.{uuid.uuid4().hex}", sender=f"5511{digits}", text="?"),
    )
    assert again is not None and again.conversation_id == conv.id and conv.unread_count == 2
    kinds = db.exec(select(Interaction.kind).where(Interaction.customer_id == c.id)).all()
    assert kinds.count("message_in") == 2
    db.commit()
    assert live.revision(crm.schema, inbound.NAMESPACE_CUSTOMER, c.id) == before + 1


def test_unknown_sender_becomes_a_prospect_and_stop_opts_out(db: Session, crm: Crm) -> None:
    ch = _channel(db)
    digits = f"5511{9}{uuid.uuid4().int % 10**8:08d}"
    msg = inbound.apply_inbound(
        db,
        ch,
        InboundEvent(
            provider_message_id=uuid.uuid4().hex, sender=digits, text="SAIR", sender_name="Joana Lead"
        ),
    )
    assert msg is not None
    conv = db.get(Conversation, msg.conversation_id)
    customer = db.get(Customer, conv.customer_id if conv else 0)
    assert customer is not None and customer.name == "Joana Lead" and customer.status == "prospecto"
    assert consent.is_opted_out(db, "whatsapp", f"+{digits}")
    line = db.exec(select(ConsentEvent).where(ConsentEvent.customer_id == customer.id)).one()
    assert line.source == "keyword" and line.evidence["message_id"] == msg.id


def test_statuses_only_move_forward_and_bounces_opt_out(db: Session, crm: Crm) -> None:
    ch = _channel(db, "email")
    email = f"b-{uuid.uuid4().hex[:6]}@exemplo.com"
    c = new_customer(db, crm.agent, contacts=[{"kind": "email", "value": email}])
    conv = Conversation(customer_id=c.id, channel="email", channel_id=ch.id)
    db.add(conv)
    db.flush()
    msg = Message(
        conversation_id=conv.id,
        direction="out",
        status="uncertain",
        channel_id=ch.id,
        provider_message_id="re_1" + uuid.uuid4().hex,
        to_address=email,
    )
    db.add(msg)
    db.flush()
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    pid = msg.provider_message_id or ""
    inbound.apply_status(db, ch, StatusEvent(pid, "delivered", at=t0))
    assert msg.status == "delivered" and msg.delivered_at == t0 and msg.sent_at == t0
    inbound.apply_status(db, ch, StatusEvent(pid, "sent", at=t0 + timedelta(seconds=5)))
    assert msg.status == "delivered"  # late "sent" does not move it back
    inbound.apply_status(db, ch, StatusEvent(pid, "opened", at=t0 + timedelta(minutes=1)))
    assert msg.status == "read" and msg.read_at == t0 + timedelta(minutes=1)
    inbound.apply_status(db, ch, StatusEvent(pid, "failed"))
    assert msg.status == "read"  # a failure after delivery does not undo it
    assert inbound.apply_status(db, ch, StatusEvent("someone-else", "delivered")) is None
    inbound.apply_status(db, ch, StatusEvent(pid, "complained"))
    assert consent.is_opted_out(db, "email", email)


def test_a_bounce_fails_the_message_and_suppresses_the_address(db: Session, crm: Crm) -> None:
    ch = _channel(db, "email")
    email = f"x-{uuid.uuid4().hex[:6]}@exemplo.com"
    c = new_customer(db, crm.agent, contacts=[{"kind": "email", "value": email}])
    conv = Conversation(customer_id=c.id, channel="email", channel_id=ch.id)
    db.add(conv)
    db.flush()
    msg = Message(
        conversation_id=conv.id,
        direction="out",
        status="sent",
        channel_id=ch.id,
        provider_message_id="re_b",
        to_address=email,
    )
    db.add(msg)
    db.flush()
    inbound.apply_status(db, ch, StatusEvent("re_b", "bounced", error="mailbox does not exist"))
    assert msg.status == "failed" and msg.error == "mailbox does not exist" and msg.error_code == "bounced"
    line = db.exec(select(ConsentEvent).where(ConsentEvent.customer_id == c.id)).one()
    assert line.source == "hard_bounce" and line.evidence["message_id"] == msg.id


def test_webhook_receipts_detect_replays(db: Session, crm: Crm) -> None:
    key = uuid.uuid4().hex
    assert inbound.already_seen(db, "resend", key) is False
    assert inbound.already_seen(db, "resend", key) is True
    assert inbound.already_seen(db, "wppconnect", key) is False


def test_a_domain_whose_bounces_pass_the_threshold_is_paused(db: Session, crm: Crm) -> None:
    from app.messaging.governor import get_governor
    from app.messaging.reputation import identity, rates

    domain = f"loja{uuid.uuid4().hex[:6]}.com.br"
    ch = Channel(kind="smtp", medium="email", name="Loja", config={"from_email": f"vendas@{domain}"})
    db.add(ch)
    db.flush()
    c = new_customer(db, crm.agent)
    conv = Conversation(customer_id=c.id, channel="email", channel_id=ch.id)
    db.add(conv)
    db.flush()
    now = datetime.now(UTC)
    msgs = [
        Message(
            conversation_id=conv.id,
            direction="out",
            status="sent",
            channel_id=ch.id,
            provider_message_id=f"m{i}-{uuid.uuid4().hex[:6]}",
            to_address=f"c{i}@{domain}",
            sent_at=now - timedelta(hours=1),
        )
        for i in range(100)
    ]
    db.add_all(msgs)
    db.flush()
    for m in msgs[:5]:  # 5 %: at the line, not over it
        inbound.apply_status(db, ch, StatusEvent(m.provider_message_id or "", "bounced"))
    assert ch.status == "active" and rates(db, domain).bounced == 5
    inbound.apply_status(db, ch, StatusEvent(msgs[5].provider_message_id or "", "bounced"))
    assert ch.status == "paused" and "6,0 %" in (ch.status_detail or "")
    assert "devolvidos" in get_governor().usage(identity(crm.schema, domain), now.timestamp())["paused"]
    # The tenant's admin is alerted in the app (the bell), with the reason.
    alerts = db.exec(
        select(Notification).where(Notification.kind == "channel_alert", Notification.ref_id == ch.id)
    ).all()
    assert [(n.user_id, n.title) for n in alerts] == [(crm.admin.user_id, f"E-mail pausado: {domain}")]
    assert "devolvidos" in alerts[0].body and alerts[0].link == "/admin/canais"
    # Not again while unread (a burst of bounces alerts once); again once it was read.
    from app.messaging.alerts import alert_admins

    assert alert_admins(db, title="x", body="", link="/admin/canais", channel_id=ch.id or 0) == []
    alerts[0].read_at = now
    db.add(alerts[0])
    db.flush()
    assert len(alert_admins(db, title="x", body="", link="/admin/canais", channel_id=ch.id or 0)) == 1
    get_governor().resume(identity(crm.schema, domain))


def test_a_status_that_overtakes_the_send_record_is_refused_for_a_retry(db: Session, crm: Crm) -> None:
    from app.errors import RetryLater

    ch = _channel(db)
    c = new_customer(db, crm.agent)
    conv = Conversation(customer_id=c.id, channel="whatsapp", channel_id=ch.id)
    db.add(conv)
    db.flush()
    msg = Message(conversation_id=conv.id, direction="out", status="uncertain", channel_id=ch.id)
    db.add(msg)
    db.flush()
    with pytest.raises(RetryLater):
        inbound.apply_status(db, ch, StatusEvent("wamid.early", "delivered"))
    msg.status, msg.provider_message_id = "sent", "wamid.early"
    db.add(msg)
    db.flush()
    assert inbound.apply_status(db, ch, StatusEvent("wamid.early", "delivered")) is msg
    assert msg.status == "delivered"
    # Nothing in flight: an unknown id is simply not ours.
    assert inbound.apply_status(db, ch, StatusEvent("wamid.other", "delivered")) is None
