"""Keeping an external search index in step with customer writes, on every code path.

Services call `mark_dirty(db, ids)` next to the write; the ids ride on the Session and are
dispatched only after that Session commits (a rolled-back write never reaches the index, and the
index job can never run before the rows are visible). REST routes, Reflex events and tasks all
commit through a Session, so none of them has to remember to sync.
"""

import asyncio
import logging
import threading
from collections.abc import Iterable

from sqlalchemy import event
from sqlmodel import Session

from app.settings import get_settings

log = logging.getLogger(__name__)
_KEY = "search_dirty"


def external_index_enabled() -> bool:
    return bool(get_settings().meili_url)


def mark_dirty(db: Session, customer_ids: Iterable[int]) -> None:
    """Remember customers whose indexed fields changed in this transaction."""
    if not external_index_enabled():
        return
    db.info.setdefault(_KEY, set()).update(i for i in customer_ids if i)


def mark_all_dirty(db: Session) -> None:
    """A change too large to list (an import): rebuild the tenant's index after commit."""
    if external_index_enabled():
        db.info[_KEY] = "all"


@event.listens_for(Session, "after_commit")
def _after_commit(db: Session) -> None:
    dirty = db.info.pop(_KEY, None)
    schema = db.info.get("schema")
    if dirty and schema:
        dispatch(schema, None if dirty == "all" else sorted(dirty))


@event.listens_for(Session, "after_rollback")
def _after_rollback(db: Session) -> None:
    db.info.pop(_KEY, None)


def dispatch(schema: str, ids: list[int] | None) -> None:
    """Queue the index update: through the broker with Redis, on a background thread in-process."""
    from tasks import crm as crm_tasks

    if get_settings().redis_url:
        task = crm_tasks.reindex_search.kiq(schema) if ids is None else crm_tasks.sync_search.kiq(schema, ids)
        target = lambda: asyncio.run(task)  # noqa: E731  (kiq only pushes to Redis: quick)
    elif ids is None:
        target = lambda: crm_tasks.reindex_search_sync(schema)  # noqa: E731
    else:
        target = lambda: crm_tasks.sync_search_sync(schema, ids)  # noqa: E731
    threading.Thread(target=_safely, args=(target, schema), daemon=True, name="search-sync").start()


def _safely(target, schema: str) -> None:  # type: ignore[no-untyped-def]
    try:
        target()
    except Exception:  # the index is a cache of PostgreSQL: log, `crm.reindex_search` repairs it
        log.exception("search index sync failed for %s", schema)
