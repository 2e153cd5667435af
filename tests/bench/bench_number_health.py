"""Number health: the cost of reading a Cloud API number's failed share (`number_signals.recent_failures`)
when the number has a long history, which the outbox does after a batch with a failure.

    .venv/bin/python -m tests.bench.bench_number_health [--messages 300000] [--runs 300]

A throwaway tenant schema in the `crm_bench` database (or DATABASE_URL) gets one channel with
`--messages` outbound messages spread over 7 days (3 % failed), then the check's query runs `--runs`
times at "now" (the newest hour holds ~1.8k outcomes: the 500-row cap applies). Prints the plan's
buffers, p50/p95 of the wall time and this process's CPU time, and the machine's load; the schema is
dropped at the end.
"""

import argparse
import os
import time
import uuid
from datetime import timedelta

from tests.bench.bench_workspace import _prepare_database, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=300)
    args, _unknown = parser.parse_known_args()
    _prepare_database()

    from sqlalchemy import text

    from app.messaging import number_signals
    from models.base import utcnow
    from models.tenant import Channel, Conversation, Customer
    from tenants.database import engine, session
    from tenants.migrations import upgrade_platform, upgrade_tenant

    upgrade_platform()
    schema = "t_bh" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    try:
        with session(schema) as db:
            channel = Channel(kind="whatsapp_cloud", medium="whatsapp", name="Bench", config={})
            customer = Customer(name="Bench")
            db.add_all([channel, customer])
            db.flush()
            conv = Conversation(customer_id=customer.id or 0, channel="whatsapp", channel_id=channel.id)
            db.add(conv)
            db.commit()
            ids = {"ch": channel.id, "conv": conv.id}
        with engine().begin() as conn:
            t = time.perf_counter()
            conn.execute(
                text(
                    f"INSERT INTO {schema}.messages (conversation_id, direction, body, status, channel_id, "
                    "to_address, sent_at, failed_at, error_code) "
                    "SELECT :conv, 'out', 'Oferta', CASE WHEN i % 33 = 0 THEN 'failed' ELSE 'sent' END, :ch, "
                    "'+5511900000000', now() - make_interval(secs => i * (7 * 86400.0 / :n)), "
                    "CASE WHEN i % 33 = 0 THEN now() - make_interval(secs => i * (7 * 86400.0 / :n)) END, "
                    "CASE WHEN i % 33 = 0 THEN '131026' END FROM generate_series(1, :n) i"
                ),
                {"n": args.messages, **ids},
            )
            print(f"seeded {args.messages} messages in {time.perf_counter() - t:.1f} s")
            conn.execute(text(f"ANALYZE {schema}.messages"))
        now = utcnow()
        with session(schema) as db:
            plan = db.execute(
                text(
                    "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT status, error_code FROM "
                    f"{schema}.messages WHERE channel_id = :ch AND direction = 'out' "
                    "AND coalesce(failed_at, sent_at) >= :since AND coalesce(failed_at, sent_at) <= :now "
                    "ORDER BY coalesce(failed_at, sent_at) DESC LIMIT 500"
                ),
                {"since": now - timedelta(hours=1), "now": now, "ch": ids["ch"]},
            ).all()
            print("\n".join(r[0] for r in plan))
            walls: list[float] = []
            cpu0 = time.process_time()
            for _ in range(args.runs):
                t = time.perf_counter()
                sends, failed = number_signals.recent_failures(
                    db, ids["ch"] or 0, now - timedelta(hours=1), now
                )
                walls.append((time.perf_counter() - t) * 1000)
            cpu = (time.process_time() - cpu0) * 1000 / args.runs
        print(f"recent_failures: sends={sends} failed={failed} {summary(walls)} client CPU {cpu:.2f} ms/call")
        print(f"load: {os.getloadavg()}")
    finally:
        with engine().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
