"""A WhatsApp Cloud API campaign sent by real `taskiq worker` processes over HTTP to the Cloud API
simulator, with a fault mid-campaign, must end with every eligible recipient received exactly once
(counted by the simulator) and opted-out numbers never:

- a worker killed with SIGKILL and a new one started;
- the Redis server (broker and governor) killed and started again.

The simulator reports every accepted message with a signed `statuses` webhook to the app served over
HTTP, echoing our message id (`biz_opaque_callback_data`): that is how a send the dead worker made but
never recorded is settled (never resent), and how a claimed send that never left is told apart (no status
while later sends' statuses arrive: re-queued by the reaper). The test plays the scheduler, kicking the
minute sweeps every second.

`CRASH_CLOUD_RECIPIENTS` sets the campaign's size: 2,000 by default (about 20 s); 10,000 is the issue's
figure (`CRASH_CLOUD_RECIPIENTS=10000`, about a minute, numbers in docs/benchmarks.md)."""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from app.messaging import outbox
from app.security.keys import encrypt
from models.platform import ChannelRoute
from models.tenant import Channel, Template
from tasks.messaging import MAX_DELIVERIES_PER_TENANT
from tenants.database import platform_session, session, unit_of_work
from tenants.queues import QUEUE_NAME
from tests.conftest import TenantHandle
from tests.integration.messaging.crash_support import counts, kick, statuses, worker
from tests.integration.messaging.whatsapp_support import live_app  # noqa: F401  (fixture)
from tests.simulators.whatsapp_cloud import CloudApiSimulator
from tests.simulators.whatsapp_cloud import Template as SimTemplate

RECIPIENTS = int(os.environ.get("CRASH_CLOUD_RECIPIENTS", "2000"))
OPTED_OUT = max(10, RECIPIENTS // 50)
# Slow enough that sends (and their statuses) go on for a few seconds after the fault.
RATE = 250 if RECIPIENTS <= 3000 else 1000
LEASE_S, SETTLE_S = "3", "4"
HANG_S = 1.0


def _seed(t: TenantHandle, url: str) -> tuple[set[str], set[str]]:
    """RECIPIENTS customers with a WhatsApp number each (digits, as Meta's wa_id), OPTED_OUT opted out."""
    s = f'"{t.schema}"'
    base = 10_000_000 + secrets.randbelow(80_000_000)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"""
            WITH c AS (
                INSERT INTO {s}.customers (name, kind, status)
                SELECT 'Cliente ' || g, 'PF', 'ativo' FROM generate_series(1, %(n)s) g RETURNING id
            )
            INSERT INTO {s}.contacts (customer_id, kind, value, is_primary, opt_out)
            SELECT id, 'whatsapp', '+55119' || (%(base)s + row_number() OVER (ORDER BY id)), true,
                   row_number() OVER (ORDER BY id) <= %(o)s
            FROM c
            """,
            {"n": RECIPIENTS, "o": OPTED_OUT, "base": base},
        )
        rows = conn.execute(f"SELECT value, opt_out FROM {s}.contacts WHERE kind = 'whatsapp'").fetchall()
    digits = {v: v.lstrip("+") for v, _ in rows}
    return {digits[v] for v, o in rows if not o}, {digits[v] for v, o in rows if o}


def _cloud_channel(t: TenantHandle, sim: CloudApiSimulator) -> int:
    with session(t.schema) as db:
        channel = Channel(
            kind="whatsapp_cloud",
            medium="whatsapp",
            name="Cloud API",
            config={
                "phone_number_id": sim.phone_number_id,
                "waba_id": sim.waba_id,
                "display_phone": sim.display_phone,
                "api_base_url": sim.url,
                "api_version": "v21.0",
                "messages_per_second": RATE,
                "daily_unique_recipients": None,
            },
            secrets=encrypt(
                json.dumps(
                    {"access_token": sim.access_token, "app_secret": sim.app_secret, "verify_token": "v"}
                )
            ),
        )
        db.add(channel)
        db.commit()
        channel_id = channel.id or 0
    with platform_session() as pdb:
        pdb.add(
            ChannelRoute(
                provider="whatsapp_cloud",
                external_id=sim.phone_number_id,
                tenant_id=t.tenant.id,
                channel_id=channel_id,
                verify_token_hash=uuid.uuid4().hex,
            )
        )
        pdb.commit()
    return channel_id


def _campaign(t: TenantHandle, url: str, channel_id: int) -> int:
    from app.campaigns import service
    from app.campaigns.service import CampaignIn

    with session(t.schema) as db, unit_of_work(db):
        template = Template(
            name=f"Oferta {uuid.uuid4().hex[:6]}",
            channel="whatsapp",
            body="Olá {{primeiro_nome}}, temos uma oferta.",
            variables=["primeiro_nome"],
            provider_name="oferta_crash",
            language="pt_BR",
            approval_status="APPROVED",
        )
        db.add(template)
        db.flush()
        # Scheduled far ahead so nothing in this process feeds it; the workers start it below.
        campaign = service.create_campaign(
            db,
            t.actor(),
            "whatsapp",
            CampaignIn(
                nome="Crash Cloud",
                canal_id=channel_id,
                template_id=template.id,
                filtro={},
                agendar_para="2099-01-01T00:00:00+00:00",
            ),
        )
        db.flush()
        cid = campaign.id or 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f'UPDATE "{t.schema}".campaigns SET status = %s, schedule_at = NULL WHERE id = %s',
            ("running", cid),
        )
    return cid


@pytest.fixture
def cloud_sim(live_app: str) -> Iterator[CloudApiSimulator]:  # noqa: F811
    sim = CloudApiSimulator(
        phone_number_id=str(10**14 + secrets.randbelow(10**14)),
        per_second_cap=10**6,
        pair_window=0.0,
        status_webhooks=True,
        record_requests=False,
    )
    sim.templates.append(SimTemplate(name="oferta_crash", body="Olá {{1}}, temos uma oferta."))
    sim.webhook_url = f"{live_app}/api/webhooks/whatsapp-cloud"
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


class _Redis:
    """A throw-away redis-server of the test's own (no persistence), which the test can kill and restart."""

    def __init__(self, tmp: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary, self.tmp = binary, tmp
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _run(
    t: TenantHandle,
    url: str,
    sim: CloudApiSimulator,
    redis_url: str,
    log: Path,
    fault: Any,
) -> dict[str, Any]:
    """Start a worker, feed the campaign, call `fault(worker)` after a third of the sends (it returns the
    worker processes to use from then on), then play the scheduler until everything is settled."""
    eligible, opted_out = _seed(t, url)
    channel_id = _cloud_channel(t, sim)
    cid = _campaign(t, url, channel_id)
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "OUTBOX_LEASE_SECONDS": LEASE_S,
        "OUTBOX_UNCERTAIN_SECONDS": SETTLE_S,
    }
    procs = [worker(env, log)]
    started, wall_start = time.monotonic(), time.time()
    try:
        kick(redis_url, ("campaigns.feed", (t.schema, cid)))
        deadline = time.monotonic() + 540
        next_sweep = time.monotonic() + 1.0
        while len(sim.sent) < len(eligible) // 3:
            assert time.monotonic() < deadline, f"only {len(sim.sent)} sent\n" + log.read_text()[-3000:]
            if time.monotonic() > next_sweep:  # the scheduler's minute sweeps, every second here
                kick(redis_url, ("campaigns.sweep", ()), ("messaging.sweep", ()))
                next_sweep = time.monotonic() + 1.0
            time.sleep(0.02)
        at_fault = len(sim.sent)
        procs = fault(procs, env, t.schema, cid)
        with psycopg.connect(url, autocommit=True) as conn:
            uncertain_at_fault = {
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM \"{t.schema}\".messages WHERE status = 'uncertain' AND campaign_id = %s",
                    (cid,),
                ).fetchall()
            }
        while True:
            assert time.monotonic() < deadline, (
                counts(url, t.schema, cid),
                Counter(statuses(url, t.schema, cid).values()),
                log.read_text()[-2000:],
            )
            with contextlib.suppress(redis.ConnectionError):  # a Redis restart may still be under way
                kick(redis_url, ("campaigns.sweep", ()), ("messaging.sweep", ()))
            now = counts(url, t.schema, cid)
            states = statuses(url, t.schema, cid)
            if (
                now.get("pending", 0) == 0
                and not any(s in ("queued", "reserved", "uncertain") for s in states.values())
                and sim.status_backlog() == 0
            ):
                break
            time.sleep(1.0)
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    received = Counter(s.to for s in list(sim.sent.values()))
    with psycopg.connect(url, autocommit=True) as conn:
        # The reaper's re-queue keeps the claim's attempt counted: a second attempt means given back.
        requeued = {
            r[0]
            for r in conn.execute(
                f'SELECT id FROM "{t.schema}".messages WHERE id = ANY(%s) AND attempts > 1',
                (sorted(uncertain_at_fault),),
            ).fetchall()
        }
    final = statuses(url, t.schema, cid)
    result = {
        "at_fault": at_fault,
        "eligible": len(eligible),
        "received_distinct": len(received),
        "duplicates": {a: n for a, n in received.items() if n > 1},
        "uncertain_at_fault": len(uncertain_at_fault),
        "settled_by_status": len(uncertain_at_fault - requeued),
        "requeued_never_left": len(requeued),
        "statuses": Counter(final.values()),
        "counters": counts(url, t.schema, cid),
        "elapsed_s": round(elapsed, 1),
        "last_send_s": round(max(s.at for s in list(sim.sent.values())) - wall_start, 1),
        "status_posts": sim.status_posts,
    }
    print(f"\n{result}")
    assert result["duplicates"] == {}
    assert set(received) == eligible, (len(eligible - set(received)), len(set(received) - eligible))
    assert not (set(received) & opted_out)
    assert {a.lstrip("+") for a in final} == eligible  # one message per eligible recipient
    assert set(final.values()) == {"sent"}
    assert len(uncertain_at_fault) <= 2 * MAX_DELIVERIES_PER_TENANT * outbox.CLAIM_CHUNK
    c = result["counters"]
    assert c["total"] == RECIPIENTS and c["skipped_opted_out"] == len(opted_out)
    assert c["sent"] == len(eligible) and c.get("failed", 0) == 0 and c["queued"] == 0
    return result


@pytest.mark.timeout(900)
def test_sigkill_mid_cloud_campaign_sends_each_recipient_exactly_once(
    make_tenant, database_url: str, redis_url: str, cloud_sim: CloudApiSimulator, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.delete(QUEUE_NAME)
    log = Path(os.environ.get("CRASH_LOG", tmp_path / "workers.log"))

    def kill_one(
        procs: list[subprocess.Popen[bytes]], env: dict[str, str], *_: Any
    ) -> list[subprocess.Popen[bytes]]:
        # Killed while a send is in flight, so its claimed chunks surely hold sends that never left (the
        # reaper must give them back) next to the one Meta accepts after the worker is gone (a status
        # settles it): the simulator holds requests for a second (well under the settling period).
        cloud_sim.hang(HANG_S)
        time.sleep(HANG_S / 3)
        os.killpg(procs[0].pid, signal.SIGKILL)  # mid-batch: no clean-up, the popped tasks die with it
        cloud_sim.heal()
        procs[0].wait(timeout=30)
        return [worker(env, log)]

    try:
        _run(make_tenant(), database_url, cloud_sim, redis_url, log, kill_one)
    finally:
        client.delete(QUEUE_NAME)


@pytest.mark.timeout(900)
def test_redis_restarted_mid_cloud_campaign_sends_each_recipient_exactly_once(
    make_tenant, database_url: str, cloud_sim: CloudApiSimulator, tmp_path: Path
) -> None:
    """Redis (the broker's queue and the governor's slots) killed and started empty mid-campaign: the
    queued tasks are gone, the workers reconnect, and the sweeps bring the outbox to the same end."""
    server = _Redis(tmp_path)
    server.start()
    log = Path(os.environ.get("CRASH_LOG", tmp_path / "workers.log"))

    def restart_redis(
        procs: list[subprocess.Popen[bytes]], env: dict[str, str], *_: Any
    ) -> list[subprocess.Popen[bytes]]:
        server.kill()
        time.sleep(1.0)
        server.start()
        return procs

    try:
        _run(make_tenant(), database_url, cloud_sim, server.url, log, restart_redis)
    finally:
        server.kill()


@pytest.mark.timeout(900)
def test_tasks_delivered_many_times_to_two_workers_send_each_recipient_exactly_once(
    make_tenant, database_url: str, redis_url: str, cloud_sim: CloudApiSimulator, tmp_path: Path
) -> None:
    """The broker may deliver a task twice (a retry, a redelivery after a restart, a second sweep): the
    same `campaigns.feed` and `messaging.deliver` kicked many times, to two workers at once, send nothing
    twice: the recipients' and messages' states in PostgreSQL decide, not the task."""
    client = redis.Redis.from_url(redis_url)
    client.delete(QUEUE_NAME)
    log = Path(os.environ.get("CRASH_LOG", tmp_path / "workers.log"))

    def duplicate_tasks(
        procs: list[subprocess.Popen[bytes]], env: dict[str, str], schema: str, cid: int
    ) -> list[subprocess.Popen[bytes]]:
        procs = [*procs, worker(env, log)]
        kick(redis_url, *[("campaigns.feed", (schema, cid)), ("messaging.deliver", (schema,))] * 6)
        return procs

    try:
        _run(make_tenant(), database_url, cloud_sim, redis_url, log, duplicate_tasks)
    finally:
        client.delete(QUEUE_NAME)
