"""Campaigns on a 500k-customer tenant: materialising the audience, feeding the outbox, reading the
campaign's counters.

    .venv/bin/python -m tests.bench.bench_campaigns --customers 500000 [--runs 3] [--markdown out.md]

Uses the `bench-<customers>` tenant of bench_workspace (`crm_bench` database, or DATABASE_URL; seeded
there when missing) migrated to head. Every run happens in a transaction that is rolled back, so the
tenant is left as it was: two sandbox WhatsApp numbers (round-robin), a campaign over every customer
(empty filter: the whole base, as an admin sees it), then `--batches` feeder batches of 1,000 into the
outbox, then reads of the campaign as GET /api/campanhas/{id} does.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from tests.bench.bench_workspace import _prepare_database, pct


def backend_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend on this machine: unlike wall time, it does not
    grow with the other processes' load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--markdown", help="write the results table to this file")
    args, _unknown = parser.parse_known_args()
    _prepare_database()

    from sqlalchemy import text

    from app.campaigns import audience, counters, feeder, service
    from app.crm.customers.schemas import CustomerFilter
    from models.tenant import Campaign, Channel
    from tenants.database import session
    from tests.bench.tenant import bench_tenant

    bench = bench_tenant(args.customers)
    slug, schema, admin = bench.slug, bench.schema, bench.admin

    materialise_ms: list[float] = []
    materialise_cpu: list[float] = []
    feed_ms: list[float] = []
    read_ms: list[float] = []
    totals: dict[str, int] = {}
    for _ in range(args.runs):
        with session(schema) as db:
            channels = [
                Channel(kind="sandbox_whatsapp", medium="whatsapp", name=f"Bench {i}") for i in (1, 2)
            ]
            db.add_all(channels)
            db.flush()
            campaign = Campaign(
                name="Bench",
                medium="whatsapp",
                status="running",
                channel_ids=[c.id or 0 for c in channels],
                body="Olá {{primeiro_nome}}, seu plano {{plano_atual}} tem novidades.",
                time_zone="America/Sao_Paulo",
            )
            db.add(campaign)
            db.flush()
            pid = db.execute(text("SELECT pg_backend_pid()")).scalar_one()
            cpu, t = backend_cpu_s(pid), time.perf_counter()
            counts = audience.materialise(db, admin, campaign, CustomerFilter())
            materialise_ms.append((time.perf_counter() - t) * 1000)
            materialise_cpu.append(backend_cpu_s(pid) - cpu)
            campaign.counts = counters.read(counts)
            db.add(campaign)
            db.flush()
            totals = dict(campaign.counts)
            for _b in range(args.batches):
                t = time.perf_counter()
                fed = feeder.feed(db, campaign.id or 0, batch=1000)
                feed_ms.append((time.perf_counter() - t) * 1000)
                assert fed.queued == 1000, fed
            for _r in range(50):
                t = time.perf_counter()
                service.get_campaign(db, admin, campaign.id or 0)
                read_ms.append((time.perf_counter() - t) * 1000)
            db.rollback()

    rows = [
        "| step | runs | p50 | max | note |",
        "|---|---|---|---|---|",
        f"| materialise {totals.get('total', 0):,} recipients | {len(materialise_ms)} | "
        f"{statistics.median(materialise_ms) / 1000:.2f} s | {max(materialise_ms) / 1000:.2f} s | "
        f"pending {totals.get('pending', 0):,}, opted out {totals.get('skipped_opted_out', 0):,}, "
        f"no contact {totals.get('skipped_no_contact', 0):,}; "
        f"{totals.get('total', 0) / (statistics.median(materialise_ms) / 1000):,.0f} rows/s; "
        f"PostgreSQL backend CPU p50 {statistics.median(materialise_cpu):.2f} s |",
        f"| feed 1,000 recipients into the outbox | {len(feed_ms)} | {statistics.median(feed_ms):.0f} ms | "
        f"{max(feed_ms):.0f} ms | {1000 / (statistics.median(feed_ms) / 1000):,.0f} msg/s per feeder "
        "(conversations, messages, timeline, counters) |",
        f"| read the campaign (counters) | {len(read_ms)} | {statistics.median(read_ms):.2f} ms | "
        f"{max(read_ms):.2f} ms | p95 {pct(read_ms, 95):.2f} ms |",
    ]
    load = os.getloadavg()
    print(f"tenant {slug} ({schema}); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("\n".join(rows))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
