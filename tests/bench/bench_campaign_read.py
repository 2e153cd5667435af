"""A 500k-recipient campaign read over HTTP while it sends: `GET /api/campanhas/{id}` (the detail page
reads the same service call) on one keep-alive connection, while worker processes feed the campaign into
the outbox and send it through two unthrottled sandbox WhatsApp numbers, whose status reports (delivered,
read) move the campaign's counters as a real provider's would.

    .venv/bin/python -m tests.bench.bench_campaign_read --customers 500000 [--seconds 60] [--workers 2]

Uses the seeded `bench-<customers>` tenant (tests/bench/tenant.py). The campaign is created through the
service (materialised whole), read for `--seconds`, then cancelled; its messages, recipients and timeline
entries are deleted afterwards so that the tenant stays as the other benchmarks expect it.
"""

import argparse
import asyncio
import logging
import multiprocessing as mp
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from tests.bench.bench_latency import Client, serve
from tests.bench.bench_workspace import _prepare_database, pct
from tests.bench.tenant import PASSWORD, bench_tenant


def _worker(schema: str, campaign_id: int, name: str, stop_at: float, statuses: bool) -> None:
    """Feed a batch when the outbox has room, deliver what is queued; until `stop_at`."""
    from app.campaigns import feeder
    from app.messaging import outbox
    from app.messaging.adapters import sandbox
    from tenants.database import session

    # The feeder's and the outbox's kicks have no broker here: this loop is the worker.
    logging.getLogger("app.after_commit").setLevel(logging.CRITICAL)
    if not statuses:
        sandbox.emit_statuses = lambda db, channel, pids: 0  # type: ignore[assignment]

    while time.time() < stop_at:
        with session(schema) as db:
            result = feeder.feed(db, campaign_id)
            db.commit()
        asyncio.run(outbox.deliver(schema, worker_id=name, max_batches=5, linger_s=0))
        if result.state not in ("fed", "backlog"):
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between two reads")
    parser.add_argument(
        "--statuses", action="store_true", help="the sandbox reports delivered/read (slower sending)"
    )
    args, _unknown = parser.parse_known_args()
    _prepare_database()

    from sqlalchemy import text

    from app.campaigns import service
    from app.messaging import channels
    from tenants.database import session

    bench = bench_tenant(args.customers)
    schema = bench.schema
    started = datetime.now(UTC)
    with session(schema) as db:
        numbers = [
            channels.create_channel(
                db, bench.admin, channels.ChannelIn(kind="sandbox_whatsapp", name=f"Leitura {i}", config={})
            )
            for i in (1, 2)
        ]
        db.commit()
        t = time.perf_counter()
        campaign = service.create_campaign(
            db,
            bench.admin,
            "whatsapp",
            service.CampaignIn(
                nome="Bench leitura",
                identidades=[n.id or 0 for n in numbers],
                corpo="Olá {{primeiro_nome}}, seu plano {{plano_atual}} tem novidades.",
                filtro={},
            ),
        )
        db.commit()
        campaign_id = campaign.id or 0
        total = (campaign.counts or {}).get("total", 0)
        print(f"campaign {campaign_id}: {total:,} recipients materialised in {time.perf_counter() - t:.1f} s")

    reads: list[float] = []
    samples: list[tuple[float, dict[str, Any]]] = []
    env = dict(os.environ)
    env.setdefault("REDIS_URL", "")
    try:
        with serve(env) as port:
            client = Client(port)
            status, body, _ = client.call(
                "POST",
                "/api/auth/login",
                body={"tenant": bench.slug, "email": bench.admin_email, "password": PASSWORD},
            )
            assert status == 200, body
            token = body["access_token"]
            path = f"/api/campanhas/{campaign_id}"
            for _ in range(20):  # warm the connection, the auth cache and the plans
                client.call("GET", path, token)
            ctx = mp.get_context("spawn")
            stop_at = time.time() + args.seconds
            procs = [
                ctx.Process(
                    target=_worker, args=(schema, campaign_id, f"read-bench-{i}", stop_at, args.statuses)
                )
                for i in range(args.workers)
            ]
            for p in procs:
                p.start()
            while time.time() < stop_at:
                status, body, ms = client.call("GET", path, token)
                assert status == 200, body
                reads.append(ms)
                samples.append((time.time(), body["counts"]))
                time.sleep(args.interval)
            for p in procs:
                p.join()
    finally:
        with session(schema) as db:
            service.cancel(db, bench.admin, campaign_id)
            db.commit()
            for sql in (
                f"DELETE FROM {schema}.messages WHERE campaign_id = :id",
                f"DELETE FROM {schema}.campaign_recipients WHERE campaign_id = :id",
                f"DELETE FROM {schema}.campaigns WHERE id = :id",
                f"DELETE FROM {schema}.interactions WHERE kind = 'campaign' AND at >= :started",
                f"UPDATE {schema}.channels SET deleted_at = now(), is_default = false "
                "WHERE id = ANY(:channels)",
            ):
                db.execute(
                    text(sql), {"id": campaign_id, "started": started, "channels": [n.id for n in numbers]}
                )
            db.commit()

    first, last = samples[0], samples[-1]
    sent = int(last[1].get("sent", 0)) - int(first[1].get("sent", 0))
    rate = sent / (last[0] - first[0]) if last[0] > first[0] else 0.0
    load = os.getloadavg()
    print(
        f"| GET /api/campanhas/{{id}} while sending ({total:,} recipients, {args.workers} workers, "
        f"statuses {'on' if args.statuses else 'off'}) | "
        f"{len(reads)} | {statistics.median(reads):.1f} | {pct(reads, 95):.1f} | {max(reads):.1f} | "
        f"{sent:,} sent during the reads ({rate:,.0f} msg/s); counts at the end: {last[1]} |"
    )
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
