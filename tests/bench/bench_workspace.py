"""Workspace benchmark: seed a 500k-customer tenant, then time the list, search, profile and bulk tag.

    .venv/bin/python -m tests.bench.bench_workspace --customers 500000 [--markdown out.md]

Uses DATABASE_URL, or a `crm_bench` database on the local server (created if missing). A tenant
`bench-<customers>` is provisioned and seeded once; later runs reuse it (--reseed to start over).
Times are in-process service calls (Python + SQL), i.e. server time without HTTP.
"""

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import psycopg

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _prepare_database() -> None:
    if os.environ.get("DATABASE_URL"):
        return
    admin = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'crm_bench'").fetchone():
            conn.execute('CREATE DATABASE "crm_bench"')
    os.environ["DATABASE_URL"] = admin.rpartition("/")[0] + "/crm_bench"
    os.environ.setdefault("REDIS_URL", "")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> str:
    return (
        f"n={len(values)} p50={statistics.median(values):.1f} ms p95={pct(values, 95):.1f} ms "
        f"max={max(values):.1f} ms"
    )


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000


class Capture:
    """Remembers the SQL statements a service call runs, to EXPLAIN them afterwards."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    @contextmanager
    def on(self, engine: Any) -> Iterator["Capture"]:
        from sqlalchemy import event

        def before(conn, cursor, statement, parameters, context, executemany):
            self.statements.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", before)
        try:
            yield self
        finally:
            event.remove(engine, "before_cursor_execute", before)


def explain(db: Any, statement: str, parameters: Any) -> str:
    conn = db.connection().connection.driver_connection
    with conn.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
        return "\n".join(r[0] for r in cur.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--markdown", help="write the results section to this file")
    parser.add_argument("--runs", type=int, default=3, help="repetitions per list configuration")
    parser.add_argument("--sections", default="list,search,profile,bulk", help="comma-separated subset")
    # `make bench` passes one BENCH_ARGS to every bench script: ignore the options of the others.
    args, _unknown = parser.parse_known_args()
    sections = set(args.sections.split(","))
    _prepare_database()

    from sqlmodel import select

    from app.auth.sessions import actor_for_user
    from app.crm import customers as svc
    from app.crm import timeline
    from app.crm.customers import BulkRequest, CustomerFilter, CustomerQuery
    from app.crm.demo import seed_demo
    from app.platform.provisioning import SignupInput, provision_tenant
    from app.search.postgres import PostgresSearch
    from models.platform import Tenant, User
    from models.tenant import Contact, Customer, Wallet
    from tasks.crm import run_bulk_sync
    from tenants.database import engine, platform_session, session
    from tenants.migrations import upgrade_platform

    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    upgrade_platform()
    slug = f"bench-{args.customers}"
    with platform_session() as pdb:
        tenant = pdb.exec(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is not None and args.reseed:
        with engine().begin() as conn:
            from sqlalchemy import text

            conn.execute(text(f'DROP SCHEMA "{tenant.schema_name}" CASCADE'))
            conn.execute(text("DELETE FROM platform.users WHERE tenant_id = :t"), {"t": tenant.id})
            conn.execute(text("DELETE FROM platform.tenants WHERE id = :t"), {"t": tenant.id})
        tenant = None
    seeded = None
    if tenant is None:
        tenant = provision_tenant(
            SignupInput(
                name=f"Bench {args.customers}",
                slug=slug,
                admin_name="Admin",
                admin_email=f"admin@{slug}.com.br",
                admin_password="Senha-forte-123",
            )
        )
        seeded = seed_demo(tenant.schema_name or "", args.customers, progress=lambda s: print("  seed:", s))
    schema = tenant.schema_name or ""
    say(f"### Workspace benchmark — {args.customers:,} customers (tenant `{slug}`, schema `{schema}`)")
    say()
    if seeded:
        secs = seeded["seconds"]
        say(
            f"- `seed_demo`: **{secs['total']:.1f} s** total for {seeded['customers']:,} customers, "
            f"{seeded['contacts']:,} contacts, {seeded['interactions']:,} interactions "
            f"({', '.join(f'{k} {v:.1f} s' for k, v in secs.items() if k != 'total')})"
        )
    with platform_session() as pdb:
        users = pdb.exec(select(User).where(User.tenant_id == tenant.id)).all()
        admin = actor_for_user(pdb, next(u.id for u in users if u.role == "admin"))
        manager = actor_for_user(pdb, next(u.id for u in users if u.role == "manager"))
        agent = actor_for_user(pdb, next(u.id for u in users if u.role == "agent"))
    actors = {"admin": admin, "manager": manager, "agent": agent}
    rng = random.Random(7)
    plans_explained: dict[str, str] = {}

    with session(schema) as db:
        wallet_ids = [w.id for w in db.exec(select(Wallet).order_by(Wallet.id)).all()]
        since = date.today() - timedelta(days=30)
        filters: dict[str, dict[str, Any]] = {
            "none": {},
            "status": {"status": ["inadimplente"]},
            "plan": {"plan": ["Fibra 500MB"]},
            "wallet": {"wallet_id": [wallet_ids[1]]},
            "owner": {"owner_id": [agent.user_id]},
            "tag": {"tags": ["vip"]},
            "custom": {"custom": {"porte": "M"}},
            "created": {"created_from": since.isoformat()},
            "updated": {"updated_from": since.isoformat()},
            "score": {"score_min": 900},
        }
        sorts = ["-updated_at", "name", "-name", "created_at", "-created_at", "score", "-score", "status"]
        if "list" in sections:
            # ---- list
            times: list[float] = []
            name_times: list[float] = []  # the name sorts alone (issue 14: folded key, t0016)
            worst: list[tuple[float, str]] = []
            for _ in range(args.runs):
                for who, actor in actors.items():
                    for fname, f in filters.items():
                        for sort in sorts:
                            q = CustomerQuery(**f, sort=sort, limit=50)
                            page, ms = timed(lambda q=q, actor=actor: svc.list_customers(db, actor, q))
                            times.append(ms)
                            if sort.lstrip("-") == "name":
                                name_times.append(ms)
                            worst.append((ms, f"{who}/{fname}/{sort}"))
                            if page.next_cursor:
                                q2 = q.model_copy(update={"cursor": page.next_cursor})
                                _, ms2 = timed(lambda q2=q2, actor=actor: svc.list_customers(db, actor, q2))
                                times.append(ms2)
                                if sort.lstrip("-") == "name":
                                    name_times.append(ms2)
                                worst.append((ms2, f"{who}/{fname}/{sort} (page 2)"))
            say(
                f"- **list page** (50 rows; 3 roles × {len(filters)} filters × {len(sorts)} sorts, first and "
                f"next page, {args.runs} runs): {summary(times)}"
            )
            say("  - slowest: " + "; ".join(f"{n} {ms:.1f} ms" for ms, n in sorted(worst, reverse=True)[:5]))
            say(f"  - name sorts (`name`, `-name`): {summary(name_times)}")
            for label, actor, q in [
                ("list: admin, no filter, newest first", admin, CustomerQuery()),
                (
                    "list: agent, status filter, sort by name",
                    agent,
                    CustomerQuery(status=["inadimplente"], sort="name"),
                ),
                (
                    "list: manager, tag filter, sort by score desc",
                    manager,
                    CustomerQuery(tags=["vip"], sort="-score"),
                ),
            ]:
                cap = Capture()
                with cap.on(engine()):
                    svc.list_customers(db, actor, q)
                # The page query (the one with LIMIT), not the tag-names lookup for its rows that follows.
                page_sql = [st for st in cap.statements if "LIMIT" in st[0]]
                plans_explained[label] = explain(db, *page_sql[-1])

        if "search" in sections:
            # ---- search
            sample = db.exec(
                select(Customer).where(Customer.id.in_([rng.randint(1, args.customers) for _ in range(40)]))
            ).all()
            phones = {
                c.customer_id: c.value
                for c in db.exec(
                    select(Contact).where(
                        Contact.customer_id.in_([c.id for c in sample]), Contact.kind == "phone"
                    )
                ).all()
            }
            emails = {
                c.customer_id: c.value
                for c in db.exec(
                    select(Contact).where(
                        Contact.customer_id.in_([c.id for c in sample]), Contact.kind == "email"
                    )
                ).all()
            }
            from app.search.query import fold

            def typo(name: str) -> str:
                words = fold(name).split()
                w = words[-1]
                i = rng.randrange(1, len(w))
                words[-1] = w[:i] + w[i + 1 :]  # drop one letter of the last word
                return " ".join(words)

            backend = PostgresSearch()
            kinds: dict[str, list[float]] = {
                "name (accents stripped)": [],
                "name with one typo": [],
                "phone formatted": [],
                "document prefix": [],
                "e-mail": [],
            }
            found: dict[str, int] = dict.fromkeys(kinds, 0)
            for c in sample:
                p = phones.get(c.id or 0, "")
                national = p[3:]
                cases = {
                    "name (accents stripped)": fold(c.name),
                    "name with one typo": typo(c.name),
                    "phone formatted": f"({national[:2]}) {national[2:7]}-{national[7:]}",
                    "document prefix": (c.document or "")[:9],
                    "e-mail": emails.get(c.id or 0, ""),
                }
                for kind, query in cases.items():
                    for actor in (admin, agent):
                        hits, ms = timed(lambda q=query, actor=actor: backend.search(db, actor, q))
                        kinds[kind].append(ms)
                        if actor is admin and any(h.id == c.id for h in hits):
                            found[kind] += 1
            all_search = [ms for v in kinds.values() for ms in v]
            say(f"- **search** (admin and agent, {len(sample)} customers per kind): {summary(all_search)}")
            for kind, v in kinds.items():
                say(f"  - {kind}: {summary(v)}; target found by admin in top 20: {found[kind]}/{len(sample)}")
            c = sample[0]
            for label, query in [
                ("search: name, admin", " ".join(fold(c.name).split()[:2])),
                ("search: name with typo (fallback pass), admin", typo(c.name)),
            ]:
                cap = Capture()
                with cap.on(engine()):
                    backend.search(db, admin, query)
                plans_explained[label] = "\n\n".join(
                    explain(db, s, p) for s, p in cap.statements if "SET" not in s
                )

        if "profile" in sections:
            # ---- profile with 1,000 timeline items
            target = rng.randint(1, args.customers)
            from models.tenant import Interaction

            for i in range(1000):
                db.add(
                    Interaction(
                        customer_id=target, kind="note" if i % 2 else "message_in", summary=f"bench {i}"
                    )
                )
            db.commit()
            _, ms_profile = timed(lambda: svc.get_customer(db, admin, target))
            pages: list[float] = []
            cursor, items = None, 0
            while items < 1000:
                page, ms = timed(
                    lambda c=cursor: timeline.list_timeline(db, admin, target, cursor=c, limit=50)
                )
                pages.append(ms)
                items += len(page.rows)
                cursor = page.next_cursor
                if not cursor:
                    break
            _kind_page, ms_kind = timed(
                lambda: timeline.list_timeline(db, admin, target, kinds=["note"], limit=50)
            )
            say(
                f"- **profile** with {items:,}+ timeline items: header, contacts, custom fields, 20 items "
                f"{ms_profile:.1f} ms; timeline pages of 50 (infinite scroll to 1,000): {summary(pages)}; "
                f"kind filter page {ms_kind:.1f} ms"
            )
            cap = Capture()
            with cap.on(engine()):
                timeline.list_timeline(db, admin, target, cursor=cursor, limit=50)
            plans_explained["timeline page (keyset, deep cursor)"] = explain(db, *cap.statements[-1])
            db.rollback()

    if "bulk" in sections:
        # ---- bulk tag 100k (background job path)
        with session(schema) as db:
            f = CustomerFilter(wallet_id=[wallet_ids[0]])
            n = svc.count_customers(db, admin, f, cap=10_000_000)["count"]
            job = svc.start_bulk(db, admin, BulkRequest(action="add_tag", value="black-friday", filter=f))
            db.commit()
            job_id = job.id or 0
        t = time.perf_counter()
        result = run_bulk_sync(schema, job_id)
        secs = time.perf_counter() - t
        say(
            f"- **bulk add tag** on a filtered set of {n:,} customers (background job, chunks of "
            f"{svc.BULK_CHUNK:,}, progress committed per chunk, one timeline row per changed customer): "
            f"**{secs:.1f} s** ({result['changed']:,} changed)"
        )
        with session(schema) as db:
            # Undo, so the next run measures the same work.
            job = svc.start_bulk(db, admin, BulkRequest(action="remove_tag", value="black-friday", filter=f))
            db.commit()
            undo_id = job.id or 0
        run_bulk_sync(schema, undo_id)
    say()
    say("#### EXPLAIN (ANALYZE, BUFFERS) of the hot queries")
    for label, plan in plans_explained.items():
        say()
        say(f"{label}:")
        say("```")
        say(plan)
        say("```")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
