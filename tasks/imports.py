"""Import task: a thin wrapper that runs the pipeline for one tenant schema and import id."""

import asyncio
from typing import Any

from tasks.broker import broker
from tasks.tenancy import inactive


@broker.task(task_name="imports.run_import")
async def run_import(schema: str, import_id: int) -> dict[str, Any]:
    """Runs (or resumes, after a crash) import `import_id` of tenant `schema`."""
    from app.importing import pipeline

    if inactive(schema, "imports.run_import"):
        return {"state": "skipped"}

    # The pipeline is blocking (polars + psycopg, its own connection, commits per batch).
    return await asyncio.to_thread(pipeline.run, schema, import_id)
