"""Per-user preferences inside a tenant: what a screen remembers for its user (the Kanban filters, the
customer list's columns).

One row per (user, key) in `user_preferences`; the value is a small JSON object the screen owns.
Only the keys listed in KEYS are accepted, so a browser calling the event with any key stores nothing else.
"""

import json
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Invalid
from models.base import utcnow
from models.tenant import UserPreference

KANBAN_FILTERS = "kanban.filters"
CUSTOMER_COLUMNS = "customers.columns"  # {"visible": [column key, ...]} in the order they were chosen
KEYS = frozenset({KANBAN_FILTERS, CUSTOMER_COLUMNS})
MAX_BYTES = 4_000


def get(db: Session, actor: Actor, key: str) -> dict[str, Any]:
    """The actor's stored value for `key` ({} when none)."""
    actor.require(Perm.CUSTOMERS_READ)
    if key not in KEYS or actor.user_id is None:
        return {}
    row = db.get(UserPreference, (actor.user_id, key))
    return dict(row.value) if row is not None else {}


def save(db: Session, actor: Actor, key: str, value: dict[str, Any]) -> None:
    """Store the actor's value for `key` (upsert, audited). Rule: known keys only, at most MAX_BYTES."""
    actor.require(Perm.CUSTOMERS_READ)
    if key not in KEYS or actor.user_id is None:
        raise Invalid("key", "Preferência desconhecida.")
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_BYTES:
        raise Invalid("value", "Preferência grande demais.")
    before = get(db, actor, key)
    if before == value:
        return
    db.execute(
        insert(UserPreference)
        .values(user_id=actor.user_id, key=key, value=value, updated_at=utcnow())
        .on_conflict_do_update(
            index_elements=["user_id", "key"], set_={"value": value, "updated_at": utcnow()}
        )
    )
    record(db, actor, "preference.update", "user_preference", f"{actor.user_id}:{key}", before or None, value)
