"""A Cloud API number's health (issue 19): Meta's quality webhooks, posted signed over HTTP by the Cloud
API simulator and routed by WABA id and display number, and the failed share of the number's recent
sends (a controlled clock), slow or stop the number through the governor's policy and pause, alert the
admins, show on the monitoring snapshot and are audited; another organisation's WABA never interferes."""

import secrets
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import col, select

from app.messaging import channels, health, number_signals
from app.messaging.governor import get_governor
from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.limits import identity_for, policy_for
from models.base import utcnow
from models.tenant import Channel, Message, Notification
from tenants.database import session
from tests.integration.messaging.whatsapp_support import (  # noqa: F401
    add_cloud_channel,
    audit_rows,
    channel,
    channel_alerts,
    live_app,
)
from tests.simulators.whatsapp_cloud import CloudApiSimulator, running

PHONE = "+5511987654321"


def _sim(live_app: str, **kwargs: object) -> Iterator[CloudApiSimulator]:  # noqa: F811
    # Numbers and WABAs are platform-wide routes: fresh ids per test.
    with running(
        phone_number_id=str(10**14 + secrets.randbelow(10**14)),
        waba_id=str(10**14 + secrets.randbelow(10**14)),
        pair_window=0.0,
        **kwargs,  # type: ignore[arg-type]
    ) as s:
        s.webhook_url = f"{live_app}/api/webhooks/whatsapp-cloud"
        yield s


@pytest.fixture
def sim(live_app: str) -> Iterator[CloudApiSimulator]:  # noqa: F811
    yield from _sim(live_app)


@pytest.fixture
def other_sim(live_app: str) -> Iterator[CloudApiSimulator]:  # noqa: F811
    yield from _sim(live_app, app_secret="outro-app-secret", display_phone="+55 21 3000-0000")


def _policy(schema: str, channel_id: int):  # type: ignore[no-untyped-def]
    row = channel(schema, channel_id)
    config = WhatsAppCloudConfig.model_construct(**row.config)
    return policy_for(config, row.created_at, state=row.state)


def _identity(schema: str, channel_id: int) -> str:
    return identity_for(schema, channel_id, WhatsAppCloudConfig.model_construct())


def _read_alerts(schema: str) -> None:
    with session(schema) as db:
        for n in db.exec(select(Notification).where(col(Notification.read_at).is_(None))).all():
            n.read_at = utcnow()
            db.add(n)
        db.commit()


def _set_tier(schema: str, channel_id: int, tier: int | None) -> None:
    with session(schema) as db:
        row = db.get(Channel, channel_id)
        assert row is not None
        row.config = {**row.config, "daily_unique_recipients": tier, "messages_per_second": 80}
        db.add(row)
        db.commit()


def test_flagged_slows_the_number_and_unflagged_restores_it(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    _set_tier(tenant.schema, channel_id, 100_000)
    before = _policy(tenant.schema, channel_id)
    assert (before.rate_per_s, before.unique_recipients_24h) == (80, 100_000)

    response = sim.report_quality("FLAGGED", "TIER_10K")
    assert response.status_code == 200 and response.json()["applied"] == 1, response.text
    flagged = _policy(tenant.schema, channel_id)
    # Half the rate, and the tier held at Meta's current one (below the configured 100k).
    assert (flagged.rate_per_s, flagged.unique_recipients_24h) == (40, 10_000)
    [alert] = channel_alerts(tenant.schema, channel_id)
    assert alert[1].startswith("Saúde do número") and "Sinalizado" in alert[1]
    [audit] = audit_rows(tenant.schema, "channel.health")
    assert audit.before["level"] == "healthy" and audit.after["level"] == "flagged"  # type: ignore[index]

    # The monitoring snapshot shows it.
    with session(tenant.schema) as db:
        snap = health.snapshot(db, tenant.actor("admin"))
    row = next(i for i in snap.identities if i.channel_id == channel_id)
    assert (row.health, row.meta_limit, row.rate_per_s, row.tier) == ("flagged", "TIER_10K", 40, 10_000)

    _read_alerts(tenant.schema)
    assert sim.report_quality("UNFLAGGED", "TIER_10K").status_code == 200
    restored = _policy(tenant.schema, channel_id)
    assert (restored.rate_per_s, restored.unique_recipients_24h) == (80, 10_000)
    assert len(channel_alerts(tenant.schema, channel_id)) == 1  # getting better alerts nobody
    assert sim.report_quality("UPGRADE", "TIER_UNLIMITED").status_code == 200
    assert _policy(tenant.schema, channel_id).unique_recipients_24h == 100_000  # the admin's own cap
    # The audit keeps what changed: the level twice, then only Meta's tier.
    rows = audit_rows(tenant.schema, "channel.health")
    assert [(a.after or {}).get("level") for a in rows] == ["flagged", "healthy", None]
    assert (rows[2].after or {})["current_limit"] == "TIER_UNLIMITED"


def test_downgrade_lowers_the_tier_and_alerts(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    _set_tier(tenant.schema, channel_id, None)  # unlimited by configuration
    assert sim.report_quality("UPGRADE", "TIER_10K").status_code == 200
    assert _policy(tenant.schema, channel_id).unique_recipients_24h == 10_000
    assert channel_alerts(tenant.schema, channel_id) == []
    assert sim.report_quality("DOWNGRADE", "TIER_1K").status_code == 200
    policy = _policy(tenant.schema, channel_id)
    assert (policy.unique_recipients_24h, policy.rate_per_s) == (1_000, 80)
    [(_, title)] = channel_alerts(tenant.schema, channel_id)
    assert title.startswith("Saúde do número")
    with session(tenant.schema) as db:
        body = db.exec(select(Notification.body).where(Notification.ref_id == channel_id)).one()
    assert "1.000 destinatários" in body


def test_quality_update_with_a_bad_signature_is_refused_and_audited(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    payload = sim.quality_payload("FLAGGED", "TIER_250")
    assert sim.post(payload, secret="nao-e-o-segredo").status_code == 401
    assert sim.post(payload, signature="").status_code == 401
    reasons = [r.after["reason"] for r in audit_rows(tenant.schema, "webhook.rejected")]  # type: ignore[index]
    assert reasons == ["mismatch", "missing"]
    assert audit_rows(tenant.schema, "channel.health") == []
    assert _policy(tenant.schema, channel_id).rate_per_s == 80
    assert channel_alerts(tenant.schema, channel_id) == []


def test_quality_update_next_to_messages_in_one_payload(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    sim.open_window(PHONE[1:])
    payload = sim.inbound_payload(PHONE, "Oi")
    payload["entry"] += sim.quality_payload("FLAGGED", "TIER_1K")["entry"]
    response = sim.post(payload)
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert channel(tenant.schema, channel_id).state["health"]["quality"] == "flagged"
    with session(tenant.schema) as db:
        assert db.exec(select(Message).where(Message.direction == "in")).first() is not None


def test_unknown_waba_or_number_is_acknowledged_and_ignored(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    unknown = sim.report_quality("FLAGGED", waba_id="999999999999999")
    assert unknown.status_code == 200 and unknown.json()["status"] == "ignored"
    other_number = sim.report_quality("FLAGGED", display_phone="+55 11 4999-9999")
    assert other_number.status_code == 200 and other_number.json()["status"] == "ignored"
    assert audit_rows(tenant.schema, "channel.health") == []
    assert _policy(tenant.schema, channel_id).rate_per_s == 80


def test_another_tenants_waba_never_touches_ours(make_tenant, sim, other_sim) -> None:
    ours, theirs = make_tenant(), make_tenant()
    our_channel = add_cloud_channel(ours, sim)
    their_channel = add_cloud_channel(theirs, other_sim)
    # Their WABA's update changes their number only.
    assert other_sim.report_quality("FLAGGED", "TIER_250").status_code == 200
    assert channel(theirs.schema, their_channel).state["health"]["quality"] == "flagged"
    assert "health" not in (channel(ours.schema, our_channel).state or {})
    assert audit_rows(ours.schema, "channel.health") == []

    # A channel of theirs claiming OUR WABA id and display number (with their own app secret): our
    # signed update applies to us, is refused (audited) for them, and is not refused as a whole.
    with session(theirs.schema) as db:
        row = db.get(Channel, their_channel)
        assert row is not None
        row.config = {**row.config, "waba_id": sim.waba_id, "display_phone": sim.display_phone}
        db.add(row)
        db.commit()
    from models.platform import ChannelRoute
    from tenants.database import platform_session

    with platform_session() as pdb:
        route = pdb.exec(
            select(ChannelRoute).where(ChannelRoute.external_id == other_sim.phone_number_id)
        ).one()
        route.waba_id = sim.waba_id
        pdb.add(route)
        pdb.commit()
    response = sim.report_quality("FLAGGED", "TIER_1K")
    assert response.status_code == 200 and response.json()["applied"] == 1
    assert channel(ours.schema, our_channel).state["health"]["quality"] == "flagged"
    assert channel(theirs.schema, their_channel).state["health"]["current_limit"] == "TIER_250"
    assert [r.after["reason"] for r in audit_rows(theirs.schema, "webhook.rejected")] == [  # type: ignore[index]
        "mismatch"
    ]
    assert audit_rows(ours.schema, "webhook.rejected") == []


def _outcomes(schema: str, channel_id: int, at, sent: int, failed: int, code: str = "131026") -> None:  # type: ignore[no-untyped-def]
    """Outbound messages of the number with their outcome at `at` (sent, or failed after sending)."""
    from models.tenant import Conversation, Customer

    with session(schema) as db:
        customer = Customer(name="Cliente Falhas")
        db.add(customer)
        db.flush()
        conv = Conversation(customer_id=customer.id or 0, channel="whatsapp", channel_id=channel_id)
        db.add(conv)
        db.flush()
        for i in range(sent + failed):
            ok = i < sent
            db.add(
                Message(
                    conversation_id=conv.id or 0,
                    direction="out",
                    body="Oferta",
                    status="sent" if ok else "failed",
                    channel_id=channel_id,
                    to_address=PHONE,
                    sent_at=at,
                    failed_at=None if ok else at,
                    error_code=None if ok else code,
                )
            )
        db.commit()


def _check(schema: str, channel_id: int, now):  # type: ignore[no-untyped-def]
    with session(schema) as db:
        row = db.get(Channel, channel_id)
        assert row is not None
        result = number_signals.check_failures(db, row, now)
        db.commit()
    return result


def test_failure_rate_slows_then_pauses_the_number(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    identity = _identity(tenant.schema, channel_id)
    get_governor().resume(identity)
    t0 = utcnow()
    # Two hours ago a bad list: outside the window, it says nothing now.
    _outcomes(tenant.schema, channel_id, t0 - timedelta(hours=2), sent=10, failed=90)
    assert _check(tenant.schema, channel_id, t0).failures == "ok"
    # Too few sends within the hour to judge: 5 of 10 failed.
    _outcomes(tenant.schema, channel_id, t0 - timedelta(minutes=30), sent=5, failed=5)
    assert _check(tenant.schema, channel_id, t0).failures == "ok"
    # Opt-outs and closed windows are not the number's health: 40 of them change nothing.
    _outcomes(tenant.schema, channel_id, t0 - timedelta(minutes=20), sent=60, failed=40, code="131050")
    assert _check(tenant.schema, channel_id, t0).failures == "ok"
    # 15 undeliverable more: 20 counted failures of 185 sends within the hour (10.8 %): slowed.
    _outcomes(tenant.schema, channel_id, t0 - timedelta(minutes=10), sent=60, failed=15)
    slowed = _check(tenant.schema, channel_id, t0)
    assert slowed.failures == "slowed" and slowed.sample == 185
    assert _policy(tenant.schema, channel_id).rate_per_s == 40
    assert not get_governor().usage(identity, t0.timestamp())["paused"]
    [alert] = channel_alerts(tenant.schema, channel_id)
    assert "Desacelerado" in alert[1]
    _read_alerts(tenant.schema)

    # Another 60 failures a minute later: 80 of 245 (32.7 %) — paused in the governor and on the channel.
    t1 = t0 + timedelta(minutes=1)
    _outcomes(tenant.schema, channel_id, t1, sent=0, failed=60)
    paused = _check(tenant.schema, channel_id, t1)
    assert paused.failures == "paused" and paused.level == "restricted"
    assert "failure rate" in get_governor().usage(identity, t1.timestamp())["paused"]
    row = channel(tenant.schema, channel_id)
    assert row.status == "paused" and "falharam" in (row.status_detail or "")
    assert len(channel_alerts(tenant.schema, channel_id)) == 2
    assert [a.after["level"] for a in audit_rows(tenant.schema, "channel.health")] == [  # type: ignore[index]
        "slowed",
        "restricted",
    ]

    # An admin resumes: the pause goes, and only sends after the resume count from then on.
    with session(tenant.schema) as db:
        channels.update_channel(
            db, tenant.actor("admin"), channel_id, channels.ChannelUpdate(status="active")
        )
        db.commit()
    assert not get_governor().usage(identity, t1.timestamp())["paused"]
    after = channel(tenant.schema, channel_id).state["health"]
    assert after["failures"] == "ok" and after["counted_from"]
    assert _check(tenant.schema, channel_id, utcnow() + timedelta(seconds=1)).failures == "ok"


def test_failure_rate_recovers_from_slowed(tenant, sim) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    t0 = utcnow()
    _outcomes(tenant.schema, channel_id, t0 - timedelta(minutes=5), sent=80, failed=20)
    assert _check(tenant.schema, channel_id, t0).failures == "slowed"
    # An hour later those failures left the window; new clean sends bring the number back.
    t1 = t0 + timedelta(hours=1)
    _outcomes(tenant.schema, channel_id, t1 - timedelta(minutes=1), sent=100, failed=2)
    recovered = _check(tenant.schema, channel_id, t1)
    assert recovered.failures == "ok" and recovered.level == "healthy"
    assert _policy(tenant.schema, channel_id).rate_per_s == 80
    assert [a.after["level"] for a in audit_rows(tenant.schema, "channel.health")] == [  # type: ignore[index]
        "slowed",
        "healthy",
    ]


def test_outbox_sends_feed_the_failure_rate(tenant, sim) -> None:
    """Real sends through the outbox to the simulator: numbers Meta cannot deliver to (131026) slow the
    number after the batch's marks, and a worse batch pauses it."""
    import asyncio

    from app.messaging import outbox
    from models.tenant import Conversation, Customer

    channel_id = add_cloud_channel(tenant, sim)
    identity = _identity(tenant.schema, channel_id)
    get_governor().resume(identity)
    with session(tenant.schema) as db:
        customer = Customer(name="Lista de Campanha")
        db.add(customer)
        db.flush()
        conv = Conversation(customer_id=customer.id or 0, channel="whatsapp", channel_id=channel_id)
        db.add(conv)
        db.commit()
        conv_id = conv.id or 0

    def send(first: int, n: int, bad: int) -> None:
        phones = [f"+55119{first + i:08d}" for i in range(n)]
        for i, phone in enumerate(phones):
            sim.open_window(phone[1:])
            if i >= n - bad:  # a failure is what triggers the check: the bad ones come last
                sim.undeliverable.add(phone[1:])
        with session(tenant.schema) as db:
            row = db.get(Channel, channel_id)
            assert row is not None
            for phone in phones:
                outbox.queue_message(
                    db, conversation_id=conv_id, channel=row, to_address=phone, body="Oferta"
                )
            db.info.pop("enqueue_after_commit", None)  # the test drives delivery
            db.commit()
        asyncio.run(outbox.deliver(tenant.schema))

    send(10_000, 60, bad=10)  # 10 of 60 failed: 16.7 %
    row = channel(tenant.schema, channel_id)
    assert row.state["health"]["failures"] == "slowed" and row.status == "active"
    assert _policy(tenant.schema, channel_id).rate_per_s == 40
    send(20_000, 40, bad=30)  # 40 of 100: 40 %
    row = channel(tenant.schema, channel_id)
    assert row.state["health"]["failures"] == "paused" and row.status == "paused"
    assert get_governor().usage(identity, utcnow().timestamp())["paused"]
    with session(tenant.schema) as db:
        rows = db.exec(
            select(Message.status, Message.error_code).where(Message.channel_id == channel_id)
        ).all()
    failed = [code for status, code in rows if status == "failed"]
    waiting = [status for status, _ in rows if status not in ("failed", "sent")]
    # The pause came at the marks of the round's first chunk (10 good, the rest undeliverable): what
    # was left of the batch was never sent and waits for an admin's resume.
    chunk = outbox.CLAIM_CHUNK
    assert set(failed) == {"131026"} and len(failed) == 10 + (chunk - 10)
    assert len(waiting) == 40 - chunk and set(waiting) == {"queued"}
