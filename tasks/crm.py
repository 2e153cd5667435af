"""CRM background tasks: bulk actions over large customer sets, Meilisearch index sync.

Tasks are thin: they take the tenant schema explicitly, open its session, rebuild the actor
that asked for the work (so RBAC is the same as in the request) and call the service.
"""

import asyncio
import logging
import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.auth.actor import Actor, system_actor
from app.auth.sessions import actor_for_user
from app.crm import customers
from app.search import sync as search_sync
from models.tenant import BulkJob
from tasks.broker import broker
from tasks.tenancy import inactive
from tenants.database import platform_session, session

log = logging.getLogger(__name__)


def _actor_for(user_id: int | None, schema: str) -> Actor:
    if user_id is None:
        return system_actor(None, schema)

    with platform_session() as pdb:
        return actor_for_user(pdb, user_id)


BULK_WORKERS = 2


def run_bulk_sync(schema: str, job_id: int, workers: int = BULK_WORKERS) -> dict[str, Any]:
    """Run a queued bulk job: chunks are applied by `workers` parallel sessions, each chunk committed
    with its progress, so a 100k-row action uses every core and the UI sees it advance."""
    with session(schema) as db:
        job = db.get(BulkJob, job_id)
        if job is None:
            log.warning("bulk job %s not found in %s", job_id, schema)
            return {"state": "missing"}
        actor = _actor_for(job.created_by, schema)
        if actor.schema != schema:
            raise RuntimeError("bulk job actor belongs to another tenant")
        job, ids = customers.begin_bulk_job(db, actor, job_id)
        db.commit()
    pending: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
    for part in customers.chunks(ids):
        pending.put(part)

    def worker() -> None:
        with session(schema) as wdb:
            while True:
                try:
                    part = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    customers.apply_bulk_chunk(wdb, actor, job_id, ids=part)
                    wdb.commit()
                except Exception:
                    wdb.rollback()
                    raise

    error = None
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in [pool.submit(worker) for _ in range(max(1, workers))]:
            try:
                future.result()
            except Exception as exc:  # recorded on the job; the other worker finishes its chunks
                log.exception("bulk job %s chunk failed in %s", job_id, schema)
                error = str(exc)[:2000]
    with session(schema) as db:
        job = customers.finish_bulk_job(db, job_id, error)
        db.commit()
        changed = job.params.get("changed", 0)
    # The external search index follows each committed chunk (app.search.sync, after_commit).
    log.info("bulk job %s %s in %s: %s of %s changed", job_id, job.state, schema, changed, job.total)
    return {"state": job.state, "total": job.total, "changed": changed}


@broker.task(task_name="crm.run_bulk")
async def run_bulk(schema: str, job_id: int) -> dict[str, Any]:
    if inactive(schema, "crm.run_bulk"):
        return {"state": "skipped"}
    return await asyncio.to_thread(run_bulk_sync, schema, job_id)


def sync_search_sync(schema: str, ids: list[int]) -> int:
    """Index these customers (and any left pending); returns once the engine applied them. Raises
    SearchUnavailable at once while Meilisearch is down, leaving the ids pending for a retry."""
    return search_sync.sync_now(schema, ids)


@broker.task(task_name="crm.sync_search")
async def sync_search(schema: str, ids: list[int]) -> int:
    """Push changed customers to the search index (no-op for the PostgreSQL backend)."""
    if inactive(schema, "crm.sync_search"):
        return 0
    return await asyncio.to_thread(sync_search_sync, schema, ids)


def reindex_search_sync(schema: str) -> int:
    return search_sync.reindex_now(schema)


@broker.task(task_name="crm.reindex_search")
async def reindex_search(schema: str) -> int:
    """Rebuild the tenant's search index from PostgreSQL (after imports, or to repair it)."""
    if inactive(schema, "crm.reindex_search"):
        return 0
    return await asyncio.to_thread(reindex_search_sync, schema)


def sync_pending_search_sync() -> int:
    """Retry every tenant's pending index updates; one failing tenant does not hold up the others."""
    done = 0
    for schema in search_sync.pending_schemas():
        if inactive(schema, "crm.sync_pending_search"):
            continue
        try:
            done += search_sync.sync_now(schema, [])
        except Exception as exc:  # still pending; the backend logged why
            log.warning("pending search sync of %s failed again: %s", schema, type(exc).__name__)
    return done


@broker.task(
    task_name="crm.sync_pending_search",
    schedule=[{"cron": "* * * * *", "schedule_id": "search-pending-every-minute"}],
)
async def sync_pending_search() -> int:
    """Index updates that failed while the search engine was down, retried every minute."""
    return await asyncio.to_thread(sync_pending_search_sync)
