"""Browser benchmark: first paint of a customer profile whose timeline has 1,000+ items (target ≤ 1 s).

    .venv/bin/python -m tests.bench.bench_profile_paint [--items 1200] [--cold 5] [--warm 10]

Serves the real app (`reflex run --env prod`, as tests/e2e do) on a free port against a dedicated
database (`crm_bench_paint` on the local server, created and migrated if missing; or DATABASE_URL),
with a tenant whose customer has `--items` timeline interactions (inserted set-based once, reused).
Chromium (Playwright) logs in and opens /clientes/<id>; the time is from navigation start
(performance.timeOrigin) to the frame after the first `.timeline-item` is laid out in the DOM.

- cold: a new browser context per run (fresh Reflex tab state, new websocket) whose HTTP cache is
  cleared after the login, so the profile load fetches the page bundle again;
- warm: reloads of the profile in the same tab (HTTP cache and server warm).

The app build uses the shared `.web` directory, so the script holds /tmp/crm-e2e.lock (flock) while it
builds and serves: do not wrap it in `flock` yourself (or pass --no-lock when you already hold it).
"""

import argparse
import fcntl
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "crm_bench_paint"
SLUG = "bench-paint"
EMAIL = f"admin@{SLUG}.com.br"
PASSWORD = "Senha-forte-123"
LOCK = "/tmp/crm-e2e.lock"
TARGET_MS = 1000.0

# Records when the first timeline item is laid out, then waits one frame so the time is at paint.
_OBSERVE_FIRST_ITEM = """
(() => {
  const seen = () => {
    const el = document.querySelector('.timeline-item');
    return el && el.getBoundingClientRect().height > 0;
  };
  const mark = () => requestAnimationFrame(() => { window.__firstItem = performance.now(); });
  const start = () => {
    if (seen()) { mark(); return; }
    const obs = new MutationObserver(() => { if (seen()) { obs.disconnect(); mark(); } });
    obs.observe(document.documentElement, {childList: true, subtree: true});
  };
  if (document.documentElement) start();
  else document.addEventListener('readystatechange', start, {once: true});
})();
"""


def _prepare_database() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    admin = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    url = admin.rpartition("/")[0] + f"/{DB_NAME}"
    os.environ["DATABASE_URL"] = url
    return url


def seed(items: int) -> tuple[int, int]:
    """The bench tenant and one customer with at least `items` interactions; returns (customer, count)."""
    from sqlalchemy import text
    from sqlmodel import select

    from app.auth.sessions import actor_for_user
    from app.crm.customers import CustomerIn, create_customer
    from app.platform.provisioning import SignupInput, provision_tenant
    from models.platform import Tenant, User
    from models.tenant import Customer
    from tenants.database import platform_session, session
    from tenants.migrations import migrate_all

    report = migrate_all()
    if not report.ok:
        raise SystemExit(f"migrations failed: {report.failed}")
    with platform_session() as pdb:
        tenant = pdb.exec(select(Tenant).where(Tenant.slug == SLUG)).first()
    if tenant is None:
        tenant = provision_tenant(SignupInput("Bench paint", SLUG, "Admin", EMAIL, PASSWORD))
    schema = tenant.schema_name or ""
    with platform_session() as pdb:
        user = pdb.exec(select(User).where(User.tenant_id == tenant.id, User.email == EMAIL)).one()
        actor = actor_for_user(pdb, user.id or 0)
    with session(schema) as db:
        customer = db.exec(select(Customer).where(Customer.name == "Cliente da timeline longa")).first()
        if customer is None:
            customer = create_customer(
                db, actor, CustomerIn(name="Cliente da timeline longa", plan="Pós 50 GB")
            )
            db.flush()
        cid = customer.id or 0
        have = db.exec(
            text(f'SELECT count(*) FROM "{schema}".interactions WHERE customer_id = :c'), params={"c": cid}
        ).one()[0]
        if have < items:
            # One set-based INSERT: kinds rotate, one interaction per hour going back in time.
            db.exec(
                text(
                    f'INSERT INTO "{schema}".interactions '
                    "(customer_id, kind, summary, payload, actor_id, origin, at) "
                    "SELECT :c, (ARRAY['note','call','message_in','message_out','status_change'])"
                    "[1 + g % 5], "
                    "'Interação de teste nº ' || g || ': cliente pediu retorno sobre a fatura e o plano.', "
                    "'{}'::jsonb, :u, 'user', now() - make_interval(hours => g) "
                    "FROM generate_series(1, :n) AS g"
                ),
                params={"c": cid, "u": actor.user_id, "n": items - have},
            )
        db.commit()
        total = db.exec(
            text(f'SELECT count(*) FROM "{schema}".interactions WHERE customer_id = :c'), params={"c": cid}
        ).one()[0]
    return cid, int(total)


@contextmanager
def e2e_lock(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with open(LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {LOCK} (another e2e run is using .web)...", flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def serve(database_url: str) -> Iterator[str]:
    from tests.e2e.server import serve_app

    started = time.monotonic()
    log_path = Path(tempfile.mkdtemp(prefix="bench-paint-")) / "reflex.log"
    with serve_app(database_url, log_path, timeout_s=420, REDIS_URL="") as url:
        print(f"app built and serving in {time.monotonic() - started:.0f} s ({url})", flush=True)
        yield url


def _login(page: Any) -> None:
    page.goto("/")
    page.wait_for_selector("#login-submit")
    page.fill("input[name=tenant]", SLUG)
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/inicio")
    page.wait_for_selector("#welcome")


def _measure(page: Any, load: Any) -> dict[str, float]:
    load()
    page.wait_for_function("window.__firstItem !== undefined", timeout=30_000)
    return page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          return {
            first_item: window.__firstItem,
            ttfb: nav ? nav.responseStart : -1,
            dom_content_loaded: nav ? nav.domContentLoadedEventEnd : -1,
            items: document.querySelectorAll('.timeline-item').length,
          };
        }"""
    )


def measure(url: str, customer_id: int, cold_runs: int, warm_runs: int) -> dict[str, list[dict[str, float]]]:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    profile = f"/clientes/{customer_id}"
    cold: list[dict[str, float]] = []
    warm: list[dict[str, float]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for i in range(cold_runs):
                context = browser.new_context(
                    base_url=url, locale="pt-BR", viewport={"width": 1366, "height": 900}
                )
                context.set_default_timeout(30_000)
                context.add_init_script(_OBSERVE_FIRST_ITEM)
                page = context.new_page()
                _login(page)
                # Keep the tab (its Reflex session) but forget every fetched asset.
                context.new_cdp_session(page).send("Network.clearBrowserCache")
                cold.append(_measure(page, lambda page=page: page.goto(profile, wait_until="commit")))
                print(f"  cold {i + 1}: {cold[-1]['first_item']:.0f} ms", flush=True)
                if i == cold_runs - 1:
                    for j in range(warm_runs):
                        warm.append(_measure(page, lambda page=page: page.reload(wait_until="commit")))
                        print(f"  warm {j + 1}: {warm[-1]['first_item']:.0f} ms", flush=True)
                context.close()
        finally:
            browser.close()
    return {"cold": cold, "warm": warm}


def _line(name: str, runs: list[dict[str, float]]) -> str:
    first = [r["first_item"] for r in runs]
    ttfb = [r["ttfb"] for r in runs]
    dcl = [r["dom_content_loaded"] for r in runs]
    return (
        f"{name}: n={len(first)} first timeline item p50={statistics.median(first):.0f} ms "
        f"max={max(first):.0f} ms (TTFB p50 {statistics.median(ttfb):.0f} ms, "
        f"DOMContentLoaded p50 {statistics.median(dcl):.0f} ms, items rendered {int(runs[0]['items'])}) "
        f"{'OK' if max(first) <= TARGET_MS else 'OVER'} vs {TARGET_MS:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1200, help="timeline interactions of the customer")
    parser.add_argument("--cold", type=int, default=5, help="cold runs (new context each)")
    parser.add_argument("--warm", type=int, default=10, help="warm reloads")
    parser.add_argument("--no-lock", action="store_true", help=f"do not take {LOCK} (caller holds it)")
    # `make bench` passes one BENCH_ARGS to every bench script: ignore the options of the others.
    args, _unknown = parser.parse_known_args()
    os.environ.setdefault("REDIS_URL", "")
    url = _prepare_database()
    customer_id, total = seed(args.items)
    print(f"tenant {SLUG}: customer {customer_id} with {total:,} timeline interactions", flush=True)
    with e2e_lock(not args.no_lock), serve(url) as app_url:
        results = measure(app_url, customer_id, args.cold, args.warm)
    print("### Profile first paint (browser)")
    print(_line("cold", results["cold"]))
    print(_line("warm", results["warm"]))


if __name__ == "__main__":
    main()
