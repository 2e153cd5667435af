"""Sales Kanban on a pipeline with 10,000 open cards: REST move, a column's next page, the board.

    .venv/bin/python -m tests.bench.bench_kanban --opportunities 10000 [--moves 300] [--markdown out.md]

Seeds a `bench-kanban-<n>` tenant in the `crm_bench_kanban` database (or DATABASE_URL) once:
2,000 demo customers, then `seed_opportunities` (what `crm seed-demo --opportunities N` runs).
Requests go through the FastAPI app in process (TestClient: routing, validation, the route's own
transaction and commit, JSON), with the actor dependency replaced by a ready admin: the figure is
server time without the network and without authentication (two indexed reads, see issue 15's
numbers). Moves pick a random card and a random open stage, half of them before a random card of
the target column's first page, half at its end; it also counts the local rebalances.
"""

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg

from tests.bench.bench_workspace import DEFAULT_ADMIN_URL, pct

DB = "crm_bench_kanban"


def _prepare_database() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    admin = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')
    os.environ["DATABASE_URL"] = admin.rpartition("/")[0] + "/" + DB
    os.environ.setdefault("REDIS_URL", "")


def line(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values)} | {statistics.median(values):.1f} | {pct(values, 95):.1f} | "
        f"{max(values):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--markdown", help="write the results table to this file")
    # `make bench` passes one BENCH_ARGS to every bench script: ignore the options of the others.
    args, _unknown = parser.parse_known_args()
    _prepare_database()

    from fastapi.testclient import TestClient
    from sqlmodel import col, select

    from app.api.deps import get_actor
    from app.api.main import api
    from app.auth.sessions import actor_for_user
    from app.crm.demo import seed_demo
    from app.crm.kanban import ordering
    from app.crm.kanban.demo import seed_opportunities
    from app.platform.provisioning import SignupInput, provision_tenant
    from models.platform import Tenant, User
    from models.tenant import Opportunity, Pipeline, Stage
    from tenants.database import platform_session, session
    from tenants.migrations import upgrade_platform

    upgrade_platform()
    slug = f"bench-kanban-{args.opportunities}"
    with platform_session() as pdb:
        tenant = pdb.exec(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is None:
        tenant = provision_tenant(
            SignupInput(
                name=slug,
                slug=slug,
                admin_name="Admin",
                admin_email=f"admin@{slug}.com.br",
                admin_password="Senha-forte-123",
            )
        )
        seed_demo(tenant.schema_name, 2_000, 1, 2, 10)
        with session(tenant.schema_name) as db:
            seed_opportunities(db, tenant.schema_name, args.opportunities)
            db.commit()
    schema = tenant.schema_name
    with platform_session() as pdb:
        admin_user = pdb.exec(
            select(User).where(User.tenant_id == tenant.id, User.role == "admin").order_by(col(User.id))
        ).first()
        assert admin_user is not None and admin_user.id is not None
        admin = actor_for_user(pdb, admin_user.id)
    with session(schema) as db:
        pipeline = db.exec(select(Pipeline).where(col(Pipeline.is_default))).one()
        stages = [
            s.id
            for s in db.exec(
                select(Stage).where(Stage.pipeline_id == pipeline.id, col(Stage.outcome).is_(None))
            )
        ]
        card_ids = list(db.exec(select(Opportunity.id).where(Opportunity.pipeline_id == pipeline.id)))
    print(f"tenant {slug}: {len(card_ids)} cards over {len(stages)} open stages")

    rebalances = 0
    original = ordering._rebalance_from

    def counting(*a: Any, **k: Any) -> int:
        nonlocal rebalances
        rebalances += 1
        return original(*a, **k)

    ordering._rebalance_from = counting  # type: ignore[assignment]
    api.dependency_overrides[get_actor] = lambda: admin
    rng = random.Random(7)
    results: dict[str, list[float]] = {"move": [], "board": [], "next_page": []}

    def timed(key: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        out = fn()
        results[key].append((time.perf_counter() - t) * 1000)
        return out

    with TestClient(api) as client:
        base = f"/api/kanban/{pipeline.id}"
        for _ in range(5):  # warm-up: imports, plans, connection pool
            client.get(base)
        board = client.get(base).json()
        first_pages = {c["stage_id"]: [card["id"] for card in c["cards"]] for c in board["columns"]}
        for i in range(args.moves):
            card_id = rng.choice(card_ids)
            stage_id = rng.choice(stages)
            body: dict[str, Any] = {"stage_id": stage_id}
            page = [c for c in first_pages.get(stage_id, []) if c != card_id]
            if i % 2 and page:
                body["before_id"] = rng.choice(page)
            r = timed(
                "move",
                lambda card_id=card_id, body=body: client.post(
                    f"/api/kanban/cards/{card_id}/move", json=body
                ),
            )
            if r.status_code != 200:
                # A required field or WIP rule of the demo pipeline; nothing is written then.
                results["move"].pop()
        for _ in range(30):
            timed("board", lambda: client.get(base))
        for column in client.get(base).json()["columns"]:
            cursor = column["next_cursor"]
            pages = 0
            while cursor and pages < 20:
                r = timed(
                    "next_page",
                    lambda cursor=cursor, sid=column["stage_id"]: client.get(
                        base, params={"stage_id": sid, "cursor": cursor}
                    ),
                )
                assert r.status_code == 200, r.text
                cursor = next(c for c in r.json()["columns"] if c["stage_id"] == column["stage_id"])[
                    "next_cursor"
                ]
                pages += 1
    api.dependency_overrides.pop(get_actor, None)

    table = [
        f"{len(card_ids)} open cards, {len(stages)} open stages; {rebalances} local rebalances in "
        f"{len(results['move'])} moves",
        "",
        "| request (server time, in process) | n | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
        line("POST /api/kanban/cards/{id}/move (history + timeline + audit + commit)", results["move"]),
        line("GET /api/kanban/{pipeline_id}?stage_id=&cursor= (next 50 of a column)", results["next_page"]),
        line("GET /api/kanban/{pipeline_id} (counts, totals, first 50 per column)", results["board"]),
    ]
    print("\n".join(table))
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
