"""Live screens: revision counters bumped after a commit, polled by open pages (every ~2 s), so a change
made by someone else (a card moved, a WhatsApp message received) shows up without a reload.

Services mark what they changed (`touch(db, namespace, *keys)`, e.g. ("kanban", pipeline_id) or
("conversations", customer_id)); the bump happens in an `after_commit` listener, so a rolled-back write
bumps nothing and a page never re-reads before the change is visible. With REDIS_URL the counters are
Redis keys (`live:<namespace>:<schema>:<key>`) shared by every backend and worker process; without it
(embedded mode: one process) a dict in memory. A bump that fails is logged, not raised: the transaction is
already committed, and pages catch up with the next change.
"""

import logging
import threading
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from app.settings import get_settings

log = logging.getLogger(__name__)
_KEY = "live_revisions"
# Idle pages' keys disappear after a day; a missing key reads as revision 0.
_TTL_S = 86_400
_local: dict[str, int] = {}
_local_lock = threading.Lock()


def touch(db: Session, namespace: str, *keys: int | str) -> None:
    """Bump these keys' revisions in `namespace` once `db` commits."""
    db.info.setdefault(_KEY, set()).update((namespace, str(k)) for k in keys)


def revision(schema: str, namespace: str, key: int | str) -> int:
    """The key's current revision (0 when nothing changed yet; -1 when Redis cannot be read)."""
    name = _name(schema, namespace, key)
    client = redis_client()
    if client is None:
        return _local.get(name, 0)
    try:
        return int(client.get(name) or 0)
    except Exception as exc:  # a page that cannot poll just stays as it is
        log.warning("live revision read failed: %s", type(exc).__name__)
        return -1


def _name(schema: str, namespace: str, key: int | str) -> str:
    return f"live:{namespace}:{schema}:{key}"


def _bump(names: list[str]) -> None:
    client = redis_client()
    if client is None:
        with _local_lock:
            for name in names:
                _local[name] = _local.get(name, 0) + 1
        return
    try:
        pipe = client.pipeline()
        for name in names:
            pipe.incr(name).expire(name, _TTL_S)
        pipe.execute()
    except Exception as exc:
        log.warning("live revision bump failed for %s: %s", names[:3], type(exc).__name__)


@event.listens_for(Session, "after_commit")
def _after_commit(db: Session) -> None:
    touched = db.info.pop(_KEY, None)
    schema = db.info.get("schema")
    if touched and schema:
        _bump([_name(schema, ns, key) for ns, key in sorted(touched)])


@event.listens_for(Session, "after_rollback")
def _after_rollback(db: Session) -> None:
    db.info.pop(_KEY, None)


@lru_cache
def _redis_for(url: str) -> Any:
    import redis  # function-level: needed only with REDIS_URL

    # Short timeouts: a poll every 2 s per open page must never hang on a sick Redis.
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)


def redis_client() -> Any:
    """The process's Redis client for small, latency-sensitive reads and writes (None without REDIS_URL)."""
    url = get_settings().redis_url
    return _redis_for(url) if url else None
