"""Writes to `channels.state` (the provider's JSON: tokens, number health, status evidence) by key.

Several writers touch one channel's state at once: status webhooks, the outbox's marks (a refreshed
token, number health), quality webhooks, WPPConnect session calls. Assigning the whole dict read earlier
in the transaction would put back every key another writer changed meanwhile (a lost update: the reaper's
evidence `statuses_claimed_us` was one). So each writer sends only the keys it changed and removed, merged
in one `UPDATE … SET state = (state - removed) || changed`, which PostgreSQL applies on the row's newest
version under its lock.
"""

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from models.tenant import Channel


def _schema(db: Session) -> str:
    schema = db.info.get("schema")
    if not schema:
        raise RuntimeError("channel_state needs a tenant session")
    return str(schema)


def merge(db: Session, channel: Channel, changed: dict[str, Any], removed: list[str] | None = None) -> None:
    """Set `changed` keys and drop `removed` ones of the channel's state, leaving every other key as the
    row holds it now; the object is refreshed with the merged state (not written again by the ORM)."""
    if not changed and not removed:
        return
    merged = db.execute(
        text(
            f"UPDATE {_schema(db)}.channels "
            "SET state = (coalesce(state, '{}'::jsonb) - CAST(:removed AS text[])) "
            "|| CAST(:changed AS jsonb) "
            "WHERE id = :id RETURNING state"
        ),
        {"id": channel.id, "changed": json.dumps(changed), "removed": list(removed or [])},
    ).scalar_one_or_none()
    if merged is not None:
        set_committed_value(channel, "state", merged)


def save(db: Session, channel: Channel, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    """Write the keys in which `after` differs from `before` (the state this writer started from)."""
    before = before or {}
    changed = {k: v for k, v in after.items() if before.get(k, _MISSING) != v}
    removed = [k for k in before if k not in after]
    merge(db, channel, changed, removed)


_MISSING = object()
