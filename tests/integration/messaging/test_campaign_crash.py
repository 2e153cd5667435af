"""A campaign sent by real `taskiq worker` processes over Redis to a real SMTP server, with one worker killed
by SIGKILL mid-campaign and a new one started: every eligible recipient receives the e-mail at most once,
every one not received is accounted for (a send whose outcome the dead worker took with it stays
`uncertain`, never resent blindly), opted-out addresses never receive anything, and the campaign finishes.

The scheduler is played by the test: it kicks the minute sweeps (`campaigns.sweep`, `messaging.sweep`) every
second, as `taskiq scheduler` would every minute; the workers run with a 3 s outbox lease so the reaper
hands back what the dead worker had reserved without waiting two minutes."""

import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import redis

from app.messaging import outbox
from tasks.messaging import MAX_DELIVERIES_PER_TENANT
from tenants.queues import QUEUE_NAME
from tests.conftest import TenantHandle
from tests.integration.messaging.crash_support import counts as _counts
from tests.integration.messaging.crash_support import kick as _kick
from tests.integration.messaging.crash_support import statuses as _statuses
from tests.integration.messaging.crash_support import worker as _worker
from tests.simulators.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[3]
RECIPIENTS = 1500
OPTED_OUT = 40


def _seed(t: TenantHandle, url: str) -> tuple[set[str], set[str]]:
    """RECIPIENTS customers with an e-mail each, OPTED_OUT of them opted out; set-based for speed."""
    s = f'"{t.schema}"'
    tag = uuid.uuid4().hex[:6]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"""
            WITH c AS (
                INSERT INTO {s}.customers (name, kind, status)
                SELECT 'Cliente ' || g, 'PF', 'ativo' FROM generate_series(1, %(n)s) g RETURNING id
            )
            INSERT INTO {s}.contacts (customer_id, kind, value, is_primary, opt_out)
            SELECT id, 'email', 'c' || id || '-{tag}@exemplo.com.br', true,
                   row_number() OVER (ORDER BY id) <= %(o)s
            FROM c
            """,
            {"n": RECIPIENTS, "o": OPTED_OUT},
        )
        rows = conn.execute(
            f"SELECT value, opt_out FROM {s}.contacts WHERE value LIKE %s", (f"%-{tag}@%",)
        ).fetchall()
    return {v for v, o in rows if not o}, {v for v, o in rows if o}


@pytest.mark.timeout(600)
def test_sigkill_mid_campaign_sends_each_recipient_at_most_once(
    make_tenant, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    from app.campaigns import service
    from app.campaigns.service import CampaignIn
    from app.messaging import channels
    from tenants.database import session, unit_of_work

    client = redis.Redis.from_url(redis_url)
    client.delete(QUEUE_NAME)
    sink = SmtpServer(tmp_path, mode="none").start()
    t = make_tenant()
    eligible, opted_out = _seed(t, database_url)
    with session(t.schema) as db, unit_of_work(db):
        channel = channels.create_channel(
            db,
            t.actor(),
            channels.ChannelIn(
                kind="smtp",
                name="SMTP local",
                config={
                    "host": "127.0.0.1",
                    "port": sink.port,
                    "security": "none",
                    "from_email": "ofertas@loja-teste.com.br",
                    "messages_per_second": 500,
                },
            ),
        )
        db.flush()
        # Scheduled far ahead so nothing in this process feeds it; the workers start it below.
        campaign = service.create_campaign(
            db,
            t.actor(),
            "email",
            CampaignIn(
                nome="Crash",
                canal_id=channel.id,
                assunto="Oferta {{primeiro_nome}}",
                corpo="<p>Olá {{primeiro_nome}}</p>",
                filtro={},
                agendar_para="2099-01-01T00:00:00+00:00",
            ),
        )
        cid = campaign.id or 0
        db.flush()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f'UPDATE "{t.schema}".campaigns SET status = %s, schedule_at = NULL WHERE id = %s',
            ("running", cid),
        )
    env = {**os.environ, "REDIS_URL": redis_url, "OUTBOX_LEASE_SECONDS": "3", "OUTBOX_UNCERTAIN_SECONDS": "5"}
    log = Path(os.environ.get("CRASH_LOG", tmp_path / "workers.log"))
    first, second = _worker(env, log), None
    try:
        _kick(redis_url, ("campaigns.feed", (t.schema, cid)))
        deadline = time.monotonic() + 360
        while len(sink.received) < RECIPIENTS // 3:
            assert time.monotonic() < deadline, (
                f"only {len(sink.received)} sent before the kill\n" + log.read_text()[-3000:]
            )
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # mid-batch: no clean-up, the popped tasks die with it
        first.wait(timeout=30)
        at_kill = len(sink.received)
        second = _worker(env, log)
        while True:
            assert time.monotonic() < deadline, (
                _counts(database_url, t.schema, cid),
                Counter(_statuses(database_url, t.schema, cid).values()),
                log.read_text()[-2000:],
            )
            _kick(redis_url, ("campaigns.sweep", ()), ("messaging.sweep", ()))
            counts = _counts(database_url, t.schema, cid)
            statuses = _statuses(database_url, t.schema, cid)
            # Done when nothing is left to send and every uncertain send has been settled (failed).
            if counts.get("pending", 0) == 0 and not any(
                s in ("queued", "reserved", "uncertain") for s in statuses.values()
            ):
                break
            time.sleep(1.0)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        client.delete(QUEUE_NAME)
        sink.stop()

    received = Counter(r for m in sink.received for r in m.rcpt_tos)
    statuses = _statuses(database_url, t.schema, cid)
    duplicates = {a: n for a, n in received.items() if n > 1}
    print(
        f"\nkilled after {at_kill} of {len(eligible)} sends; received {len(received)} distinct, "
        f"statuses {Counter(statuses.values())}"
    )
    assert duplicates == {}
    assert set(received) <= eligible and not (set(received) & opted_out)
    assert set(statuses) == eligible  # one message per eligible recipient, none for the opted out
    missing = eligible - set(received)
    # Not received: only sends whose outcome the dead worker took with it (its claimed chunks), settled
    # as failed with a reason that says they may have arrived; none is sent twice.
    unsettled = {a for a, s in statuses.items() if s == "failed"}
    assert missing <= unsettled, {a: statuses[a] for a in missing - unsettled}
    assert all(statuses[a] == "sent" for a in set(received) - unsettled)
    # The dead worker's claimed chunks: one per delivery it was running.
    assert len(unsettled) <= MAX_DELIVERIES_PER_TENANT * outbox.CLAIM_CHUNK
    counts = _counts(database_url, t.schema, cid)
    print(f"campaign counters {counts}")
    assert counts["total"] == RECIPIENTS and counts["skipped_opted_out"] == OPTED_OUT
    assert counts["sent"] == sum(1 for s in statuses.values() if s == "sent")
    assert counts["failed"] == len(unsettled) and counts["queued"] == 0 and counts["pending"] == 0
