"""Dead imports: found by whoever is alive and handed back to a worker, which resumes them.

An import's run holds a session advisory lock keyed (tenant, import id) for its whole life and refreshes
`import_jobs.heartbeat_at` every HEARTBEAT_S from a thread of its own. A job left `running` or `queued`
is dead when
- its lock is free: its process died (a killed process's connections close and free the lock), and a
  `running` job is dead at once; a `queued` one only once QUEUED_STALE_S passed without a heartbeat (its
  message may still wait in the broker's queue behind other tasks); or
- its heartbeat is older than HEARTBEAT_STALE_S although the lock is held: the process hangs. Its
  backends are terminated, which frees the lock, and the next pass takes the job over.

Taking a job over (under its lock, so two reapers never both take it) puts it back to `queued`, counts
the take-over in `recoveries` (the status then says "retomando após falha") and refreshes the heartbeat;
the caller then enqueues `tasks.imports.run_import`. A duplicate message is harmless: the run takes the
same lock and leaves at once when another run holds it.

Callers: the taskiq scheduler (tasks.imports.recover_dead_imports, every minute), every worker at
start-up, and the app at start and then periodically in embedded mode (tasks.imports.recover_loop).
Maintenance with no actor: it only resumes what a user already started.
"""

import logging
import threading
from typing import Any

import psycopg
from sqlalchemy import text

from tenants.database import engine
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
HEARTBEAT_STALE_S = 120.0
QUEUED_STALE_S = 300.0
RECOVERING_LABEL = "retomando após falha"


def _raw() -> Any:
    raw = engine().raw_connection()
    conn = raw.driver_connection
    assert isinstance(conn, psycopg.Connection)
    conn.rollback()
    return raw, conn


class Heartbeat:
    """Refreshes the job's heartbeat every HEARTBEAT_S on a connection of its own while the run lives."""

    def __init__(self, schema: str, import_id: int, interval: float = HEARTBEAT_S) -> None:
        self.schema, self.import_id, self.interval = schema, import_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="import-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._touch()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _touch(self) -> None:
        raw, conn = _raw()
        try:
            conn.execute(
                f'UPDATE "{self.schema}".import_jobs SET heartbeat_at = now() WHERE id = %s',
                (self.import_id,),
            )
            conn.commit()
        finally:
            raw.close()

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self._touch()
            except Exception:  # the database may be restarting: the next beat tries again
                log.exception("import %s in %s: heartbeat failed", self.import_id, self.schema)


def _terminate_holder(conn: psycopg.Connection[Any], schema: str, import_id: int) -> int:
    """Ends the backends of a hung run (the holders of its advisory lock)."""
    rows = conn.execute(
        """
        SELECT pg_terminate_backend(l.pid) FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = hashtext(%s)::oid
          AND l.objid = %s::oid AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        (schema, import_id),
    ).fetchall()
    conn.commit()
    return len(rows)


def recover_tenant(schema: str, queued_stale_s: float = QUEUED_STALE_S) -> list[int]:
    """Takes over the dead imports of one tenant; returns their ids (to enqueue, after this commits)."""
    if not is_tenant_schema(schema):
        raise ValueError(f"invalid tenant schema {schema!r}")
    s = f'"{schema}"'
    taken: list[int] = []
    raw, conn = _raw()
    try:
        jobs = conn.execute(
            f"SELECT id, extract(epoch FROM now() - coalesce(heartbeat_at, updated_at)) "
            f"FROM {s}.import_jobs WHERE state IN ('queued', 'running') ORDER BY id"
        ).fetchall()
        conn.commit()
        for import_id, age in jobs:
            age = float(age or 0.0)
            got = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s), %s)", (schema, import_id)
            ).fetchone()
            conn.commit()
            if not (got and got[0]):
                if age > HEARTBEAT_STALE_S:
                    ended = _terminate_holder(conn, schema, import_id)
                    log.warning(
                        "import %s in %s: no heartbeat for %.0fs, %d hung backends terminated",
                        import_id,
                        schema,
                        age,
                        ended,
                    )
                continue
            try:
                # Re-read under the lock: the run may have finished between the listing and the lock.
                row = conn.execute(
                    f"SELECT state, extract(epoch FROM now() - coalesce(heartbeat_at, updated_at)) "
                    f"FROM {s}.import_jobs WHERE id = %s",
                    (import_id,),
                ).fetchone()
                if row is None:
                    continue
                state, age = row[0], float(row[1] or 0.0)
                if state == "running" or (state == "queued" and age >= queued_stale_s):
                    conn.execute(
                        f"UPDATE {s}.import_jobs SET state = 'queued', recoveries = recoveries + 1, "
                        "heartbeat_at = now(), updated_at = now() WHERE id = %s",
                        (import_id,),
                    )
                    taken.append(import_id)
                    log.warning("import %s in %s was dead (%s): resuming it", import_id, schema, state)
                conn.commit()
            finally:
                conn.rollback()
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s), %s)", (schema, import_id))
                conn.commit()
    finally:
        raw.close()
    return taken


def recover_all(queued_stale_s: float = QUEUED_STALE_S) -> list[tuple[str, int]]:
    """Takes over the dead imports of every active tenant; returns (schema, import id) pairs to enqueue."""
    with engine().connect() as c:
        schemas = [
            r[0]
            for r in c.execute(
                text(
                    "SELECT schema_name FROM platform.tenants WHERE status = 'active' "
                    "AND schema_name IS NOT NULL ORDER BY id"
                )
            )
        ]
    out: list[tuple[str, int]] = []
    for schema in schemas:
        try:
            out += [(schema, i) for i in recover_tenant(schema, queued_stale_s)]
        except Exception:  # one broken tenant (schema not migrated yet, ...) must not stop the others
            log.exception("dead import recovery failed in %s", schema)
    return out
