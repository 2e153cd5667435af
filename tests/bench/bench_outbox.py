"""The outbox with the sandbox provider: N queued messages delivered by W worker processes (the same
`outbox.deliver` a `messaging.deliver` task runs), then checked: every message sent exactly once.

    .venv/bin/python -m tests.bench.bench_outbox --messages 20000 [--workers 2] [--batch 200] [--statuses]

Seeds a fresh `bench-outbox-<uuid>` tenant in the `crm_bench_outbox` database (or DATABASE_URL) with one
sandbox WhatsApp channel (no rate limit) and one customer's conversation, queues the messages set-based,
then starts the workers together. The sandbox's status reports (read) cost a locked read and a write
per message through `inbound.apply_status`; `--statuses` keeps them, by default they are left out so the
figure is the send path's own (reserve, consent re-check, claim, governor slot, adapter, mark).
"""

import argparse
import asyncio
import multiprocessing as mp
import os
import time
import uuid

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


def _worker(schema: str, name: str, batch: int, statuses: bool, start: float, out: "mp.Queue[int]") -> None:
    from app.messaging import outbox
    from app.messaging.adapters import sandbox

    if not statuses:
        sandbox.emit_statuses = lambda db, channel, pids: 0  # type: ignore[assignment]
    time.sleep(max(0.0, start - time.time()))
    report = asyncio.run(outbox.deliver(schema, worker_id=name, limit=batch, linger_s=0))
    out.put(report.sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--statuses", action="store_true")
    args, _unknown = parser.parse_known_args()
    _prepare_database()

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
    with session(schema) as db:
        channel = channels.create_channel(
            db, admin, channels.ChannelIn(kind="sandbox_whatsapp", name="Bench", config={})
        )
        customer = create_customer(
            db,
            admin,
            CustomerIn.model_validate(
                {"name": "Bench", "contacts": [{"kind": "whatsapp", "value": "+5511987650000"}]}
            ),
        )
        conv = Conversation(customer_id=customer.id or 0, channel="whatsapp", channel_id=channel.id)
        db.add(conv)
        db.flush()
        t0 = time.perf_counter()
        db.execute(
            text(
                f"INSERT INTO {schema}.messages (conversation_id, direction, body, status, channel_id, kind, "
                "to_address, next_attempt_at, attachments, variables) "
                "SELECT :conv, 'out', 'Olá ' || g, 'queued', :ch, 'text', :to, now(), '[]', '{}' "
                "FROM generate_series(1, :n) g"
            ),
            {"conv": conv.id, "ch": channel.id, "n": args.messages, "to": "+5511987650000"},
        )
        db.commit()
        print(f"queued {args.messages} in {time.perf_counter() - t0:.2f} s")

    ctx = mp.get_context("spawn")
    out: mp.Queue[int] = ctx.Queue()
    start = time.time() + 3.0  # every process imported and connected before the clock starts
    procs = [
        ctx.Process(target=_worker, args=(schema, f"w{i}", args.batch, args.statuses, start, out))
        for i in range(args.workers)
    ]
    for p in procs:
        p.start()
    sent = [out.get() for _ in procs]
    elapsed = time.time() - start
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
    print(
        f"{args.messages} messages, {args.workers} workers, batch {args.batch}, statuses {args.statuses}: "
        f"{elapsed:.2f} s = {args.messages / elapsed:.0f} msg/s; per worker {sent}; statuses {counts}; "
        f"duplicate provider ids {dupes}; load1 {load:.1f}"
    )
    assert sum(sent) == args.messages and dupes == 0


if __name__ == "__main__":
    main()
