"""Live boards: a revision counter per pipeline, bumped after a commit that changed its cards; an open
/kanban polls it (every ~2 s) and re-reads its board when it moved, so other people's moves show up
without a reload.

Services mark the pipelines they touched (`touch`); the bump happens in an `after_commit` listener, so a
rolled-back move bumps nothing and a board never re-reads before the change is visible. With REDIS_URL the
counters are Redis keys (`kanban:rev:<schema>:<pipeline>`) shared by every backend process; without it
(embedded mode: one process) a dict in memory. A bump that fails is logged, not raised: the transaction
is already committed, and boards catch up with the next change.
"""

import logging
import threading
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from app.settings import get_settings

log = logging.getLogger(__name__)
_KEY = "kanban_live_pipelines"
# Idle boards' keys disappear after a day; a missing key reads as revision 0.
_TTL_S = 86_400
_local: dict[str, int] = {}
_local_lock = threading.Lock()


def touch(db: Session, *pipeline_ids: int) -> None:
    """Bump these pipelines' revisions once `db` commits."""
    db.info.setdefault(_KEY, set()).update(pipeline_ids)


def revision(schema: str, pipeline_id: int) -> int:
    """The pipeline's current revision (0 when nothing changed yet; -1 when Redis cannot be read)."""
    key = _key(schema, pipeline_id)
    client = _redis()
    if client is None:
        return _local.get(key, 0)
    try:
        return int(client.get(key) or 0)
    except Exception as exc:  # a board that cannot poll just stays as it is
        log.warning("kanban revision read failed: %s", type(exc).__name__)
        return -1


def _key(schema: str, pipeline_id: int) -> str:
    return f"kanban:rev:{schema}:{pipeline_id}"


def _bump(schema: str, pipeline_id: int) -> None:
    key = _key(schema, pipeline_id)
    client = _redis()
    if client is None:
        with _local_lock:
            _local[key] = _local.get(key, 0) + 1
        return
    try:
        client.pipeline().incr(key).expire(key, _TTL_S).execute()
    except Exception as exc:
        log.warning("kanban revision bump failed for %s: %s", key, type(exc).__name__)


@event.listens_for(Session, "after_commit")
def _after_commit(db: Session) -> None:
    pipeline_ids = db.info.pop(_KEY, None)
    schema = db.info.get("schema")
    if pipeline_ids and schema:
        for pipeline_id in sorted(pipeline_ids):
            _bump(schema, pipeline_id)


@event.listens_for(Session, "after_rollback")
def _after_rollback(db: Session) -> None:
    db.info.pop(_KEY, None)


@lru_cache
def _redis_for(url: str) -> Any:
    import redis  # function-level: needed only with REDIS_URL

    # Short timeouts: a poll every 2 s per open board must never hang on a sick Redis.
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, decode_responses=True)


def _redis() -> Any:
    url = get_settings().redis_url
    return _redis_for(url) if url else None
