"""Request latency over HTTP: auth check, list page, list search box and ranked search, on a 500k tenant.

    .venv/bin/python -m tests.bench.bench_latency --customers 500000 [--markdown out.md]

Serves `app.api:api` with uvicorn in a child process and sends every request over one keep-alive
connection (http.client) with an admin or an agent token. The tenant is the one bench_workspace seeds
(`bench-<customers>`, `crm seed-demo`'s data; seeded here when missing). Per class it reports p50 / p95 /
max of the round trip and, measured in the same run, the floor: the SQL statements the server ran for
those requests, replayed on one warm psycopg connection (no HTTP, no Python around them).
"""

import argparse
import gc
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg

from tests.bench.bench_workspace import _prepare_database, pct
from tests.bench.tenant import PASSWORD

DEMO_PASSWORD = "Demo-senha-123"

# Beyond the issue's words: other common first names, surnames, company words of the demo data.
COMMON = ["joao", "telecom", "comercio", "ana", "silva", "maria", "santos", "oliveira", "jose", "souza"]
COMMON_MORE = ["pereira", "lima", "carlos", "fernanda", "distribuidora", "transportes", "farmacia", "ltda"]
RARER = ["zanetti", "quintao", "valadao", "damasceno", "sebastiao", "rosangela", "calixto romao"]
TWO_WORDS = ["joao silva", "maria oliveira", "ana costa", "telecom souza", "comercio lima ltda", "jose sa"]
ONE_TYPO = [
    "joao slva",
    "maria olivera",
    "rafel",
    "letica costa",
    "fernnda lima",
    "marcoss",
    "guimaraes falcao",
    "telecon",
    "distribuidroa",
    "quintoa",
]
ISSUE_TYPOS = ["slva", "oliveria", "souzza", "mraia"]
NOTHING = ["xqzw", "kkkkkkk", "zzzz wwww", "qwrtp", "bbbbbbbbbb silva"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(env: dict[str, str], cwd: str | None = None) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.api:api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--timeout-keep-alive",
            "600",
        ],
        env=env,
        cwd=cwd,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/api/health")
                if c.getresponse().status == 200:
                    c.close()
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("uvicorn did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any, float]:
        headers = {"Connection": "keep-alive"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.conn.sock is None:
            self.conn.connect()  # a new connection is not part of any request's time
        t = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        ms = (time.perf_counter() - t) * 1000
        return resp.status, json.loads(raw) if raw else None, ms


def stats(times: list[float]) -> str:
    return f"{statistics.median(times):.1f} | {pct(times, 95):.1f} | {max(times):.1f}"


def row(label: str, times: dict[str, list[float]], floor: list[float] | None, note: str = "") -> str:
    fl = f"{statistics.median(floor):.2f} / {pct(floor, 95):.2f}" if floor else "—"
    before = f" {stats(times['before'])} |" if "before" in times else ""
    return f"| {label} | {len(times['after'])} | {stats(times['after'])} |{before} {fl} | {note} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--markdown", help="write the results section to this file")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each search query")
    parser.add_argument(
        "--baseline",
        help="a checkout of the code to compare with (e.g. `git worktree add /tmp/base <commit>`): served "
        "side by side on the same database, each request sent to both in turn, so both see the same load",
    )
    parser.add_argument("--slowest", type=int, default=0, help="print each class's N slowest requests")
    parser.add_argument(
        "--buffers",
        action="store_true",
        help="also print, per list class, the shared buffers (hit + read) its SQL touches per request, from "
        "EXPLAIN (ANALYZE, BUFFERS) of every statement: a load-independent measure of the work",
    )
    parser.add_argument(
        "--only", help="comma-separated words: run only the classes whose label has one (e.g. 'by name,typo')"
    )
    args, _unknown = parser.parse_known_args()
    only = [w.strip() for w in args.only.split(",")] if args.only else []

    def wanted(label: str) -> bool:
        return not only or any(w in label for w in only)

    _prepare_database()

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from tenants.database import database_url
    from tests.bench.tenant import bench_tenant

    bench = bench_tenant(args.customers)
    slug, schema = bench.slug, bench.schema
    dsn = database_url()
    rng = random.Random(15)

    # Real phones, documents and e-mails to search for.
    with psycopg.connect(dsn) as conn:
        ids = [rng.randint(1, args.customers) for _ in range(12)]
        phones = [
            r[0]
            for r in conn.execute(
                f'SELECT value FROM "{schema}".contacts WHERE customer_id = ANY(%s) AND kind = %s',
                (ids, "phone"),
            )
        ]
        docs = [
            r[0]
            for r in conn.execute(f'SELECT document FROM "{schema}".customers WHERE id = ANY(%s)', (ids,))
        ]
        emails = [
            r[0]
            for r in conn.execute(
                f'SELECT value FROM "{schema}".contacts WHERE customer_id = ANY(%s) AND kind = %s LIMIT 3',
                (ids, "email"),
            )
        ]
    phone_queries = []
    for p in phones[:6]:
        national = p[3:]
        phone_queries += [f"({national[:2]}) {national[2:7]}-{national[7:]}", national[-4:], national[2:7]]
    doc_queries = [d[:9] for d in docs[:6]] + [d for d in docs[6:10]]

    env = dict(os.environ)
    env.setdefault("REDIS_URL", "")
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    # The statements the server runs, captured in this process by running the same service calls.
    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    def floor_of(fn: Any) -> float:
        """Milliseconds of the statements `fn` runs, replayed on a warm connection (best of 3)."""
        statements.clear()
        event.listen(Engine, "before_cursor_execute", capture)
        try:
            fn()
        finally:
            event.remove(Engine, "before_cursor_execute", capture)
        sqls = [s for s in statements if not s[0].lstrip().upper().startswith(("SET", "SELECT 1"))]
        best = float("inf")
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(3):
                t = time.perf_counter()
                for sql, params in sqls:
                    conn.execute(sql, params).fetchall()
                best = min(best, (time.perf_counter() - t) * 1000)
        return best

    def buffers_of(fn: Any) -> int:
        """Shared buffers (hit + read) of the statements `fn` runs, each under EXPLAIN (ANALYZE, BUFFERS),
        in one transaction with its SET LOCALs (the typo threshold changes what a statement reads)."""
        statements.clear()
        event.listen(Engine, "before_cursor_execute", capture)
        try:
            fn()
        finally:
            event.remove(Engine, "before_cursor_execute", capture)
        total = 0
        with psycopg.connect(dsn) as conn:
            for sql, params in statements:
                if sql.lstrip().upper().startswith(("SET", "SELECT 1")):
                    conn.execute(sql, params)
                    continue
                plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
                top = plan[0][0]["Plan"] if plan else {}
                total += int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))
            conn.rollback()
        return total

    def login(client: Client) -> dict[str, str]:
        out = {}
        for who, email, password in (
            ("admin", f"admin@{slug}.com.br", PASSWORD),
            ("agent", f"atendente02@{slug}.demo", DEMO_PASSWORD),
        ):
            status, body, _ = client.call(
                "POST", "/api/auth/login", body={"tenant": slug, "email": email, "password": password}
            )
            assert status == 200, body
            out[who] = body["access_token"]
        return out

    with ExitStack() as stack:
        servers: dict[str, tuple[Client, dict[str, str]]] = {}
        for name, cwd in (("after", None), ("before", args.baseline)):
            if name == "before" and not cwd:
                continue
            c = Client(stack.enter_context(serve(env, cwd)))
            servers[name] = (c, login(c))
        tokens = servers["after"][1]

        # In-process actors and sessions for the floors.
        from app.api.deps import get_actor
        from app.crm import customers as svc
        from app.crm.customers import CustomerQuery
        from app.search import get_backend
        from tenants.database import session

        class _Cred:
            scheme = "Bearer"

            def __init__(self, token: str) -> None:
                self.credentials = token

        class _Req:
            client = type("C", (), {"host": "127.0.0.1"})()
            headers = type("H", (), {"getlist": staticmethod(lambda _k: [])})()

        actors = {who: get_actor(_Req, _Cred(tok)) for who, tok in tokens.items()}

        def list_floor(who: str, q: str | None, sort: str = "-updated_at") -> float:
            def run() -> None:
                with session(schema) as db:
                    svc.list_customers(db, actors[who], CustomerQuery(text=q, sort=sort, limit=50))

            if args.buffers and q:
                list_buffers.append(buffers_of(run))
            return floor_of(run)

        list_buffers: list[int] = []

        def search_floor(who: str, q: str) -> float:
            def run() -> None:
                with session(schema) as db:
                    get_backend().search(db, actors[who], q, limit=20)

            return floor_of(run)

        # Warm-up: caches, prepared statements, the server's imports.
        for c, toks in servers.values():
            for _ in range(50):
                c.call("GET", "/api/auth/me", toks["admin"])
                c.call("GET", "/api/clientes?limit=50", toks["admin"])
            for w in COMMON[:4]:
                c.call("GET", "/api/clientes/busca?" + urllib.parse.urlencode({"q": w}), toks["admin"])

        say(f"### Latency over HTTP — {args.customers:,} customers (tenant `{slug}`)")
        say()
        say(
            "One keep-alive connection, uvicorn `app.api:api` (one worker), admin and agent tokens; "
            "times in ms. Floor = the same requests' SQL replayed on a warm psycopg connection "
            "(median / p95 over the class's queries)."
        )
        say()
        if "before" in servers:
            say(
                f"Before and after served side by side (before = `{args.baseline}`), every request sent "
                "to both in turn (alternating which goes first), so both saw the same machine load."
            )
            say()
            say(
                "| class | n | p50 | p95 | max | before p50 | before p95 | before max "
                "| floor p50 / p95 | notes |"
            )
            say("|---|---|---|---|---|---|---|---|---|---|")
        else:
            say("| class | n | p50 | p95 | max | floor p50 / p95 | notes |")
            say("|---|---|---|---|---|---|---|")

        def measure(
            paths: list[tuple[str, str | None]], reps: int
        ) -> tuple[dict[str, list[float]], list[Any]]:
            times: dict[str, list[float]] = {name: [] for name in servers}
            bodies: list[Any] = []
            slow: list[tuple[float, str, str, str, int, float]] = []
            # This process's own collections must not land inside a timed request (a full one here,
            # ~240k objects of the in-process floors, took 0.5 s on a loaded machine): collected between
            # classes instead.
            gc.collect()
            gc.disable()
            order = [p for p in paths for _ in range(reps)]
            rng.shuffle(order)
            names = list(servers)
            try:
                for i, (who, path) in enumerate(order):
                    for name in names if i % 2 == 0 else names[::-1]:
                        c, toks = servers[name]
                        token = toks[who] if path != "/api/health" else None
                        status, body, ms = c.call("GET", path, token)
                        assert status == 200, (name, path, status, body)
                        times[name].append(ms)
                        slow.append((ms, name, who, path, i, time.time()))
                        if name == "after":
                            bodies.append((path, body))
            finally:
                gc.enable()
            if args.slowest:
                # Which request made the max, where in the run it came (i: its position) and when (UTC, to
                # set beside the PostgreSQL log: checkpoints, autovacuum).
                for ms, name, who, path, i, at in sorted(slow, reverse=True)[: args.slowest]:
                    clock = time.strftime("%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}"
                    where = urllib.parse.unquote(path)
                    print(f"    slowest: {ms:7.1f} ms {name:6} {who:5} #{i:<4} {clock} {where}")
                slow.clear()
            return times, bodies

        if wanted("`GET /api/health`"):
            health, _ = measure([("admin", "/api/health")], 300)
            say(row("`GET /api/health`", health, None))

        if wanted("`GET /api/auth/me`"):
            me, _ = measure([("admin", "/api/auth/me"), ("agent", "/api/auth/me")], 250)
            me_floor = [
                floor_of(lambda who=who: get_actor(_Req, _Cred(tokens[who])))
                for who in tokens
                for _ in range(5)
            ]
            say(row("`GET /api/auth/me`", me, me_floor))

        if wanted("`GET /api/clientes` first page (4 sorts)"):
            sorts = ["-updated_at", "name", "-score", "created_at"]
            list_paths = [(who, f"/api/clientes?limit=50&sort={s}") for who in tokens for s in sorts]
            lists, _ = measure(list_paths, 40)
            lists_floor = [list_floor(who, None, s) for who in tokens for s in sorts]
            say(row("`GET /api/clientes` first page (4 sorts)", lists, lists_floor))

        def q_class(
            label: str, words: list[str], route: str, reps: int, note: str = "", sorts: tuple[str, ...] = ()
        ) -> None:
            if not wanted(label):
                return
            paths = []
            floors = []
            for who in tokens:
                for w in words:
                    if route == "list":
                        for sort in sorts or ("-updated_at",):
                            query = {"q": w, "limit": 50, **({"sort": sort} if sorts else {})}
                            paths.append((who, "/api/clientes?" + urllib.parse.urlencode(query)))
                            floors.append(list_floor(who, w, sort))
                    else:
                        paths.append((who, "/api/clientes/busca?" + urllib.parse.urlencode({"q": w})))
                        floors.append(search_floor(who, w))
            times, bodies = measure(paths, reps)
            found = sum(1 for _p, b in bodies if (b["items"] if isinstance(b, dict) else b))
            say(row(label, times, floors, note or f"{found}/{len(bodies)} with results"))
            if list_buffers:
                b = sorted(list_buffers)
                print(
                    f"    buffers ({len(b)} requests): median {statistics.median(b):,.0f} / p95 "
                    f"{pct([float(x) for x in b], 95):,.0f} / max {b[-1]:,} / total {sum(b):,}",
                    flush=True,
                )
                list_buffers.clear()

        reps = args.reps
        q_class("list `q`: issue's typos (slva, oliveria, souzza, mraia)", ISSUE_TYPOS, "list", reps)
        q_class("list `q`: one-typo names", ONE_TYPO, "list", reps)
        q_class("list `q`: matches nothing", NOTHING, "list", reps)
        q_class("list `q`: common words", COMMON, "list", reps)
        # Adversarial: company words cluster at one end of the name order (the list walked 1.5 s to them).
        by_name = ("name", "-name")
        q_class(
            "list `q`: common and company words, by name ↑↓", COMMON + COMMON_MORE, "list", 2, sorts=by_name
        )
        q_class("list `q`: one-typo names, by name ↑↓", ONE_TYPO + ISSUE_TYPOS, "list", 2, sorts=by_name)
        q_class("list `q`: phone fragments", phone_queries, "list", reps)
        q_class("list `q`: documents", doc_queries, "list", reps)
        q_class("`/busca`: issue's common words", COMMON[:4], "busca", reps)
        q_class(
            "`/busca`: more common names, surnames, company words", COMMON[4:] + COMMON_MORE, "busca", reps
        )
        q_class("`/busca`: two words", TWO_WORDS, "busca", reps)
        q_class("`/busca`: rarer words", RARER, "busca", reps)
        q_class("`/busca`: one typo", ONE_TYPO + ISSUE_TYPOS, "busca", reps)
        q_class("`/busca`: matches nothing", NOTHING, "busca", reps)
        q_class("`/busca`: phone fragments", phone_queries, "busca", reps)
        q_class("`/busca`: documents", doc_queries, "busca", reps)
        q_class("`/busca`: e-mails", emails, "busca", reps)
    say()
    load = os.getloadavg()
    say(f"Load average during the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (2 cores).")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
