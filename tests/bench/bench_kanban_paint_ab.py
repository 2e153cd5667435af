"""Browser benchmark, A/B: /kanban first paint of two checkouts served side by side, loads interleaved.

    .venv/bin/python -m tests.bench.bench_kanban_paint_ab --base /work/wt/base [--rounds 6] [--warm 3]

On a shared box the load swings between two sequential runs more than a change costs; here both apps
(`--base`, another worktree of the repo, and this checkout) serve at once and each round loads one then
the other (order alternating), so the load hits both alike. Run `tests.bench.bench_kanban` first. Per
round and app: a cold load (HTTP cache cleared, from /inicio) and `--warm` reloads, each timed as in
bench_kanban_paint (navigation start → frame after 200 cards), plus for the reloads the renderer main
thread's CPU time (CDP `ThreadTime`, less sensitive to the box's load than wall time) and the render
time from the websocket message carrying the board's columns to that frame.
"""

import argparse
import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import tests.e2e.server as server
from tests.bench.bench_kanban import DB
from tests.bench.bench_kanban_paint import _OBSERVE, PASSWORD
from tests.bench.bench_profile_paint import e2e_lock
from tests.bench.bench_workspace import pct

# When the websocket message with the board's columns arrives (window.__columnsMsg).
_WS = """
(() => {
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (e) => {
      if (window.__columnsMsg === undefined && typeof e.data === 'string' && e.data.includes('columns')) {
        window.__columnsMsg = performance.now();
      }
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="another worktree of this repo (e.g. at main)")
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warm", type=int, default=3)
    args, _unknown = parser.parse_known_args()
    from playwright.sync_api import sync_playwright

    from tests.bench.bench_workspace import DEFAULT_ADMIN_URL
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    admin = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    url = os.environ.get("DATABASE_URL") or admin.rpartition("/")[0] + "/" + DB
    slug = f"bench-kanban-{args.opportunities}"
    trees = {"base": Path(args.base).resolve(), "this": server.ROOT}
    results: dict[str, dict[str, list[float]]] = {
        name: {"cold": [], "warm": [], "cpu": [], "render": []} for name in trees
    }
    loads: list[float] = []
    with e2e_lock(True), ExitStack() as stack, sync_playwright() as p:
        urls = {}
        for name, root in trees.items():
            server.ROOT = root  # serve_app runs the app from ROOT
            log = Path(tempfile.mkdtemp(prefix="bench-paint-ab-")) / "reflex.log"
            urls[name] = stack.enter_context(server.serve_app(url, log, timeout_s=420, REDIS_URL=""))
            print(f"{name}: {root} at {urls[name]}", flush=True)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def painted(page: Any, load: Any) -> float:
            load()
            page.wait_for_function("window.__board !== undefined", timeout=120_000)
            return float(page.evaluate("window.__board"))

        pages = {}
        for name in trees:  # one login per app: the cold loads clear the HTTP cache instead
            context = browser.new_context(
                base_url=urls[name], locale="pt-BR", viewport={"width": 1366, "height": 900}
            )
            context.set_default_timeout(120_000)
            context.add_init_script(_OBSERVE % 200)
            context.add_init_script(_WS)
            page = context.new_page()
            page.goto("/")
            page.wait_for_selector("#login-submit")
            page.fill("input[name=tenant]", slug)
            page.fill("input[name=email]", f"admin@{slug}.com.br")
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url("**/inicio")
            pages[name] = (page, context.new_cdp_session(page))
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for name in list(trees) if r % 2 == 0 else list(reversed(trees)):
                page, cdp = pages[name]
                runs = results[name]
                page.goto("/inicio")
                cdp.send("Network.clearBrowserCache")
                cold = painted(page, lambda page=page: page.goto("/kanban", wait_until="commit"))
                runs["cold"].append(cold)
                cdp.send("Performance.enable")
                for _ in range(args.warm):
                    runs["warm"].append(painted(page, lambda page=page: page.reload(wait_until="commit")))
                    # Per document: the reload's main thread CPU time up to now (just after the frame).
                    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    runs["cpu"].append(float(metrics["ThreadTime"]) * 1000)
                    runs["render"].append(float(page.evaluate("window.__board - window.__columnsMsg")))
                cdp.send("Performance.disable")
                print(
                    f"  round {r + 1} {name}: cold {runs['cold'][-1]:.0f} ms, warm "
                    f"{[round(v) for v in runs['warm'][-args.warm :]]} ms",
                    flush=True,
                )
        browser.close()
    print(f"load average (1 min) at the rounds' starts: {min(loads):.1f}–{max(loads):.1f}")
    for name, runs in results.items():
        for kind, values in runs.items():
            print(
                f"{name} {kind}: n={len(values)} p50={statistics.median(values):.0f} ms "
                f"p95={pct(values, 95):.0f} ms max={max(values):.0f} ms"
            )


if __name__ == "__main__":
    main()
