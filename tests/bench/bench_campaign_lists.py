"""Uploaded campaign lists: reading, normalising and matching a CSV of phones (national format, as people
export them) against a tenant's customers, then materialising the campaign from the list.

    .venv/bin/python -m tests.bench.bench_campaign_lists --customers 50000 [--lines 50000] [--runs 3]

Uses the `bench-<customers>` tenant of bench_workspace (`crm_bench` database, or DATABASE_URL; seeded
there when missing). Each run happens in a transaction that is rolled back. Prints wall and CPU time of
this process (the database's own time is the difference, roughly) and the machine's load.
"""

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from tests.bench.bench_workspace import _prepare_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args, _unknown = parser.parse_known_args()
    _prepare_database()

    from sqlmodel import col, select

    from app.campaigns import audience, lists
    from app.crm.customers.schemas import CustomerFilter
    from models.tenant import Campaign, Channel, Contact
    from tenants.database import session
    from tests.bench.tenant import bench_tenant

    bench = bench_tenant(args.customers)
    slug, schema, admin = bench.slug, bench.schema, bench.admin

    with session(schema) as db:
        phones = list(
            db.exec(
                select(Contact.value).where(col(Contact.kind).in_(("phone", "whatsapp"))).limit(args.lines)
            ).all()
        )
    rng = random.Random(7)
    lines = ["nome;celular"]
    for i in range(args.lines):
        if i % 20 == 19:
            lines.append(f"x;{rng.randint(1000, 9999)}")  # 5 % invalid
        else:
            p = phones[i % len(phones)]  # E.164 +55DDXXXXXXXXX, written as (DD) XXXXX-XXXX
            lines.append(f"c{i};({p[3:5]}) {p[5:-4]}-{p[-4:]}")
    upload_wall: list[float] = []
    upload_cpu: list[float] = []
    materialise_s: list[float] = []
    result = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lista.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for _ in range(args.runs):
            with session(schema) as db:
                t, c = time.perf_counter(), time.process_time()
                result = lists.upload_list(db, admin, "lista.csv", path)
                upload_wall.append(time.perf_counter() - t)
                upload_cpu.append(time.process_time() - c)
                channel = Channel(kind="sandbox_whatsapp", medium="whatsapp", name="Bench")
                db.add(channel)
                db.flush()
                campaign = Campaign(
                    name="Bench lista",
                    medium="whatsapp",
                    status="running",
                    channel_ids=[channel.id or 0],
                    body="Olá {{primeiro_nome}}",
                    audience={"list_id": result.id},
                    time_zone="America/Sao_Paulo",
                )
                db.add(campaign)
                db.flush()
                t = time.perf_counter()
                audience.materialise(db, admin, campaign, CustomerFilter())
                materialise_s.append(time.perf_counter() - t)
                db.rollback()
    assert result is not None
    load = os.getloadavg()
    print(f"tenant {slug} ({schema}); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        f"list of {result.linhas:,} lines: {result.encontrados:,} found, {result.invalidos:,} invalid, "
        f"{result.repetidos:,} repeated, {result.nao_encontrados:,} not found"
    )
    wall, cpu = statistics.median(upload_wall), statistics.median(upload_cpu)
    print(
        f"upload + match: p50 {wall:.2f} s wall ({result.linhas / wall:,.0f} lines/s), "
        f"{cpu:.2f} s CPU in this process; max {max(upload_wall):.2f} s"
    )
    print(f"materialise from the list: p50 {statistics.median(materialise_s):.2f} s")


if __name__ == "__main__":
    main()
