"""Keeping an external search index in step with customer writes, on every code path.

Services call `mark_dirty(db, ids)` next to the write; the ids ride on the Session and are
dispatched only after that Session commits (a rolled-back write never reaches the index, and the
index job can never run before the rows are visible). REST routes, Reflex events and tasks all
commit through a Session, so none of them has to remember to sync.

A sync that fails (Meilisearch down, hung, or its circuit breaker open) fails fast and leaves its ids
pending: in Redis when REDIS_URL is set (any worker can pick them up), in the process otherwise. The
next sync of the tenant takes them along, and `sync_pending` (scheduled every minute) retries the
tenants nobody writes to. Taskiq's retry middlewares would retry the task at once with this broker
(its `delay` label needs a schedule source), i.e. straight into the same outage, so they are not used.
"""

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from app.after_commit import kicker
from app.search import get_backend
from app.search.protocol import SearchUnavailable
from app.settings import get_settings
from tenants.database import session

log = logging.getLogger(__name__)
_KEY = "search_dirty"
_PENDING = "crm:search:pending:"  # + schema: a Redis set of customer ids, ALL for a full rebuild
_ALL = "all"
SYNC_BATCH = 5000
_local_pending: dict[str, set[str]] = {}
_local_lock = threading.Lock()


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
    target: Callable[[], object]
    if get_settings().redis_url:
        target = partial(_kick, schema, ids)
    elif ids is None:
        target = partial(reindex_now, schema)
    else:
        target = partial(sync_now, schema, ids)
    threading.Thread(target=_safely, args=(target, schema), daemon=True, name="search-sync").start()


def _kick(schema: str, ids: list[int] | None) -> None:
    # By task name: the tasks (tasks/crm.py) import this module. kiq only pushes to Redis: quick.
    if ids is None:
        asyncio.run(kicker("crm.reindex_search").kiq(schema))
    else:
        asyncio.run(kicker("crm.sync_search").kiq(schema, ids))


def _safely(target: Callable[[], object], schema: str) -> None:
    try:
        target()
    except SearchUnavailable as exc:  # logged by the backend; the ids are pending, retried later
        log.warning("search index sync for %s deferred (%s)", schema, exc.details.get("cause"))
    except Exception:  # the index is a cache of PostgreSQL: log, `crm.reindex_search` repairs it
        log.exception("search index sync failed for %s", schema)


# ---------------------------------------------------------------- running syncs, pending ids
def sync_now(schema: str, ids: list[int]) -> int:
    """Index these customers and any a failed sync left pending; on failure they all stay pending."""
    waiting = pending(schema)
    if _ALL in waiting:
        return reindex_now(schema)
    todo = sorted(set(ids) | {int(i) for i in waiting})
    count = 0
    with session(schema) as db:
        # In batches: after a long outage the pending ids can be a bulk job's hundred thousand.
        for start in range(0, len(todo), SYNC_BATCH):
            part = todo[start : start + SYNC_BATCH]
            try:
                count += get_backend().index_customers(db, schema, part)
            except Exception:
                defer(schema, todo[start:])
                raise
            _forget(schema, waiting & {str(i) for i in part})
    return count


def reindex_now(schema: str) -> int:
    """Rebuild the tenant's index; on failure a rebuild stays pending."""
    waiting = pending(schema)
    try:
        with session(schema) as db:
            count = get_backend().reindex_all(db, schema)
    except Exception:
        defer(schema, None)
        raise
    _forget(schema, waiting)  # the rebuild covered every pending id too
    return count


def pending_schemas() -> list[str]:
    """Tenants with index updates waiting for a retry."""
    client = _redis()
    if client is None:
        with _local_lock:
            return sorted(s for s, ids in _local_pending.items() if ids)
    try:
        return sorted(str(k).removeprefix(_PENDING) for k in client.scan_iter(_PENDING + "*", count=1000))
    except Exception as exc:
        log.warning("pending search syncs unreadable from Redis: %s", type(exc).__name__)
        return []


def pending(schema: str) -> set[str]:
    """Customer ids (as strings) waiting for this tenant's next sync; `"all"` means a full rebuild."""
    client = _redis()
    if client is None:
        with _local_lock:
            return set(_local_pending.get(schema, ()))
    try:
        return {str(m) for m in client.smembers(_PENDING + schema)}
    except Exception as exc:
        log.warning("pending search syncs of %s unreadable from Redis: %s", schema, type(exc).__name__)
        return set()


def defer(schema: str, ids: list[int] | None) -> None:
    """Keep ids (None: the whole index) for a later sync of the tenant."""
    members = {_ALL} if ids is None else {str(i) for i in ids}
    if not members:
        return
    client = _redis()
    if client is None:
        with _local_lock:
            _local_pending.setdefault(schema, set()).update(members)
        return
    try:
        client.sadd(_PENDING + schema, *members)
    except Exception as exc:  # the index is a cache: `crm.reindex_search` repairs what is lost here
        log.warning(
            "could not keep %d pending search ids of %s: %s", len(members), schema, type(exc).__name__
        )


def _forget(schema: str, members: set[str]) -> None:
    """Drop what a successful sync covered (ids deferred meanwhile by another sync stay)."""
    if not members:
        return
    client = _redis()
    if client is None:
        with _local_lock:
            left = _local_pending.get(schema, set()) - members
            if left:
                _local_pending[schema] = left
            else:
                _local_pending.pop(schema, None)
        return
    try:
        client.srem(_PENDING + schema, *members)
    except Exception as exc:
        log.warning("could not clear pending search ids of %s: %s", schema, type(exc).__name__)


@lru_cache
def _redis_for(url: str) -> Any:
    import redis  # function-level: needed only with REDIS_URL

    # Short timeouts: every sync task reads it, and Redis down must not hang them either.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


def _redis() -> Any:
    url = get_settings().redis_url
    return _redis_for(url) if url else None
