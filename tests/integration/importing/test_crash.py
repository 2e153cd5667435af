"""A real import killed with SIGKILL (`crm import`, then a `taskiq worker`) at points chosen from the
pipeline's own progress, resumed automatically, must end where an uninterrupted import of the same file
ends: the same counts, customers, contacts, report, indexes and constraints, in at most 1.5x the time.

One generated 200k-row file (first import of an empty tenant: bulk mode, keys and indexes dropped),
one uninterrupted import as the reference, then one tenant per kill point."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from app.importing import pipeline, recovery
from tenants.queues import QUEUE_NAME
from tests.bench.generate import write_csv

ROOT = Path(__file__).resolve().parents[3]
CRM = Path(sys.executable).parent / "crm"
ROWS = 200_000
# The resume may take at most this share of the uninterrupted import's total time.
MAX_RESUME_RATIO = 1.5
# Timing keys of a report: everything else must be identical after a crash.
_TIMING = {"duration_s", "elapsed_s", "rate", "eta_s", "progress", "rows_read", "state"}


@dataclass
class Outcome:
    schema: str
    import_id: int
    seconds: float
    report: dict[str, Any]
    data: tuple[Any, ...]
    keys: list[str]


def _conn(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


def _provision() -> tuple[str, str]:
    from app.platform.provisioning import SignupInput, provision_tenant

    slug = f"c{uuid.uuid4().hex[:10]}"
    tenant = provision_tenant(
        SignupInput(
            name=f"Org {slug}",
            slug=slug,
            admin_name="Admin",
            admin_email=f"admin@{slug}.com.br",
            admin_password="Senha-forte-123",
        )
    )
    assert tenant.schema_name
    return slug, tenant.schema_name


def _data(url: str, schema: str) -> tuple[Any, ...]:
    """Counts and a digest of every customer with its contacts and tags, ids and timestamps left out
    (a killed batch's reserved ids are never reused, so ids differ after a crash)."""
    s = f'"{schema}"'
    with _conn(url) as conn:
        return conn.execute(
            f"""
            WITH k AS (
                SELECT customer_id, count(*) AS n, string_agg(
                    (to_jsonb(k) - ARRAY['id', 'customer_id', 'created_at'])::text, ',' ORDER BY kind, value
                ) AS s
                FROM {s}.contacts k GROUP BY customer_id
            ), t AS (
                SELECT ct.customer_id, string_agg(t.name, ',' ORDER BY t.name) AS s
                FROM {s}.customer_tags ct JOIN {s}.tags t ON t.id = ct.tag_id GROUP BY ct.customer_id
            )
            SELECT count(*), sum(coalesce(k.n, 0)),
                   (SELECT count(*) FROM {s}.contacts),
                   (SELECT count(*) FROM {s}.customer_tags),
                   md5(string_agg(
                       (to_jsonb(c) - ARRAY['id', 'created_at', 'updated_at'])::text
                       || '|' || coalesce(k.s, '') || '|' || coalesce(t.s, ''),
                       E'\\n' ORDER BY (to_jsonb(c) - ARRAY['id', 'created_at', 'updated_at'])::text,
                       k.s, t.s
                   ))
            FROM {s}.customers c LEFT JOIN k ON k.customer_id = c.id LEFT JOIN t ON t.customer_id = c.id
            """
        ).fetchone()


def _keys(url: str, schema: str) -> list[str]:
    """Every index and every primary/foreign/unique key of the schema (with its validation)."""
    with _conn(url) as conn:
        rows = conn.execute(
            """
            SELECT indexdef FROM pg_indexes WHERE schemaname = %s
            UNION ALL
            SELECT t.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid) || ' valid='
                   || k.convalidated
            FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s
            """,
            (schema, schema),
        ).fetchall()
    # The schema followed by its dot: a short schema name can be part of a word ("t_p" in "text_pattern_ops").
    return sorted(r[0].replace(f"{schema}.", "S.") for r in rows)


def _job(url: str, schema: str) -> tuple[int, str, int, dict[str, Any]] | None:
    with _conn(url) as conn:
        return conn.execute(
            f'SELECT id, state, rows_read, checkpoint FROM "{schema}".import_jobs ORDER BY id DESC LIMIT 1'
        ).fetchone()


def _activity(conn: psycopg.Connection[Any], schema: str, pattern: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'active' AND query ILIKE %s AND query LIKE %s)",
        (pattern, f"%{schema}%"),
    ).fetchone()
    return bool(row and row[0])


def _report(url: str, schema: str, import_id: int) -> dict[str, Any]:
    with _conn(url) as conn:
        row = conn.execute(
            f'SELECT state, report, checkpoint FROM "{schema}".import_jobs WHERE id = %s', (import_id,)
        ).fetchone()
    assert row is not None
    state, report, checkpoint = row
    assert state == "done", (state, report)
    assert "dropped_indexes" not in checkpoint
    return {k: v for k, v in report.items() if k not in _TIMING}


@pytest.fixture(scope="module")
def crash_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # 19 MB: bulk mode from 1 MB on, as a first import of 500k rows would run in production.
    return {**os.environ, "DATABASE_URL": database_url, "IMPORT_BULK_MIN_BYTES": str(1 << 20)}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("crash") / "clientes.csv", ROWS)


def _cli(env: dict[str, str], path: Path, slug: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CRM), "import", str(path), "--tenant", slug, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def reference(database_url: str, crash_env: dict[str, str], big_file: Path) -> Outcome:
    """The uninterrupted import."""
    slug, schema = _provision()
    started = time.monotonic()
    proc = _cli(crash_env, big_file, slug)
    out, err = proc.communicate(timeout=300)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, err[-3000:]
    import_id = json.loads(out.strip().splitlines()[-1])["id"]
    report = _report(database_url, schema, import_id)
    assert report["created"] > 150_000
    with _conn(database_url) as conn:
        row = conn.execute(
            f'SELECT report FROM "{schema}".import_jobs WHERE id = %s', (import_id,)
        ).fetchone()
    # The uninterrupted import's total time is the command's, as the operator sees it; the resumes are
    # timed from the moment they start (a worker's start-up is not theirs).
    assert row is not None
    print(
        f"\nuninterrupted import: {seconds:.1f}s for the command, {row[0]['duration_s']:.1f}s in the pipeline"
    )
    return Outcome(
        schema, import_id, seconds, report, _data(database_url, schema), _keys(database_url, schema)
    )


def _kill_when(
    url: str, proc: subprocess.Popen[str], schema: str, ready: Callable[[psycopg.Connection[Any], Any], bool]
) -> tuple[int, Any]:
    """SIGKILLs `proc` the moment `ready(conn, job row)` holds; returns the import id and that row."""
    deadline = time.monotonic() + 300
    with _conn(url) as conn:
        while time.monotonic() < deadline:
            job = _job(url, schema)
            if job is not None and ready(conn, job):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return job[0], job
            if proc.poll() is not None:
                raise AssertionError(
                    f"the import ended before the kill point: {proc.stderr and proc.stderr.read()}"
                )
            time.sleep(0.002)
    raise AssertionError("kill point never reached")


def _resume(url: str, schema: str, import_id: int) -> float:
    """What the app does at start in embedded mode (tasks.imports.recover_loop): find the dead import,
    take it over, run it; returns the resume's duration."""
    # The killed process's backends end as soon as PostgreSQL notices the closed connections (a second
    # for one busy in a statement: client_connection_check_interval), which frees the import's lock.
    deadline = time.monotonic() + 15
    while not (taken := recovery.recover_tenant(schema, queued_stale_s=0)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert taken == [import_id]
    from app.importing import jobs
    from models.tenant import ImportJob
    from tenants.database import session

    with session(schema) as db:
        job = db.get(ImportJob, import_id)
        assert job is not None
        status = jobs.import_status(job).model_dump()
    assert status["recovering"] and status["state_label"] == "retomando após falha"
    started = time.monotonic()
    pipeline.run(schema, import_id)
    return time.monotonic() - started


def _late(conn: psycopg.Connection[Any], job: Any) -> bool:
    return job[2] >= ROWS * 8 // 10


def _rebuild(schema: str) -> Callable[[psycopg.Connection[Any], Any], bool]:
    return lambda conn, job: _activity(conn, schema, "CREATE%INDEX%")


def _validation(schema: str) -> Callable[[psycopg.Connection[Any], Any], bool]:
    return lambda conn, job: _activity(conn, schema, "%VALIDATE CONSTRAINT%")


def _check(url: str, schema: str, import_id: int, reference: Outcome) -> None:
    assert _report(url, schema, import_id) == reference.report
    assert _data(url, schema) == reference.data
    assert _keys(url, schema) == reference.keys


def test_cli_import_killed_at_a_late_batch(
    database_url: str, crash_env: dict[str, str], big_file: Path, reference: Outcome
) -> None:
    slug, schema = _provision()
    import_id, _ = _kill_when(database_url, _cli(crash_env, big_file, slug), schema, _late)
    # The tenant is in bulk mode's half-state until the resume ends it.
    assert _keys(database_url, schema) != reference.keys
    seconds = _resume(database_url, schema, import_id)
    print(f"\nlate batch: resume {seconds:.1f}s, uninterrupted {reference.seconds:.1f}s")
    _check(database_url, schema, import_id, reference)
    assert seconds <= MAX_RESUME_RATIO * reference.seconds


# What the app does at start in embedded mode, in a process of its own (so that it can be killed too).
_RECOVER = """
import time
from app.importing import pipeline, recovery
deadline = time.monotonic() + 15
while not (dead := recovery.recover_all(0)) and time.monotonic() < deadline:
    time.sleep(0.2)
for schema, import_id in dead:
    pipeline.run(schema, import_id)
"""


def test_cli_import_killed_in_the_rebuild_and_its_resume_in_the_validation(
    database_url: str, crash_env: dict[str, str], big_file: Path, reference: Outcome
) -> None:
    """Killed while an index builds (every batch written), then the resume killed in turn while a foreign
    key is validated, then resumed to the end: both crashes resume at the rebuild, without the file."""
    slug, schema = _provision()
    import_id, job = _kill_when(database_url, _cli(crash_env, big_file, slug), schema, _rebuild(schema))
    assert job[3].get("phase") == "rebuild" and job[3].get("dropped_indexes")
    resume = subprocess.Popen(
        [sys.executable, "-c", _RECOVER], cwd=ROOT, env=crash_env, stderr=subprocess.PIPE, text=True
    )
    _, job = _kill_when(database_url, resume, schema, _validation(schema))
    assert job[3].get("phase") == "rebuild" and job[3].get("dropped_indexes")
    seconds = _resume(database_url, schema, import_id)
    print(f"\nrebuild, then validation: last resume {seconds:.1f}s, uninterrupted {reference.seconds:.1f}s")
    _check(database_url, schema, import_id, reference)
    assert seconds <= MAX_RESUME_RATIO * reference.seconds


def test_killed_taskiq_worker_loses_nothing(
    database_url: str, redis_url: str, crash_env: dict[str, str], big_file: Path, reference: Outcome
) -> None:
    """The worker popped the task and died with it (SIGKILL) right after the first batch committed; the
    next worker to start finds the dead import and resumes it; the CLI that queued it sees it finish."""
    client = redis.Redis.from_url(redis_url)
    client.delete(QUEUE_NAME)
    env = {**crash_env, "REDIS_URL": redis_url}
    slug, schema = _provision()

    def worker() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taskiq",
                "worker",
                "tasks.broker:broker",
                "tasks.imports",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    first = worker()
    cli = _cli(env, big_file, slug)
    second: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job = _job(database_url, schema)
            if job is not None and job[2] > 0:
                assert job[2] < ROWS // 4  # an early batch
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the worker never committed a batch")
        os.killpg(first.pid, signal.SIGKILL)  # the worker's whole process group: no clean-up
        first.wait(timeout=30)
        killed_at = time.monotonic()
        second = worker()
        # The resumed run: taken over (queued, recoveries = 1), then running again, then done.
        resumed_at = None
        while cli.poll() is None and time.monotonic() < deadline:
            with _conn(database_url) as conn:
                row = conn.execute(
                    f'SELECT state, recoveries FROM "{schema}".import_jobs WHERE id = %s', (job[0],)
                ).fetchone()
            if resumed_at is None and row == ("running", 1):
                resumed_at = time.monotonic()
            time.sleep(0.05)
        out, err = cli.communicate(timeout=300)
        assert cli.returncode == 0, err[-3000:]
        assert resumed_at is not None
        # The CLI notices within its 1 s poll.
        seconds = time.monotonic() - resumed_at - 1.0
        import_id = json.loads(out.strip().splitlines()[-1])["id"]
        print(
            f"\nworker killed: resumed {resumed_at - killed_at:.1f}s after the kill (the next worker's "
            f"start-up), resume {seconds:.1f}s, uninterrupted {reference.seconds:.1f}s"
        )
        assert _report(database_url, schema, import_id) == reference.report
        with _conn(database_url) as conn:
            recoveries = conn.execute(
                f'SELECT recoveries FROM "{schema}".import_jobs WHERE id = %s', (import_id,)
            ).fetchone()
        assert recoveries == (1,)
        assert _data(database_url, schema) == reference.data
        assert _keys(database_url, schema) == reference.keys
        assert seconds <= MAX_RESUME_RATIO * reference.seconds
    finally:
        for proc in (first, second, cli):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL) if proc is not cli else proc.kill()
                proc.wait(timeout=30)
        client.delete(QUEUE_NAME)
