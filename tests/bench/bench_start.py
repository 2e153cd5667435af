"""Start-up benchmark: how long `crm run` (what `make run` starts) takes until the app answers.

    .venv/bin/python -m tests.bench.bench_start [--warm 3] [--no-cold]

- cold: the first start after a source change (the build stamp is removed, so the pages are compiled
  and the frontend bundle is built again, as after a `git pull`);
- warm: restarts of an unchanged checkout (the previous build is reused; target ≤ 10 s).

Each start runs `python -m app.cli run` (migrations, then `reflex run --env prod` through app.serve) on
one free port (the same for every start: the URL is baked into the bundle, so another port is another
build) against a dedicated database (`crm_bench_start` on the local server, created if missing; or
DATABASE_URL), and is timed from the spawn until both `/ping` and `/` answer 200. Printed per start:
wall time, the CPU seconds the process tree used (less sensitive to other load on the machine than the
wall time, which grows with the load), the 1-minute load average, and any misleading log line still
printed (see MISLEADING below). Uses this checkout's `.web`: do not run it beside the e2e suite of the
same checkout.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from app.build_stamp import STAMP_FILE
from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "crm_bench_start"
TARGET_WARM_S = 10.0
MISLEADING = (
    "npmmirror",
    "Run `uv run reflex run`",
    "of Node.js is out of date",
    "RouterData.page",
    "Compiling:",  # the counting bar ("Compiling 41/40"); our bar prints no count, checked below
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Start:
    kind: str
    wall_s: float
    cpu_s: float
    load: float
    misleading: list[str]


def _database_url() -> str:
    if url := os.environ.get("DATABASE_URL"):
        return url
    admin = os.environ.get("TEST_DATABASE_URL", DEFAULT_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    return admin.rsplit("/", 1)[0] + f"/{DB_NAME}"


def _tree_cpu_s(root_pid: int) -> float:
    """CPU seconds of the process and its live descendants (`crm run` starts the server in a session of
    its own, so the tree is followed by parent id), including the children they waited for (the build)."""
    stats: dict[int, tuple[int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the ")": state, ppid, ..., utime(11) stime(12) cutime(13) cstime(14).
        stats[int(stat.parent.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))
    tree, total, grew = {root_pid}, 0, True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    total = sum(stats[pid][1] for pid in tree if pid in stats)
    return total / CLK_TCK


def _misleading(log_text: str) -> list[str]:
    found = []
    for line in log_text.splitlines():
        if any(m in line for m in MISLEADING) and not (line.startswith("Compiling:") and "/" not in line):
            found.append(line.strip())
    return found


def start_once(kind: str, database_url: str, port: int, timeout_s: float = 600) -> Start:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "APP_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app exited early:\n{Path(log.name).read_text()[-4000:]}")
                try:
                    if (
                        httpx.get(f"{url}/ping", timeout=2).status_code == 200
                        and httpx.get(url, timeout=5).status_code == 200
                    ):
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > timeout_s:
                    raise RuntimeError("app did not start in time")
                time.sleep(0.1)
            wall = time.monotonic() - started
            cpu = _tree_cpu_s(proc.pid)
            load = os.getloadavg()[0]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        return Start(kind, wall, cpu, load, _misleading(Path(log.name).read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warm", type=int, default=3, help="restarts of the unchanged checkout")
    parser.add_argument("--no-cold", action="store_true", help="skip the start after a source change")
    args = parser.parse_args()
    url = _database_url()
    port = free_port()
    runs: list[Start] = []
    if not args.no_cold:
        (ROOT / STAMP_FILE).unlink(missing_ok=True)
        runs.append(start_once("cold", url, port))
    elif not (ROOT / STAMP_FILE).exists():
        runs.append(start_once("build", url, port))  # the warm runs need a stamped build
    runs += [start_once("warm", url, port) for _ in range(args.warm)]
    for r in runs:
        print(f"{r.kind:5} wall {r.wall_s:6.1f} s  cpu {r.cpu_s:6.1f} s  load1 {r.load:5.1f}")
        for line in r.misleading:
            print(f"      misleading log line: {line}")
    warm = [r.wall_s for r in runs if r.kind == "warm"]
    if warm:
        median = statistics.median(warm)
        verdict = "ok" if median <= TARGET_WARM_S else "over target"
        print(f"warm median {median:.1f} s (target ≤ {TARGET_WARM_S:.0f} s): {verdict}")


if __name__ == "__main__":
    main()
