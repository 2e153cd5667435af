"""The outbox with the sandbox provider: N queued messages delivered by W worker processes (the same
`outbox.deliver` a `messaging.deliver` task runs), then checked: every message sent exactly once.

    .venv/bin/python -m tests.bench.bench_outbox --messages 20000 [--workers 2] [--batch 200] [--statuses]
        [--provider sandbox|cloud|smtp] [--raw] [--sim-procs 2] [--in-flight N] [--loop asyncio|uvloop]
        [--attachment-kb N [--s3] [--no-cache]]

`--provider cloud` sends over HTTP to the Cloud API simulator (tests/simulators/whatsapp_cloud.py), served
by `--sim-procs` processes of its own on one port (tests/bench/sim_procs.py; 0: a thread of this process,
as the tests run it), `--provider smtp` to an aiosmtpd sink (plain SMTP on loopback, a thread of this
process); both with the sending limits off (the governor hands out every slot at once). `--in-flight`
overrides the Cloud adapter's concurrent sends per chunk; `--loop uvloop` runs the workers on uvloop, as
`taskiq worker` does when it is installed (asyncio by default, as the earlier figures). `--raw` first
measures the simulator or the sink alone with a plain client (no database), to show whether it is the
limit. Every run prints the CPU per message of the workers and of PostgreSQL (the backends serving the
benchmark database, when the server runs on this machine): load-independent, unlike the rate; and the
1-minute load.
`--attachment-kb N` gives every message the same stored file of N KB (a campaign's attachment: a PDF
document on WhatsApp, attached on e-mail), kept in local storage or, with `--s3`, in an S3 server (moto,
a thread of this process); the run then reports how often workers read it from storage and how many
uploads the Cloud API simulator took. `--no-cache` turns the per-process caches off
(ATTACHMENT_CACHE_BYTES=0, no media id reused): the file read, encoded and uploaded for every message.
`BENCH_PROFILE=1` prints where the first worker's CPU goes: its event loop, and apart, its database work
(reserve, claim, mark: threads).

Seeds a fresh `bench-outbox-<uuid>` tenant in the `crm_bench_outbox` database (or DATABASE_URL) with one
sandbox WhatsApp channel (no rate limit) and one customer's conversation, queues the messages set-based,
then starts the workers together. The sandbox's status reports (read) cost a locked read and a write
per message through `inbound.apply_status`; `--statuses` keeps them, by default they are left out so the
figure is the send path's own (reserve, consent re-check, claim, governor slot, adapter, mark).
"""

import argparse
import asyncio
import collections
import json
import logging
import multiprocessing as mp
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from tests.bench.bench_workspace import DEFAULT_ADMIN_URL

DB = "crm_bench_outbox"


def _prepare_database() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    admin = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')
    os.environ["DATABASE_URL"] = admin.rpartition("/")[0] + "/" + DB
    os.environ.setdefault("REDIS_URL", "")


def _worker(
    schema: str,
    name: str,
    batch: int,
    statuses: bool,
    start: float,
    out: "mp.Queue[tuple[int, float, int | None]]",
    in_flight: int | None = None,
    loop: str = "asyncio",
    no_cache: bool = False,
) -> None:
    from app.messaging import attachments, governor, limits, outbox
    from app.messaging.adapters import sandbox, whatsapp_cloud

    if in_flight is not None:
        whatsapp_cloud.CloudApiAdapter.max_in_flight = in_flight
    if no_cache and hasattr(whatsapp_cloud, "MEDIA_ID_SECONDS"):
        whatsapp_cloud.MEDIA_ID_SECONDS = -1.0  # every remembered id already expired: one upload per send

    # The sandbox keeps its last 20,000 messages for tests to look at: with a file each (a copy per
    # message in code that read it per message) that is gigabytes; a benchmark looks at none of them.
    sandbox.RECORDED = collections.deque(maxlen=100)
    if not statuses:
        sandbox.emit_statuses = lambda db, channel, pids: 0  # type: ignore[assignment]
    # Limits off: every slot at once (the channels' own rates would be the figure otherwise).
    limits.policy_for = lambda *args, **kwargs: governor.Policy()  # type: ignore[assignment]
    time.sleep(max(0.0, start - time.time()))
    cpu0 = time.process_time()
    profile = threads = None
    if os.environ.get("BENCH_PROFILE") and name == "w0":  # where the worker's CPU goes, first worker only
        import cProfile

        profile = cProfile.Profile(time.process_time)  # CPU, not the waits (a shared machine)
        # The database work runs in worker threads (asyncio.to_thread), which the event loop's profile
        # does not see: one more profile for them (their calls never overlap within one delivery).
        threads = cProfile.Profile(time.process_time)
        for fn_name in ("reserve", "_claim", "_mark"):
            original = getattr(outbox, fn_name)
            setattr(outbox, fn_name, lambda *a, _fn=original, **k: threads.runcall(_fn, *a, **k))
        profile.enable()

    async def run() -> outbox.DeliveryReport:
        try:
            return await outbox.deliver(schema, worker_id=name, limit=batch, linger_s=0)
        finally:
            await outbox.close_adapters()  # what the Taskiq worker's shutdown hook does

    if loop == "uvloop":  # what `taskiq worker` runs tasks on when uvloop is installed (it is here)
        import uvloop

        report = uvloop.run(run())
    else:
        report = asyncio.run(run())
    cpu = time.process_time() - cpu0
    if profile is not None:
        import pstats

        profile.disable()
        print("---- event loop thread")
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
        print("---- database threads (reserve, claim, mark)")
        pstats.Stats(threads).sort_stats("tottime").print_stats(25)
        pstats.Stats(threads).sort_stats("cumulative").print_stats(40)
    cache = getattr(attachments, "send_cache", None)  # (absent before the cache: runs of older code)
    out.put((report.sent, cpu, cache().reads if cache is not None else None))


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving one database on this machine (the benchmark's own:
    other databases' load, e.g. a test run, is left out), sampled every half second so backends that end
    with the run are still counted up to their last sample."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} ".encode()
        self.seen: dict[int, float] = {}
        self.base: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[int, float]:
        found = {}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if not (proc / "cmdline").read_bytes().startswith(b"postgres: ") or self.marker not in (
                    proc / "cmdline"
                ).read_bytes().replace(b"\0", b" "):
                    continue
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(proc.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return found

    def start(self) -> None:
        self.base = self._sample()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.seen.update(self._sample())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.seen.update(self._sample())
        return sum(cpu - self.base.get(pid, 0.0) for pid, cpu in self.seen.items())


def _raw_cloud(sim: Any, n: int, concurrency: int) -> None:
    """The simulator alone: n sends from `concurrency` concurrent requests on one aiohttp session (the
    adapter's client; httpx's async client would be the limit first, at ~1 ms of CPU per request)."""
    import aiohttp

    body = {"messaging_product": "whatsapp", "to": "5511987650000", "type": "text", "text": {"body": "Olá"}}

    async def go() -> float:
        headers = {"Authorization": f"Bearer {sim.access_token}"}
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as client:
            queue = iter(range(n))
            url = f"{sim.url}/v21.0/{sim.phone_number_id}/messages"

            async def one() -> None:
                for _ in queue:
                    async with client.post(url, json=body) as r:
                        assert r.status == 200, await r.text()
                        await r.read()

            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(concurrency)))
            return time.perf_counter() - t0

    cpu0 = time.process_time()
    elapsed = asyncio.run(go())
    cpu = time.process_time() - cpu0
    print(
        f"raw aiohttp -> simulator: {n} sends, {concurrency} in flight: {n / elapsed:.0f} req/s; "
        f"client CPU {cpu * 1e6 / n:.0f} us/msg (simulator in this process too when --sim-procs 0); "
        f"load1 {os.getloadavg()[0]:.1f}"
    )


def _raw_smtp(port: int, n: int, connections: int) -> None:
    """The sink alone: n messages over `connections` kept SMTP connections (threads)."""
    import smtplib
    from concurrent.futures import ThreadPoolExecutor

    body = ("x" * 76 + "\r\n") * 26  # ~2 KB, in lines SMTP accepts
    data = ("Subject: Oferta\r\nFrom: a@loja.com.br\r\nTo: b@exemplo.com.br\r\n\r\n" + body).encode()

    def one(count: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(count):
                smtp.sendmail("a@loja.com.br", ["b@exemplo.com.br"], data)

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(one, [n // connections] * connections))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(
        f"raw smtplib -> aiosmtpd sink: {n} messages, {connections} connections: {n / elapsed:.0f} msg/s; "
        f"client+sink CPU {cpu * 1e6 / n:.0f} us/msg (one process); load1 {os.getloadavg()[0]:.1f}"
    )


class _Counted(list):  # type: ignore[type-arg]
    """The sink's received messages, counted and dropped (a 1 MB attachment times thousands of messages)."""

    def append(self, item: Any) -> None:
        super().append(len(item.data))


def _start_s3() -> Any:
    """An S3 server (moto) in a thread of this process, and the environment that points storage at it."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access line per storage request otherwise
    os.environ.update(
        S3_ENDPOINT=f"127.0.0.1:{port}", S3_ACCESS_KEY="bench", S3_SECRET_KEY="bench", S3_BUCKET="crm-bench"
    )
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--statuses", action="store_true")
    parser.add_argument("--analyze", action="store_true", help="ANALYZE the queued messages first")
    parser.add_argument("--provider", choices=["sandbox", "cloud", "smtp"], default="sandbox")
    parser.add_argument("--raw", action="store_true", help="measure the simulator / sink alone first")
    parser.add_argument(
        "--sim-procs",
        type=int,
        default=2,
        help="Cloud API simulator processes on one port (0: a thread of this process, as the tests run it)",
    )
    parser.add_argument("--in-flight", type=int, default=None, help="Cloud API sends in flight per adapter")
    parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the workers' event loop"
    )
    parser.add_argument("--attachment-kb", type=int, default=0, help="every message carries one stored file")
    parser.add_argument("--s3", action="store_true", help="keep the file in an S3 server (moto)")
    parser.add_argument(
        "--no-cache", action="store_true", help="attachment caches off (read, encode, upload)"
    )
    args, _unknown = parser.parse_known_args()
    _prepare_database()
    s3_server = _start_s3() if args.s3 else None
    if args.no_cache:
        os.environ["ATTACHMENT_CACHE_BYTES"] = (
            "0"  # before get_settings() is first called, here and in workers
        )

    from sqlalchemy import text
    from sqlmodel import select

    from app.auth.sessions import actor_for_user
    from app.crm.customers import CustomerIn, create_customer
    from app.messaging import channels
    from app.platform.provisioning import SignupInput, provision_tenant
    from models.platform import User
    from models.tenant import Conversation
    from tenants.database import platform_session, session
    from tenants.migrations import upgrade_platform

    upgrade_platform()
    slug = f"bench-outbox-{uuid.uuid4().hex[:6]}"
    tenant = provision_tenant(
        SignupInput(
            name=slug,
            slug=slug,
            admin_name="Admin",
            admin_email=f"admin@{slug}.com.br",
            admin_password="Senha-forte-123",
        )
    )
    schema = tenant.schema_name or ""
    with platform_session() as pdb:
        user = pdb.exec(select(User).where(User.tenant_id == tenant.id)).one()
        admin = actor_for_user(pdb, user.id or 0)
    server: Any = None
    to, medium, kind = "+5511987650000", "whatsapp", "text"
    raw_sent = 0
    if args.provider == "cloud":
        from tests.bench.sim_procs import CloudSimProcesses
        from tests.simulators.whatsapp_cloud import CloudApiSimulator

        sim_args: dict[str, Any] = {
            "phone_number_id": str(10**14 + uuid.uuid4().int % 10**14),
            "per_second_cap": 10**9,
            "pair_window": 0.0,
            "record_requests": False,
        }
        if args.sim_procs:
            server = CloudSimProcesses(args.sim_procs, windows=[to], **sim_args).start()
        else:
            server = CloudApiSimulator(**sim_args).start()
            server.open_window(to)
        print(f"Cloud API simulator: {args.sim_procs or 'a thread of this'} process(es)")
        if args.raw:
            raw_sent = min(args.messages, 20_000)
            _raw_cloud(server, raw_sent, 16)
        channel_in = channels.ChannelIn(
            kind="whatsapp_cloud",
            name="Bench Cloud",
            config={
                "phone_number_id": server.phone_number_id,
                "waba_id": server.waba_id,
                "access_token": server.access_token,
                "app_secret": server.app_secret,
                "verify_token": uuid.uuid4().hex,
                "api_base_url": server.url,
                "messages_per_second": 1000,
                "daily_unique_recipients": None,
            },
        )
    elif args.provider == "smtp":
        import tempfile

        from tests.simulators.smtp_server import SmtpServer

        server = SmtpServer(Path(tempfile.mkdtemp()), mode="none").start()
        server.handler.received = _Counted()  # counts the messages; their content is not kept
        to, medium, kind = "cliente@exemplo.com.br", "email", "email"
        if args.raw:
            _raw_smtp(server.port, min(args.messages, 20_000), 2)
            server.received.clear()
        channel_in = channels.ChannelIn(
            kind="smtp",
            name="Bench SMTP",
            config={
                "host": "127.0.0.1",
                "port": server.port,
                "security": "none",
                "from_email": "ofertas@loja-bench.com.br",
                "messages_per_second": 10_000,
            },
        )
    else:
        channel_in = channels.ChannelIn(kind="sandbox_whatsapp", name="Bench", config={})
    files: list[dict[str, Any]] = []
    if args.attachment_kb:
        from app.messaging import attachments

        data = b"%PDF-1.4\n" + os.urandom(args.attachment_kb * 1024 - 9)
        files = [attachments.store(schema, "oferta-dezembro.pdf", data)]
        if kind == "text":
            kind = "document"  # WhatsApp: the file with the text as its caption
        print(f"attachment: {len(data)} bytes in {'S3 (moto)' if args.s3 else 'local storage'}")
    with session(schema) as db:
        channel = channels.create_channel(db, admin, channel_in)
        customer = create_customer(
            db,
            admin,
            CustomerIn.model_validate({"name": "Bench", "contacts": [{"kind": medium, "value": to}]}),
        )
        conv = Conversation(customer_id=customer.id or 0, channel=medium, channel_id=channel.id)
        db.add(conv)
        db.flush()
        t0 = time.perf_counter()
        db.execute(
            text(
                f"INSERT INTO {schema}.messages (conversation_id, direction, body, status, channel_id, kind, "
                "to_address, next_attempt_at, attachments, variables, subject) "
                "SELECT :conv, 'out', 'Olá ' || g, 'queued', :ch, :kind, :to, now(), CAST(:files AS jsonb), "
                "'{}', CAST(:subject AS text) || g "
                "FROM generate_series(1, :n) g"
            ),
            {
                "files": json.dumps(files),
                "conv": conv.id,
                "ch": channel.id,
                "n": args.messages,
                "to": to,
                "kind": kind,
                "subject": "Oferta " if kind == "email" else None,
            },
        )
        db.commit()
        print(f"queued {args.messages} in {time.perf_counter() - t0:.2f} s")
    if args.analyze:
        # What autovacuum's analyze does within a minute of a bulk insert, and what a tenant's messages
        # table with history already has: statistics (a brand-new table has none).
        with session(schema) as db:
            db.execute(text(f"ANALYZE {schema}.messages"))
            db.commit()

    ctx = mp.get_context("spawn")
    out: mp.Queue[tuple[int, float, int | None]] = ctx.Queue()
    backends = BackendCpu(os.environ["DATABASE_URL"].rsplit("/", 1)[1].split("?")[0])
    backends.start()
    start = time.time() + 3.0  # every process imported and connected before the clock starts
    procs = [
        ctx.Process(
            target=_worker,
            args=(
                schema,
                f"w{i}",
                args.batch,
                args.statuses,
                start,
                out,
                args.in_flight,
                args.loop,
                args.no_cache,
            ),
        )
        for i in range(args.workers)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    elapsed = time.time() - start
    pg_cpu = backends.stop() or None
    sent = [r[0] for r in results]
    cpu = sum(r[1] for r in results)
    reads = [r[2] for r in results]
    for p in procs:
        p.join()
    with session(schema) as db:
        counts = dict(
            db.execute(
                text(f"SELECT status, count(*) FROM {schema}.messages WHERE direction = 'out' GROUP BY 1")
            ).all()
        )
        dupes = db.execute(
            text(
                f"SELECT count(*) FROM (SELECT provider_message_id FROM {schema}.messages "
                "WHERE provider_message_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d"
            )
        ).scalar_one()
    load = os.getloadavg()[0]
    received = uploads = None
    if args.provider == "cloud":
        if args.sim_procs:
            received = server.stop() - raw_sent
            uploads = server.uploads
        else:
            received = len(server.sent) - raw_sent
            uploads = len(getattr(server, "uploads", []))
            server.stop()
    elif args.provider == "smtp":
        received = len(server.received)
        server.stop()
    if s3_server is not None:
        s3_server.stop()
    if args.attachment_kb:
        print(
            f"attachment {args.attachment_kb} KB{' (caches off)' if args.no_cache else ''}: storage reads "
            f"per worker {reads} (None: code without the cache, one read per message); uploads at the "
            f"Cloud API simulator {uploads}"
        )
    print(
        f"{args.provider}: {args.messages} messages, {args.workers} workers, batch {args.batch}, "
        f"statuses {args.statuses}: {elapsed:.2f} s = {args.messages / elapsed:.0f} msg/s;"
        f" per worker {sent};"
        f"workers' CPU {cpu * 1e6 / args.messages:.0f} us/msg; "
        f"PostgreSQL CPU {'-' if pg_cpu is None else f'{pg_cpu * 1e6 / args.messages:.0f}'} us/msg; "
        f"statuses {counts}; "
        f"received by the provider {received}; duplicate provider ids {dupes}; load1 {load:.1f}"
    )
    assert sum(sent) == args.messages and dupes == 0
    assert received is None or received == args.messages


if __name__ == "__main__":
    main()
