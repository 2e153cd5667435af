"""The outbox on real PostgreSQL: delivery through the sandbox, idempotency, exactly once under two
concurrent workers, lease expiry, uncertain sends never resent, consent re-checked at send time."""

import asyncio
import threading
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from app.messaging import channels, consent, outbox
from app.messaging.adapters import sandbox
from models.tenant import Channel, Conversation, Message
from tenants.database import session
from tests.integration.crm.conftest import Crm, new_customer


def _setup(crm: Crm, *, config: dict | None = None, status: str = "active") -> tuple[int, int, str]:
    """A committed sandbox channel and a customer's conversation; returns (channel, conversation, phone)."""
    phone = "+55119" + str(uuid.uuid4().int)[:8]
    with session(crm.schema) as db:
        channel = channels.create_channel(
            db,
            crm.admin,
            channels.ChannelIn(kind="sandbox_whatsapp", name=f"Sandbox {phone}", config=config or {}),
        )
        if status != "active":
            channel.status = status
            db.add(channel)
        customer = new_customer(db, crm.admin, contacts=[{"kind": "whatsapp", "value": phone}])
        conv = Conversation(customer_id=customer.id, channel="whatsapp", channel_id=channel.id)
        db.add(conv)
        db.commit()
        return channel.id or 0, conv.id or 0, phone


def _queue(crm: Crm, channel_id: int, conv_id: int, phone: str, n: int = 1, **kw: object) -> list[int]:
    with session(crm.schema) as db:
        channel = db.get(Channel, channel_id)
        assert channel is not None
        ids = [
            outbox.queue_message(
                db, conversation_id=conv_id, channel=channel, to_address=phone, body=f"Olá {i}", **kw
            ).id
            or 0
            for i in range(n)
        ]
        # The tests drive delivery themselves.
        db.info.pop("enqueue_after_commit", None)
        db.commit()
    return ids


def _statuses(db: Session, ids: list[int]) -> Counter[str]:
    return Counter(db.exec(select(Message.status).where(Message.id.in_(ids))).all())  # type: ignore[attr-defined]


def _recorded(phone: str) -> Counter[int]:
    return Counter(m.message_id for m in list(sandbox.RECORDED) if m.to == phone)


def test_queue_kicks_delivery_after_commit(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm)
    with session(crm.schema) as db:
        channel = db.get(Channel, channel_id)
        assert channel is not None
        msg = outbox.queue_message(db, conversation_id=conv_id, channel=channel, to_address=phone, body="Oi")
        kicks = list(db.info.get("enqueue_after_commit", []))
        db.rollback()
    assert kicks == [(outbox.DELIVER_TASK, (crm.schema,), {})]
    with session(crm.schema) as db:
        assert db.get(Message, msg.id) is None  # rolled back: nothing queued, nothing kicked


def test_deliver_sends_once_through_the_sandbox(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm)
    ids = _queue(crm, channel_id, conv_id, phone, 3)
    report = asyncio.run(outbox.deliver(crm.schema))
    assert report.sent >= 3
    with session(crm.schema) as db:
        rows = db.exec(select(Message).where(Message.id.in_(ids))).all()  # type: ignore[attr-defined]
        # The sandbox reports delivered and read like a provider's webhooks would.
        assert {m.status for m in rows} == {"read"}
        assert all(m.provider_message_id and m.provider_message_id.startswith("sandbox-") for m in rows)
        assert all(m.attempts == 1 and m.sent_at and m.delivered_at and m.read_at for m in rows)
        assert all(m.lease_until is None for m in rows)
    assert _recorded(phone) == Counter({i: 1 for i in ids})
    # Nothing left: a second run sends nothing again.
    asyncio.run(outbox.deliver(crm.schema))
    assert _recorded(phone) == Counter({i: 1 for i in ids})


def test_idempotency_key_returns_the_first_row(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm)
    key = "k-" + uuid.uuid4().hex
    first = _queue(crm, channel_id, conv_id, phone, idempotency_key=key)
    second = _queue(crm, channel_id, conv_id, phone, idempotency_key=key)
    assert first == second


def test_two_concurrent_workers_send_each_message_exactly_once(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm)
    n = 3000
    with session(crm.schema) as db:
        # Set-based insert: the test is about the reservation, not about queueing one by one.
        db.execute(
            text(
                f"INSERT INTO {crm.schema}.messages (conversation_id, direction, body, status, channel_id, "
                "kind, to_address, next_attempt_at, attachments, variables) "
                "SELECT :conv, 'out', 'Olá ' || g, 'queued', :ch, 'text', :to, now(), '[]', '{}' "
                "FROM generate_series(1, :n) g"
            ),
            {"conv": conv_id, "ch": channel_id, "to": phone, "n": n},
        )
        db.commit()
        ids = list(
            db.exec(
                select(Message.id).where(Message.channel_id == channel_id, Message.direction == "out")
            ).all()
        )
    reports: list[outbox.DeliveryReport] = []
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        start.wait()
        reports.append(asyncio.run(outbox.deliver(crm.schema, worker_id=name, limit=100)))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    recorded = _recorded(phone)
    assert len(recorded) == n and set(recorded.values()) == {1}
    assert all(r.sent > 0 for r in reports), "both workers took a share"
    with session(crm.schema) as db:
        assert _statuses(db, [i for i in ids if i]) == Counter({"read": n})
    print(f"\noutbox: {n} sandbox messages, 2 workers: {n / elapsed:.0f} msg/s")


def test_expired_lease_is_requeued_and_its_worker_cannot_send(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm)
    ids = _queue(crm, channel_id, conv_id, phone, 2)
    dead = "dead-" + uuid.uuid4().hex[:6]
    taken = outbox.reserve(crm.schema, dead, lease_seconds=0.2)
    assert set(ids) <= {h.id for h in taken}
    time.sleep(0.4)
    assert outbox.reap(crm.schema) >= 2
    with session(crm.schema) as db:
        assert _statuses(db, ids) == Counter({"queued": 2})
    # The slow worker wakes up after the reaper took its rows back: it claims nothing.
    batches, report = outbox._claim(crm.schema, taken, dead)
    assert batches == {} and report.lost_lease >= 2
    asyncio.run(outbox.deliver(crm.schema))
    assert _recorded(phone) == Counter({i: 1 for i in ids})


def test_uncertain_sends_are_never_resent(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm)
    ids = _queue(crm, channel_id, conv_id, phone, 2)
    dead = "dead-" + uuid.uuid4().hex[:6]
    taken = outbox.reserve(crm.schema, dead, lease_seconds=0.2)
    # Claimed (the provider call may have left), then the worker dies before marking.
    batches, _ = outbox._claim(crm.schema, taken, dead)
    assert batches
    time.sleep(0.4)
    outbox.reap(crm.schema)
    asyncio.run(outbox.deliver(crm.schema))
    with session(crm.schema) as db:
        assert _statuses(db, ids) == Counter({"uncertain": 2})
    assert _recorded(phone) == Counter()


def test_consent_is_rechecked_at_send_time(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm)
    ids = _queue(crm, channel_id, conv_id, phone, 1)
    with session(crm.schema) as db:
        # Opted out after the message was queued (the customer answered "SAIR").
        consent.opt_out(db, medium="whatsapp", address=phone, source="keyword", evidence={"text": "SAIR"})
        db.commit()
    asyncio.run(outbox.deliver(crm.schema))
    with session(crm.schema) as db:
        msg = db.get(Message, ids[0])
        assert msg is not None and msg.status == "skipped" and msg.error_code == "opted_out"
        assert msg.error and "descadastrado" in msg.error
    assert _recorded(phone) == Counter()


def test_provider_failures_are_final_with_a_portuguese_reason(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm, config={"fail_every": 2})
    ids = _queue(crm, channel_id, conv_id, phone, 4)
    asyncio.run(outbox.deliver(crm.schema))
    with session(crm.schema) as db:
        rows = {m.id: m for m in db.exec(select(Message).where(Message.id.in_(ids))).all()}  # type: ignore[attr-defined]
    for mid, m in rows.items():
        if (mid or 0) % 2 == 0:
            assert m.status == "failed" and m.error_code == "sandbox-fail" and m.failed_at
            assert m.error and m.error.startswith("O provedor recusou")
        else:
            assert m.status == "read"


def test_paused_channels_keep_their_messages_queued(crm: Crm) -> None:
    channel_id, conv_id, phone = _setup(crm, status="paused")
    ids = _queue(crm, channel_id, conv_id, phone, 1)
    asyncio.run(outbox.deliver(crm.schema))
    with session(crm.schema) as db:
        assert _statuses(db, ids) == Counter({"queued": 1})


@pytest.mark.parametrize(
    ("attempts", "retry_after", "expected"), [(1, None, 30), (3, None, 120), (20, None, 3600), (1, 90, 90)]
)
def test_backoff(attempts: int, retry_after: float | None, expected: float) -> None:
    assert outbox.backoff_seconds(attempts, retry_after) == expected


def test_governor_defers_beyond_its_max_wait_and_deliver_waits_for_near_slots(crm: Crm) -> None:
    # One message every 6 s on this identity: the second has no slot within the governor's 5 s wait.
    channel_id, conv_id, phone = _setup(crm, config={"messages_per_second": 1 / 6})
    ids = _queue(crm, channel_id, conv_id, phone, 2)
    report = asyncio.run(outbox.deliver(crm.schema, linger_s=0))
    assert report.sent == 1 and report.deferred == 1
    with session(crm.schema) as db:
        rows = {m.id: m for m in db.exec(select(Message).where(Message.id.in_(ids))).all()}  # type: ignore[attr-defined]
        later = rows[ids[1]]
        assert later.status == "queued" and later.attempts == 0 and later.worker_id is None
        wait = (later.next_attempt_at - rows[ids[0]].sent_at).total_seconds()  # type: ignore[operator]
        assert 4 < wait < 8, wait
    # A run that may wait sleeps until the slot and sends it: no retry loop, no lease held meanwhile.
    t0 = time.perf_counter()
    report = asyncio.run(outbox.deliver(crm.schema, linger_s=30))
    assert report.sent == 1 and time.perf_counter() - t0 < 10
    assert _recorded(phone) == Counter({i: 1 for i in ids})


def test_campaign_counters_follow_the_marks(crm: Crm) -> None:
    from models.tenant import Campaign

    channel_id, conv_id, phone = _setup(crm, config={"fail_every": 3})
    with session(crm.schema) as db:
        campaign = Campaign(
            name=f"C {uuid.uuid4().hex[:6]}", medium="whatsapp", status="running", counts={"queued": 6}
        )
        db.add(campaign)
        db.commit()
    ids = _queue(crm, channel_id, conv_id, phone, 6)
    with session(crm.schema) as db:
        db.execute(
            text(f"UPDATE {crm.schema}.messages SET campaign_id = :c WHERE id = ANY(:ids)"),
            {"c": campaign.id, "ids": ids},
        )
        db.commit()
    asyncio.run(outbox.deliver(crm.schema))
    with session(crm.schema) as db:
        counts = db.get(Campaign, campaign.id).counts  # type: ignore[union-attr]
    failed = sum(1 for i in ids if i % 3 == 0)
    # Sent by the outbox, then read through the sandbox's statuses (inbound.apply_status's deltas).
    assert counts["queued"] == 0 and counts["failed"] == failed
    assert counts["sent"] == 6 - failed and counts["read"] == 6 - failed


def test_cloud_sends_without_a_status_go_back_only_on_a_status_about_a_send_claimed_with_or_after_them(
    crm: Crm,
) -> None:
    """Meta reports every message it accepts: a Cloud API send still uncertain a settling period after its
    claim, on a number that got a status about a send claimed at or after it (its own chunk included),
    never reached Meta and is re-queued. A status about an earlier claim proves nothing: the send waits,
    while its number still has sends to make (they bring the evidence) up to CLOUD_EVIDENCE_PERIODS,
    otherwise three periods, then is settled as failed (may have arrived)."""
    settle = outbox.get_settings().outbox_uncertain_seconds
    _, conv_id, phone = _setup(crm)
    ids: dict[str, int] = {}
    cases = (  # name, status claim relative to this claim (s; None: none), age (periods), more sends
        ("same_chunk", 0.0, 1.5, False),
        ("later_claim", 0.5, 1.5, False),
        ("earlier_claim", -1.0, 1.5, False),
        ("waiting", None, 3.5, True),
        ("old", None, 3.5, False),
        ("capped", None, outbox.CLOUD_EVIDENCE_PERIODS + 0.5, True),
    )
    with session(crm.schema) as db:
        for name, status_claim, age, more in cases:
            channel = Channel(
                kind="whatsapp_cloud",
                medium="whatsapp",
                name=f"Cloud {name} {uuid.uuid4().hex[:4]}",
                status="paused",  # only the reaper acts here
                config={},
            )
            db.add(channel)
            db.flush()
            msg = Message(
                conversation_id=conv_id,
                direction="out",
                body="Oferta",
                status="uncertain",
                channel_id=channel.id,
                to_address=phone,
                worker_id="dead",
            )
            db.add(msg)
            if more:
                db.add(
                    Message(
                        conversation_id=conv_id,
                        direction="out",
                        body="Oferta",
                        status="queued",
                        channel_id=channel.id,
                        to_address=phone,
                    )
                )
            db.flush()
            db.execute(
                text(
                    f"UPDATE {crm.schema}.messages SET claimed_at = now() - make_interval(secs => :age), "
                    "updated_at = now() WHERE id = :id"
                ),
                {"age": age * settle, "id": msg.id},
            )
            if status_claim is not None:
                db.execute(
                    text(
                        f"UPDATE {crm.schema}.channels SET state = jsonb_build_object('statuses_claimed_us', "
                        "(extract(epoch FROM (SELECT claimed_at FROM "
                        f"{crm.schema}.messages WHERE id = :mid)) * 1000000)::bigint + :delta) WHERE id = :id"
                    ),
                    {"mid": msg.id, "delta": int(status_claim * 1_000_000), "id": channel.id},
                )
            ids[name] = msg.id or 0
        db.commit()
    outbox.reap(crm.schema)
    with session(crm.schema) as db:
        got = {n: db.get(Message, i) for n, i in ids.items()}
    state = {n: (m.status, m.error_code) for n, m in got.items() if m is not None}
    assert state == {
        "same_chunk": ("queued", None),
        "later_claim": ("queued", None),
        "earlier_claim": ("uncertain", None),
        "waiting": ("uncertain", None),
        "old": ("failed", "uncertain"),
        "capped": ("failed", "uncertain"),
    }
    assert got["same_chunk"] is not None and got["same_chunk"].worker_id is None
