"""Resend webhooks over real HTTP: the simulator signs events the Svix way and POSTs them to the app."""

import json
import time
import uuid

import httpx
from sqlmodel import select

from app.messaging import consent
from app.messaging.adapters.resend_email import ResendAdapter
from app.messaging.kinds import ResendConfig
from app.messaging.protocol import OutboundMessage, Outcome
from app.messaging.webhook_routes import route_key
from models.tenant import AuditLog
from tenants.database import session
from tests.integration.messaging.conftest import MailTenant, add_channel, message, outbound_message
from tests.simulators.resend import ResendSimulator, new_webhook_secret, svix_sign


async def _sent(sim: ResendSimulator, to: str) -> str:
    adapter = ResendAdapter(
        ResendConfig(api_key="re_test_key", from_email="contato@loja.example", api_base_url=sim.url), {}
    )
    result = await adapter.send(
        OutboundMessage(message_id=1, to=to, subject="Oi", text="Olá", idempotency_key=uuid.uuid4().hex)
    )
    assert result.outcome is Outcome.SENT and result.provider_message_id
    return result.provider_message_id


def _url(live_url: str, t: MailTenant, channel_id: int | None = None) -> str:
    return f"{live_url}/api/webhooks/resend/{route_key(t.handle.id, channel_id or t.resend.id or 0)}"


async def test_signed_events_move_the_message_and_replays_are_ignored(
    live_url: str, mail_tenant: MailTenant, resend_sim: ResendSimulator
) -> None:
    t = mail_tenant
    to = f"ana-{uuid.uuid4().hex[:6]}@cliente.example"
    email_id = await _sent(resend_sim, to)
    msg_id = outbound_message(t.schema, t.admin, t.resend, to, email_id)
    url = _url(live_url, t)

    r = resend_sim.post_webhook(
        url,
        t.webhook_secret,
        "email.delivered",
        resend_sim.email_event(email_id, "email.delivered"),
        msg_id="msg_deliv1",
    )
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
    row = message(t.schema, msg_id)
    assert row.status == "delivered" and row.delivered_at is not None
    # The same svix-id again (Svix retries until it gets a 2xx): acknowledged, nothing applied.
    again = resend_sim.post_webhook(
        url,
        t.webhook_secret,
        "email.clicked",
        resend_sim.email_event(email_id, "email.clicked"),
        msg_id="msg_deliv1",
    )
    assert again.status_code == 200 and again.json() == {"status": "ignored"}
    assert message(t.schema, msg_id).status == "delivered"
    clicked = resend_sim.post_webhook(
        url, t.webhook_secret, "email.clicked", resend_sim.email_event(email_id, "email.clicked")
    )
    assert clicked.json() == {"status": "ok"}
    assert message(t.schema, msg_id).status == "read"
    delayed = resend_sim.post_webhook(
        url,
        t.webhook_secret,
        "email.delivery_delayed",
        resend_sim.email_event(email_id, "email.delivery_delayed"),
    )
    assert delayed.json() == {"status": "ok"} and message(t.schema, msg_id).status == "read"
    other = resend_sim.post_webhook(url, t.webhook_secret, "contact.created", {"id": "c1"})
    assert other.status_code == 200 and other.json() == {"status": "ignored"}


async def test_a_hard_bounce_fails_the_message_and_opts_the_address_out(
    live_url: str, mail_tenant: MailTenant, resend_sim: ResendSimulator
) -> None:
    t = mail_tenant
    to = f"nao-existe-{uuid.uuid4().hex[:6]}@cliente.example"
    email_id = await _sent(resend_sim, to)
    msg_id = outbound_message(t.schema, t.admin, t.resend, to, email_id)
    r = resend_sim.post_webhook(
        _url(live_url, t),
        t.webhook_secret,
        "email.bounced",
        resend_sim.email_event(email_id, "email.bounced"),
    )
    assert r.status_code == 200, r.text
    row = message(t.schema, msg_id)
    assert (
        row.status == "failed" and row.error_code == "bounce-permanent" and "hard bounce" in (row.error or "")
    )
    with session(t.schema) as db:
        assert consent.is_opted_out(db, "email", to)


async def test_bad_signatures_are_401_and_audited_without_secrets(
    live_url: str, mail_tenant: MailTenant, resend_sim: ResendSimulator
) -> None:
    t = mail_tenant
    url = _url(live_url, t)
    data = {"email_id": "x", "to": ["a@b.example"]}
    forged = resend_sim.post_webhook(url, new_webhook_secret(), "email.delivered", data, msg_id="msg_forged")
    stale = resend_sim.post_webhook(
        url, t.webhook_secret, "email.delivered", data, timestamp=int(time.time()) - 301
    )
    future = resend_sim.post_webhook(
        url, t.webhook_secret, "email.delivered", data, timestamp=int(time.time()) + 400
    )
    unsigned = httpx.post(url, json={"type": "email.delivered", "data": data}, timeout=10)
    assert [r.status_code for r in (forged, stale, future, unsigned)] == [401] * 4
    assert forged.json()["error"] == "unauthorized"
    with session(t.schema) as db:
        rows = db.exec(
            select(AuditLog).where(AuditLog.action == "webhook.rejected").order_by(AuditLog.id)
        ).all()
    assert len(rows) == 4
    assert rows[0].entity == "channel" and rows[0].entity_id == str(t.resend.id) and rows[0].ip == "127.0.0.1"
    reasons = [r.after["reason"] for r in rows]
    assert reasons[0] == "no matching v1 signature" and "too old" in reasons[1] and "future" in reasons[2]
    dump = json.dumps([r.after for r in rows])
    assert t.webhook_secret not in dump and t.webhook_secret.removeprefix("whsec_") not in dump
    # A replay window can't be filled by unauthenticated posts: the forged id is still free.
    with session(t.schema) as db:
        from app.messaging.inbound import already_seen

        assert already_seen(db, "resend", "msg_forged") is False
        db.rollback()


async def test_malformed_unknown_and_oversized(
    live_url: str, mail_tenant: MailTenant, resend_sim: ResendSimulator
) -> None:
    t = mail_tenant
    url = _url(live_url, t)
    for body in (b"{not json", b'{"type": "email.delivered", "data": {}}', b"[1, 2]"):
        ts = int(time.time())
        r = resend_sim.post_webhook(url, t.webhook_secret, "", {}, body=body, msg_id="msg_bad", timestamp=ts)
        assert r.status_code == 400, (body, r.text)
    # Unknown keys, other tenants' keys, other kinds of channel: the same 404.
    smtp = add_channel(
        t.schema, "smtp", {"host": "127.0.0.1", "from_email": "a@loja.example"}, {"password": "x"}
    )
    for key in (
        "abc",
        "0-1",
        f"{t.handle.id}-999999",
        f"{t.handle.id + 100000}-{t.resend.id}",
        f"{t.handle.id}-{smtp.id}",
    ):
        r = resend_sim.post_webhook(
            f"{live_url}/api/webhooks/resend/{key}", t.webhook_secret, "email.sent", {"email_id": "x"}
        )
        assert r.status_code == 404 and r.json()["error"] == "not_found", key
    huge = b'{"type": "email.sent", "data": {"email_id": "x", "pad": "' + b"x" * 300_000 + b'"}}'
    ts = int(time.time())
    r = httpx.post(
        url,
        content=huge,
        headers={
            "svix-id": "m",
            "svix-timestamp": str(ts),
            "svix-signature": svix_sign(t.webhook_secret, "m", ts, huge),
        },
        timeout=10,
    )
    assert r.status_code == 413


async def test_a_channel_without_a_webhook_secret_refuses_everything(
    live_url: str, mail_tenant: MailTenant, resend_sim: ResendSimulator
) -> None:
    t = mail_tenant
    bare = add_channel(t.schema, "resend", {"from_email": "b@loja.example"}, {"api_key": "re_test_key"})
    r = resend_sim.post_webhook(
        _url(live_url, t, bare.id), "", "email.sent", {"email_id": "x"}, signature="v1,AAAA"
    )
    assert r.status_code == 401
