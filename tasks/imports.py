"""Import tasks: run the pipeline for one tenant schema and import id; purge abandoned uploads."""

import asyncio
from typing import Any

from tasks.broker import broker
from tasks.periodic import every
from tasks.tenancy import inactive


@broker.task(task_name="imports.run_import")
async def run_import(schema: str, import_id: int) -> dict[str, Any]:
    """Runs (or resumes, after a crash) import `import_id` of tenant `schema`."""
    from app.importing import pipeline

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
    from app.importing import jobs

    return await asyncio.to_thread(jobs.purge_stale_uploads)


async def purge_loop(interval: float = PURGE_SECONDS) -> None:
    """Embedded mode (no taskiq scheduler): the app purges abandoned uploads itself, hourly."""
    from app.importing import jobs

    await every(interval, jobs.purge_stale_uploads, "upload purge")
