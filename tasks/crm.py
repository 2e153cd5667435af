"""CRM background tasks: bulk actions over large customer sets, Meilisearch index sync.

Tasks are thin: they take the tenant schema explicitly, open its session, rebuild the actor
that asked for the work (so RBAC is the same as in the request) and call the service.
"""

import asyncio
import logging
from typing import Any

from app.auth.actor import Actor, system_actor
from app.crm import customers
from app.search import get_backend
from models.tenant import BulkJob
from tasks.broker import broker
from tenants.database import platform_session, session

log = logging.getLogger(__name__)


def _actor_for(user_id: int | None, schema: str) -> Actor:
    if user_id is None:
        return system_actor(None, schema)
    from app.auth.sessions import actor_for_user

    with platform_session() as pdb:
        return actor_for_user(pdb, user_id)


def run_bulk_sync(schema: str, job_id: int) -> dict[str, Any]:
    """Run a queued bulk job, committing after every chunk so its progress is visible."""
    with session(schema) as db:
        job = db.get(BulkJob, job_id)
        if job is None:
            log.warning("bulk job %s not found in %s", job_id, schema)
            return {"state": "missing"}
        actor = _actor_for(job.created_by, schema)
        if actor.schema != schema:
            raise RuntimeError("bulk job actor belongs to another tenant")
        try:
            job = customers.run_bulk_job(db, actor, job_id, checkpoint=db.commit)
            db.commit()
        except Exception as exc:
            db.rollback()
            failed = db.get(BulkJob, job_id)
            if failed is not None:
                failed.state, failed.error = "failed", str(exc)[:2000]
                db.add(failed)
                db.commit()
            log.exception("bulk job %s failed in %s", job_id, schema)
            raise
        ids_changed = job.params.get("changed", 0)
        log.info("bulk job %s done in %s: %s of %s changed", job_id, schema, ids_changed, job.total)
        return {"state": job.state, "total": job.total, "changed": ids_changed}


@broker.task(task_name="crm.run_bulk")
async def run_bulk(schema: str, job_id: int) -> dict[str, Any]:
    return await asyncio.to_thread(run_bulk_sync, schema, job_id)


def sync_search_sync(schema: str, ids: list[int]) -> int:
    with session(schema) as db:
        return get_backend().index_customers(db, schema, ids)


@broker.task(task_name="crm.sync_search")
async def sync_search(schema: str, ids: list[int]) -> int:
    """Push changed customers to the search index (no-op for the PostgreSQL backend)."""
    return await asyncio.to_thread(sync_search_sync, schema, ids)


@broker.task(task_name="crm.reindex_search")
async def reindex_search(schema: str) -> int:
    def _run() -> int:
        with session(schema) as db:
            return get_backend().reindex_all(db, schema)

    return await asyncio.to_thread(_run)


async def after_customer_write(schema: str, ids: list[int]) -> None:
    """Called by routes/pages after a commit touching customers: queue an index sync when needed."""
    if ids and get_backend().name != "postgres":
        await sync_search.kiq(schema, ids)
