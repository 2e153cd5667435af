"""The scheduled-messages sweep: what a minute's sweep costs when nothing is due, over a table with a long
history, and how fast due occurrences go through the agents' send path.

    .venv/bin/python -m tests.bench.bench_scheduled [--history 200000] [--future 10000] [--due 500]

Seeds a fresh `bench-sched-<uuid>` tenant in the `crm_bench_scheduled` database (or DATABASE_URL): one
sandbox WhatsApp channel, `--due` customers, `--history` rows already queued/cancelled and `--future` rows
scheduled for next month (set-based). Prints the idle sweep's time per call and the due query's plan and
buffer count, then makes `--due` rows due and times `run_due` (one transaction per row), checking each
was queued exactly once.
"""

import argparse
import os
import time
import uuid

import psycopg

from tests.bench.bench_workspace import DEFAULT_ADMIN_URL

DB = "crm_bench_scheduled"


def _prepare_database() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    admin = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')
    os.environ["DATABASE_URL"] = admin.rpartition("/")[0] + "/" + DB
    os.environ.setdefault("REDIS_URL", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--future", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=500)
    args, _unknown = parser.parse_known_args()
    _prepare_database()

    from sqlalchemy import text
    from sqlmodel import select

    import tasks.scheduled  # noqa: F401  (as a worker runs it: the deliver task registered)
    from app.auth.sessions import actor_for_user
    from app.crm.customers import CustomerIn, create_customer
    from app.messaging import channels, scheduling
    from app.platform.provisioning import SignupInput, provision_tenant
    from models.base import utcnow
    from models.platform import User
    from tenants.database import platform_session, session
    from tenants.migrations import upgrade_platform

    upgrade_platform()
    slug = f"bench-sched-{uuid.uuid4().hex[:6]}"
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
        channels.create_channel(
            db, admin, channels.ChannelIn(kind="sandbox_whatsapp", name="Bench", config={}, is_default=True)
        )
        for i in range(args.due):
            create_customer(
                db,
                admin,
                CustomerIn.model_validate(
                    {"name": f"Cliente {i}", "contacts": [{"kind": "whatsapp", "value": f"+55119{i:08d}"}]}
                ),
            )
        db.commit()
        t0 = time.perf_counter()
        common = (
            f"INSERT INTO {schema}.scheduled_messages (customer_id, medium, body, variables, time_zone, "
            "local_start, local_due, send_at, status, created_by) "
        )
        db.execute(
            text(
                common + "SELECT 1, 'whatsapp', 'x', '{}', 'America/Sao_Paulo', now(), now(), "
                "now() - g * interval '1 minute', CASE WHEN g % 5 = 0 THEN 'cancelled' ELSE 'queued' END, :u "
                "FROM generate_series(1, :n) g"
            ),
            {"n": args.history, "u": admin.user_id},
        )
        db.execute(
            text(
                common + "SELECT 1, 'whatsapp', 'x', '{}', 'America/Sao_Paulo', now(), now(), "
                "now() + interval '30 days' + g * interval '1 second', 'scheduled', :u "
                "FROM generate_series(1, :n) g"
            ),
            {"n": args.future, "u": admin.user_id},
        )
        db.commit()
        db.execute(text(f"ANALYZE {schema}.scheduled_messages"))
        db.commit()
        print(
            f"seeded {args.history} history + {args.future} future rows in {time.perf_counter() - t0:.1f} s"
        )

    # Idle: nothing due.
    rounds = 200
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        assert scheduling.run_due(schema)["queued"] == 0
    idle_ms = (time.perf_counter() - t0) / rounds * 1000
    idle_cpu_ms = (time.process_time() - cpu0) / rounds * 1000
    with session(schema) as db:
        plan = db.execute(
            text("EXPLAIN (ANALYZE, BUFFERS) " + scheduling._DUE.format(schema=schema)), {"now": utcnow()}
        ).scalars()
        plan_text = "\n".join(plan)
    print(f"idle sweep: {idle_ms:.2f} ms wall, {idle_cpu_ms:.2f} ms client CPU per call ({rounds} calls)")
    print("\n".join("plan| " + line for line in plan_text.splitlines()))

    # Due: one per customer.
    with session(schema) as db:
        db.execute(
            text(
                f"INSERT INTO {schema}.scheduled_messages (customer_id, medium, body, variables, time_zone, "
                "local_start, local_due, send_at, status, created_by) "
                "SELECT id, 'whatsapp', :body, '{}', 'America/Sao_Paulo', now(), now(), "
                f"now() - interval '1 minute', 'scheduled', :u FROM {schema}.customers"
            ),
            {"u": admin.user_id, "body": "Olá {{primeiro_nome}}"},
        )
        db.commit()
    t0 = time.perf_counter()
    counts = scheduling.run_due(schema, limit=args.due + 10)
    elapsed = time.perf_counter() - t0
    with session(schema) as db:
        keys = db.execute(
            text(
                f"SELECT count(*), count(DISTINCT idempotency_key) FROM {schema}.messages "
                "WHERE idempotency_key LIKE 'scheduled:%'"
            )
        ).one()
    print(
        f"due: {counts} in {elapsed:.2f} s = {args.due / elapsed:.0f} occurrences/s; "
        f"outbox rows {keys[0]}, distinct keys {keys[1]}; load {os.getloadavg()}"
    )
    assert counts["queued"] == args.due and keys[0] == keys[1] == args.due


if __name__ == "__main__":
    main()
