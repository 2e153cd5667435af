"""Import tasks: run the pipeline for one tenant schema and import id; resume dead imports; purge
abandoned uploads.

The app modules are imported inside the tasks (start-up cost): the taskiq scheduler imports this module
for its schedules only and should not load the pipeline (polars, psycopg, the database engine)."""

import asyncio
import logging
import time
from typing import Any

from taskiq import TaskiqEvents, TaskiqState

from app.importing import jobs, pipeline, recovery
from tasks.broker import broker
from tasks.periodic import every
from tasks.tenancy import inactive

log = logging.getLogger(__name__)


@broker.task(task_name="imports.run_import")
async def run_import(schema: str, import_id: int) -> dict[str, Any]:
    """Runs (or resumes, after a crash) import `import_id` of tenant `schema`."""

    if inactive(schema, "imports.run_import"):
        return {"state": "skipped"}

    # The pipeline is blocking (polars + psycopg, its own connection, commits per batch).
    return await asyncio.to_thread(pipeline.run, schema, import_id)


PURGE_CRON = "17 * * * *"  # hourly
PURGE_SECONDS = 3600.0


@broker.task(
    task_name="imports.purge_stale_uploads",
    schedule=[{"cron": PURGE_CRON, "schedule_id": "uploads-purge-hourly"}],
)
async def purge_stale_uploads() -> int:
    """Removes upload sessions nobody touched for two days (their part files can be gigabytes)."""

    return await asyncio.to_thread(jobs.purge_stale_uploads)


async def purge_loop(interval: float = PURGE_SECONDS) -> None:
    """Embedded mode (no taskiq scheduler): the app purges abandoned uploads itself, hourly."""

    await every(interval, jobs.purge_stale_uploads, "upload purge")


RECOVER_CRON = "* * * * *"  # every minute
RECOVER_SECONDS = 60.0


async def _resume(dead: list[tuple[str, int]]) -> None:
    for schema, import_id in dead:
        await run_import.kiq(schema, import_id)


@broker.task(
    task_name="imports.recover_dead_imports",
    schedule=[{"cron": RECOVER_CRON, "schedule_id": "imports-recover-minutely"}],
)
async def recover_dead_imports() -> int:
    """Finds imports whose worker died (advisory lock free, or heartbeat stale) and queues their resume."""

    dead = await asyncio.to_thread(recovery.recover_all)
    await _resume(dead)
    return len(dead)


_startup_tasks: set[asyncio.Task[None]] = set()


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def recover_at_worker_start(state: TaskiqState) -> None:
    """A worker that starts (often: the one restarted after a crash) resumes the imports that died with
    the previous one, without waiting for the scheduler's next round. In the background: the worker
    starts taking tasks at once."""
    if not broker.is_worker_process:
        return

    async def recover() -> None:
        try:
            await recover_dead_imports()
        except Exception:  # the database may still be starting: the scheduler's round comes anyway
            log.exception("dead import recovery at worker start failed")

    task = asyncio.create_task(recover())
    _startup_tasks.add(task)
    task.add_done_callback(_startup_tasks.discard)


async def recover_loop(interval: float = RECOVER_SECONDS) -> None:
    """Embedded mode (no worker, no scheduler): the app resumes dead imports at start, then every minute.

    At start every queued import is dead too: the in-process queue died with the previous process."""

    stale = 0.0
    while True:
        started = time.monotonic()
        try:
            await _resume(await asyncio.to_thread(recovery.recover_all, stale))
        except Exception:  # the database may be restarting; try again next round
            log.exception("dead import recovery failed")
        stale = recovery.QUEUED_STALE_S
        await asyncio.sleep(max(1.0, interval - (time.monotonic() - started)))
