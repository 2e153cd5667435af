"""The import through the real Redis broker: `crm import` pushes the task to Redis, a separate
`taskiq worker` process runs the pipeline, the CLI follows the job to its report."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tenants.queues import QUEUE_NAME

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def worker(database_url: str, redis_url: str):
    client = redis.Redis.from_url(redis_url)
    client.delete(QUEUE_NAME)
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskiq", "worker", "tasks.broker:broker", "tasks.imports", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield env
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    client.delete(QUEUE_NAME)


def test_cli_import_runs_in_a_worker_through_redis(tenant, worker, tmp_path: Path) -> None:
    path = tmp_path / "clientes.csv"
    path.write_text(
        "Nome;Celular;E-mail\nAna;(11) 98765-4321;ana@x.com\nBia;11 98765 4321;bia@x.com\nSem;123;\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "import", str(path), "--tenant", tenant.slug, "--json"],
        cwd=ROOT,
        env=worker,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert (report["read"], report["created"], report["duplicates"], report["invalid"]) == (3, 1, 1, 1)
    assert time.monotonic() - started < 120
    # The job ran in the worker process: the queue is empty and the job row says done.
    assert redis.Redis.from_url(worker["REDIS_URL"]).llen(QUEUE_NAME) == 0
