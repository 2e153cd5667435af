"""Meta's webhook at /api/webhooks/whatsapp-cloud, posted over HTTP by the Cloud API simulator: the
subscription challenge, signatures, statuses onto our messages, customers' messages onto conversations."""

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.messaging.adapters.whatsapp_cloud import CloudApiAdapter
from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.protocol import OutboundMessage
from models.tenant import Contact, Conversation, Customer, Message
from tenants.database import session
from tests.integration.messaging.whatsapp_support import (  # noqa: F401
    add_cloud_channel,
    audit_rows,
    live_app,
    run_async,
)
from tests.simulators.whatsapp_cloud import CloudApiSimulator, running

PHONE = "+5511987654321"


@pytest.fixture
def sim(live_app: str) -> Iterator[CloudApiSimulator]:  # noqa: F811
    # One phone number id per test: routes are platform-wide.
    with running(phone_number_id=str(10**14 + secrets.randbelow(10**14)), pair_window=0.0) as s:
        s.webhook_url = f"{live_app}/api/webhooks/whatsapp-cloud"
        yield s


def _messages(schema: str, direction: str = "in") -> list[Message]:
    with session(schema) as db:
        return list(
            db.exec(select(Message).where(Message.direction == direction).order_by(col(Message.id))).all()
        )


async def _send_direct(sim: Any, message_id: int) -> str:
    """One Cloud API send straight through the adapter (as a worker would), its answer then "lost"."""
    config = WhatsAppCloudConfig(
        phone_number_id=sim.phone_number_id,
        waba_id=sim.waba_id,
        access_token=sim.access_token,
        app_secret=sim.app_secret,
        verify_token="v",
        api_base_url=sim.url,
    )
    adapter = CloudApiAdapter(config, {})
    try:
        result = await adapter.send(OutboundMessage(message_id=message_id, to=PHONE, text="Oferta"))
    finally:
        await adapter.aclose()
    assert result.provider_message_id
    return result.provider_message_id


def test_subscription_challenge(tenant, sim, live_app) -> None:  # noqa: F811
    add_cloud_channel(tenant, sim, verify_token="token-do-meta")
    url = f"{live_app}/api/webhooks/whatsapp-cloud"
    ok = httpx.get(
        url,
        params={"hub.mode": "subscribe", "hub.verify_token": "token-do-meta", "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    wrong = httpx.get(
        url, params={"hub.mode": "subscribe", "hub.verify_token": "outro", "hub.challenge": "1"}
    )
    assert wrong.status_code == 403
    assert (
        httpx.get(
            url, params={"hub.mode": "unsubscribe", "hub.verify_token": "token-do-meta", "hub.challenge": "1"}
        ).status_code
        == 403
    )
    assert httpx.get(url).status_code == 403


def test_inbound_text_creates_a_lead_and_a_conversation(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    response = sim.receive("551187654321", "Olá, quero contratar", name="Maria Souza")
    assert response.status_code == 200, response.text
    [msg] = _messages(tenant.schema)
    assert (msg.body, msg.status, msg.channel_id, msg.kind) == (
        "Olá, quero contratar",
        "received",
        channel_id,
        "text",
    )
    with session(tenant.schema) as db:
        conv = db.get(Conversation, msg.conversation_id)
        assert conv is not None and conv.unread_count == 1 and conv.last_inbound_at is not None
        customer = db.get(Customer, conv.customer_id)
        contact = db.exec(select(Contact).where(Contact.customer_id == conv.customer_id)).one()
    # The 8-digit WhatsApp id of an older Brazilian mobile is stored with its ninth digit.
    assert customer is not None and customer.name == "Maria Souza" and contact.value == PHONE


def test_replayed_webhook_is_ignored(tenant, sim) -> None:
    add_cloud_channel(tenant, sim)
    payload = sim.inbound_payload(PHONE, "Oi", wamid="wamid.replay-1")
    assert sim.post(payload).status_code == 200
    again = sim.post(payload)
    assert again.status_code == 200 and again.json()["ignored"] == 1
    assert len(_messages(tenant.schema)) == 1


def test_media_and_button_replies(tenant, sim) -> None:
    add_cloud_channel(tenant, sim)
    for kind, text in [
        ("image", "foto da fatura"),
        ("document", ""),
        ("button", "Sim"),
        ("interactive", "Plano 500"),
    ]:
        assert sim.receive(PHONE, text, kind=kind).status_code == 200
    rows = _messages(tenant.schema)
    assert [(m.kind, m.body) for m in rows] == [
        ("image", "foto da fatura"),
        ("document", ""),
        ("button", "Sim"),
        ("button", "Plano 500"),
    ]
    assert rows[1].attachments[0]["filename"] == "documento.pdf"
    assert rows[0].attachments[0]["mime_type"] == "image/jpeg"


def test_bad_signature_is_401_and_audited_without_secrets(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    payload = sim.inbound_payload(PHONE, "Oi")
    forged = sim.post(payload, secret="not-the-app-secret")
    assert forged.status_code == 401
    missing = sim.post(payload, signature="")
    assert missing.status_code == 401
    assert _messages(tenant.schema) == []
    rows = audit_rows(tenant.schema, "webhook.rejected")
    assert [r.after["reason"] for r in rows] == ["mismatch", "missing"]
    assert rows[0].entity_id == str(channel_id) and rows[0].after["provider"] == "whatsapp_cloud"
    assert sim.app_secret not in json.dumps([r.after for r in rows])


def test_signature_is_over_the_raw_body(tenant, sim) -> None:
    add_cloud_channel(tenant, sim)
    body = json.dumps(sim.inbound_payload(PHONE, "Olá é ação"), ensure_ascii=False, indent=2).encode()
    assert sim.post(body).status_code == 200
    # The same JSON re-serialised differently no longer matches the signature of the original bytes.
    other = json.dumps(json.loads(body)).encode()
    assert sim.post(other, signature=sim.sign(body)).status_code == 401


def test_malformed_payloads_are_400(tenant, sim) -> None:
    add_cloud_channel(tenant, sim)
    for body in [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"object": "page"}',
        b'{"object": "whatsapp_business_account", "entry": 3}',
        json.dumps(sim.envelope({"messages": [{"id": "x"}]})).encode(),
    ]:
        response = sim.post(body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "bad_request"


def test_unknown_number_is_acknowledged_and_ignored(tenant, sim) -> None:
    add_cloud_channel(tenant, sim)
    response = sim.post(sim.inbound_payload(PHONE, "Oi", wamid="wamid.x") | {}, secret="whatever")
    assert response.status_code == 401  # known number, wrong secret
    unknown = sim.envelope({"messages": []}, phone_number_id="999")
    response = sim.post(unknown)
    assert response.status_code == 200 and response.json() == {"status": "ignored"}


def test_statuses_move_our_message_forward_only(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    assert sim.receive(PHONE, "Oi").status_code == 200  # opens the window and the conversation
    config = WhatsAppCloudConfig(
        phone_number_id=sim.phone_number_id,
        waba_id=sim.waba_id,
        access_token=sim.access_token,
        app_secret=sim.app_secret,
        verify_token="v",
        api_base_url=sim.url,
    )

    async def send() -> str:
        adapter = CloudApiAdapter(config, {})
        try:
            result = await adapter.send(OutboundMessage(message_id=1, to=PHONE, text="Bom dia!"))
        finally:
            await adapter.aclose()
        assert result.ok and result.provider_message_id
        return result.provider_message_id

    wamid = run_async(send())
    [inbound] = _messages(tenant.schema)
    with session(tenant.schema) as db:  # what the outbox records after the send
        db.add(
            Message(
                conversation_id=inbound.conversation_id,
                direction="out",
                body="Bom dia!",
                status="sent",
                provider_message_id=wamid,
                channel_id=channel_id,
                to_address=PHONE,
            )
        )
        db.commit()
    for status in ["delivered", "read", "delivered"]:
        assert sim.report(wamid, status).status_code == 200
    [out] = _messages(tenant.schema, "out")
    assert out.status == "read" and out.delivered_at is not None and out.read_at is not None
    # A status for a message of someone else's (sent outside the CRM) is acknowledged and ignored.
    response = sim.post(sim.status_payload("wamid.not-ours", "delivered"))
    assert response.status_code == 200 and response.json()["ignored"] == 1


def test_status_settles_a_send_whose_answer_was_lost(tenant, sim) -> None:
    """A worker that died between the call and the mark left the row uncertain without a wamid: Meta's
    status echoes our id (`biz_opaque_callback_data`), which records the wamid and settles the row; a
    row already settled as failed for want of a status is revived; another channel's row is not matched."""
    channel_id = add_cloud_channel(tenant, sim)
    assert sim.receive(PHONE, "Oi").status_code == 200
    [inbound] = _messages(tenant.schema)
    with session(tenant.schema) as db:
        rows = [
            Message(
                conversation_id=inbound.conversation_id,
                direction="out",
                body="Oferta",
                status=status,
                error_code=code,
                channel_id=channel_id,
                to_address=PHONE,
            )
            for status, code in (("uncertain", None), ("failed", "uncertain"), ("failed", "131026"))
        ]
        db.add_all(rows)
        db.commit()
        ids = [m.id or 0 for m in rows]
    wamids = [run_async(_send_direct(sim, mid)) for mid in ids]  # the answers are "lost": nothing recorded
    assert sim.sent[wamids[0]].callback == f"crm-msg:{ids[0]}"
    for wamid in wamids:
        assert sim.report(wamid, "delivered").status_code == 200
    with session(tenant.schema) as db:
        got = {m.id: m for m in db.exec(select(Message).where(col(Message.id).in_(ids))).all()}
    assert (got[ids[0]].status, got[ids[0]].provider_message_id) == ("delivered", wamids[0])
    assert (got[ids[1]].status, got[ids[1]].provider_message_id, got[ids[1]].error_code) == (
        "delivered",
        wamids[1],
        None,
    )
    # A final failure for another reason is not a lost answer: left alone.
    assert (got[ids[2]].status, got[ids[2]].provider_message_id) == ("failed", None)
    # The same id on another number's channel matches nothing.
    other = CloudApiSimulator(phone_number_id=str(10**14 + secrets.randbelow(10**14)))
    other.webhook_url = sim.webhook_url
    other_channel = add_cloud_channel(tenant, other, verify_token="outro-token")
    assert other_channel != channel_id
    item = {"id": "wamid.other", "status": "sent", "timestamp": "1", "recipient_id": "5511987654321",
            "biz_opaque_callback_data": f"crm-msg:{ids[2]}"}  # fmt: skip
    response = other.post(other.envelope({"statuses": [item]}))
    assert response.status_code == 200 and response.json()["ignored"] == 1


def test_failed_status_records_the_error_code(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    assert sim.receive(PHONE, "Oi").status_code == 200
    [inbound] = _messages(tenant.schema)
    with session(tenant.schema) as db:
        db.add(
            Message(
                conversation_id=inbound.conversation_id,
                direction="out",
                body="x",
                status="sent",
                provider_message_id="wamid.f1",
                channel_id=channel_id,
                to_address=PHONE,
            )
        )
        db.commit()
    payload = sim.status_payload("wamid.f1", "failed", error_code=131026)
    assert sim.post(payload).status_code == 200
    [out] = _messages(tenant.schema, "out")
    # Screens read pt-BR: a code with a known meaning gets its reason instead of Meta's English title.
    assert (out.status, out.error_code) == ("failed", "131026")
    assert out.error == "O WhatsApp não conseguiu entregar a mensagem a este número (131026)."


def test_stop_keyword_opts_the_number_out(tenant, sim) -> None:
    from app.messaging import consent

    add_cloud_channel(tenant, sim)
    assert sim.receive(PHONE, "SAIR").status_code == 200
    with session(tenant.schema) as db:
        assert consent.is_opted_out(db, "whatsapp", PHONE)


def _sent_message(tenant, sim, channel_id: int, wamid: str) -> None:  # type: ignore[no-untyped-def]
    assert sim.receive(PHONE, "Oi").status_code == 200
    [inbound] = _messages(tenant.schema)
    with session(tenant.schema) as db:
        db.add(
            Message(
                conversation_id=inbound.conversation_id,
                direction="out",
                body="Promoção",
                status="sent",
                provider_message_id=wamid,
                channel_id=channel_id,
                to_address=PHONE,
            )
        )
        db.commit()


def test_spam_rate_failure_pauses_the_number(tenant, sim) -> None:
    from app.messaging.governor import get_governor
    from app.messaging.limits import identity_for
    from tests.integration.messaging.whatsapp_support import channel

    channel_id = add_cloud_channel(tenant, sim)
    _sent_message(tenant, sim, channel_id, "wamid.spam")
    assert sim.post(sim.status_payload("wamid.spam", "failed", error_code=131048)).status_code == 200
    row = channel(tenant.schema, channel_id)
    assert row.status == "paused" and "131048" in (row.status_detail or "")
    identity = identity_for(
        tenant.schema,
        channel_id,
        WhatsAppCloudConfig(
            phone_number_id="x", waba_id="x", access_token="x", app_secret="x", verify_token="x"
        ),
    )
    assert get_governor().usage(identity, 0.0)["paused"]
    assert [r.after["error_code"] for r in audit_rows(tenant.schema, "channel.ban_signal")] == ["131048"]
    # The admins are alerted in the app (the bell).
    from tests.integration.messaging.whatsapp_support import channel_alerts

    alerts = channel_alerts(tenant.schema, channel_id)
    assert len(alerts) == 1 and alerts[0][1].startswith("Número pausado")

    # An admin resumes the channel: the governor's pause of the number goes with it (audited).
    from app.messaging import channels

    with session(tenant.schema) as db:
        channels.update_channel(
            db, tenant.actor("admin"), channel_id, channels.ChannelUpdate(status="active")
        )
        db.commit()
    assert channel(tenant.schema, channel_id).status == "active"
    assert not get_governor().usage(identity, 0.0)["paused"]
    [resumed] = audit_rows(tenant.schema, "channel.resume")
    assert "131048" in resumed.before["governor_paused"]  # type: ignore[index]


def test_marketing_opt_out_suppresses_the_recipient(tenant, sim) -> None:
    from app.messaging import consent

    channel_id = add_cloud_channel(tenant, sim)
    _sent_message(tenant, sim, channel_id, "wamid.blocked")
    assert sim.post(sim.status_payload("wamid.blocked", "failed", error_code=131050)).status_code == 200
    with session(tenant.schema) as db:
        assert consent.is_opted_out(db, "whatsapp", PHONE)


def test_required_parameter_missing_fails_the_message_only(tenant, sim) -> None:
    """131008 is Meta's "required parameter is missing": our request's fault, not the recipient's."""
    from app.messaging import consent

    channel_id = add_cloud_channel(tenant, sim)
    _sent_message(tenant, sim, channel_id, "wamid.param")
    assert sim.post(sim.status_payload("wamid.param", "failed", error_code=131008)).status_code == 200
    [msg] = _messages(tenant.schema, "out")
    assert (msg.status, msg.error_code) == ("failed", "131008")
    assert msg.error and msg.error.startswith("Faltou um parâmetro obrigatório")
    with session(tenant.schema) as db:
        assert not consent.is_opted_out(db, "whatsapp", PHONE)


def test_a_payload_for_two_numbers_applies_nothing_unless_both_verify(tenant, make_tenant, sim) -> None:
    other_tenant = make_tenant()
    add_cloud_channel(tenant, sim)
    with running(
        phone_number_id=str(10**14 + secrets.randbelow(10**14)), app_secret="outro-segredo"
    ) as other:
        add_cloud_channel(other_tenant, other)
        first, second = sim.inbound_payload(PHONE, "Oi"), other.inbound_payload(PHONE, "Olá")
        both = {"object": "whatsapp_business_account", "entry": first["entry"] + second["entry"]}
        assert sim.post(both).status_code == 401  # signed with the first number's secret only
        assert _messages(tenant.schema) == [] and _messages(other_tenant.schema) == []
        assert audit_rows(other_tenant.schema, "webhook.rejected")


def test_status_stamps_its_claim_and_the_reaper_gives_back_the_rest_of_the_chunk(tenant, sim) -> None:
    """A worker claimed three sends in one chunk and died after the first left: that one's status settles
    it and stamps the number with the chunk's claim (`statuses_claimed_us`), merged atomically so a
    writer holding an older copy of the state (number health) neither loses it nor is lost; a settling
    period after the claim the reaper re-queues the two that never left (never the settled one)."""
    from sqlalchemy import text

    from app.messaging import channel_state, outbox
    from models.tenant import Channel

    channel_id = add_cloud_channel(tenant, sim)
    assert sim.receive(PHONE, "Oi").status_code == 200
    [inbound] = _messages(tenant.schema)
    settle = outbox.get_settings().outbox_uncertain_seconds
    with session(tenant.schema) as db:
        rows = [
            Message(
                conversation_id=inbound.conversation_id,
                direction="out",
                body="Oferta",
                status="uncertain",
                channel_id=channel_id,
                to_address=PHONE,
                worker_id="dead",
            )
            for _ in range(3)
        ]
        db.add_all(rows)
        db.flush()
        ids = [m.id or 0 for m in rows]
        db.execute(
            text(
                f"UPDATE {tenant.schema}.messages SET claimed_at = now() - make_interval(secs => :age) "
                "WHERE id = ANY(:ids)"
            ),
            {"age": 1.5 * settle, "ids": ids},
        )
        db.commit()
        claim_us = db.execute(
            text(
                f"SELECT (extract(epoch FROM claimed_at) * 1000000)::bigint FROM {tenant.schema}.messages "
                "WHERE id = :id"
            ),
            {"id": ids[0]},
        ).scalar_one()
    wamid = run_async(_send_direct(sim, ids[0]))  # the answer is lost with the worker
    with session(tenant.schema) as stale_db:
        stale = stale_db.get(Channel, channel_id)  # read before the status arrives
        assert stale is not None and "statuses_claimed_us" not in (stale.state or {})
        assert sim.report(wamid, "sent").status_code == 200
        channel_state.merge(stale_db, stale, {"health": {"level": "ok"}})
        stale_db.commit()
    with session(tenant.schema) as db:
        state = db.get(Channel, channel_id).state  # type: ignore[union-attr]
    assert state["statuses_claimed_us"] == claim_us and state["health"] == {"level": "ok"}
    outbox.reap(tenant.schema)
    with session(tenant.schema) as db:
        got = {m.id: m.status for m in db.exec(select(Message).where(col(Message.id).in_(ids))).all()}
    assert got == {ids[0]: "sent", ids[1]: "queued", ids[2]: "queued"}
