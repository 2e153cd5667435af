"""Audit trail: every write records who, what, before/after, when and from which IP."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, SQLModel

from app.auth.actor import Actor
from models.platform import PlatformAudit
from models.tenant import AuditLog

ENTITY_ID_MAX = 80
_SECRET_FIELDS = {"password_hash", "secret_hash", "token_hash", "password", "secret", "credentials"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def snapshot(row: SQLModel | dict[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of a row's fields, secrets removed."""
    if row is None:
        return {}
    data = row if isinstance(row, dict) else row.model_dump()
    return {k: ("***" if k in _SECRET_FIELDS else _plain(v)) for k, v in data.items()}


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys that changed, on both sides."""
    keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    keys.discard("updated_at")
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def record(
    db: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: Any = None,
    before: SQLModel | dict[str, Any] | None = None,
    after: SQLModel | dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit row to the actor's tenant schema (the caller's transaction commits it)."""
    b, a = snapshot(before), snapshot(after)
    if b and a:
        b, a = diff(b, a)
    row = AuditLog(
        actor_id=actor.user_id,
        actor_email=actor.email,
        action=action,
        entity=entity,
        entity_id=_entity_id(entity_id),
        before=b,
        after=a,
        ip=actor.ip,
    )
    db.add(row)
    return row


def _entity_id(entity_id: Any) -> str | None:
    # The column holds 80 characters; keys such as "tenant/e-mail" of a failed login can be longer,
    # and an audit row must never be the reason a request fails.
    return None if entity_id is None else str(entity_id)[:ENTITY_ID_MAX]


def record_platform(
    db: Session,
    actor: Actor | None,
    action: str,
    entity: str,
    entity_id: Any = None,
    before: SQLModel | dict[str, Any] | None = None,
    after: SQLModel | dict[str, Any] | None = None,
    tenant_id: int | None = None,
    ip: str | None = None,
    actor_id: int | None = None,
    actor_email: str | None = None,
) -> PlatformAudit:
    """Add a platform audit row. Without an `actor` (no session yet, e.g. a login) `actor_id` and
    `actor_email` name the person the entry is about, so it does not read as the system's."""
    b, a = snapshot(before), snapshot(after)
    if b and a:
        b, a = diff(b, a)
    row = PlatformAudit(
        actor_id=actor.user_id if actor else actor_id,
        actor_email=actor.email if actor else actor_email,
        tenant_id=tenant_id if tenant_id is not None else (actor.tenant_id if actor else None),
        action=action,
        entity=entity,
        entity_id=_entity_id(entity_id),
        before=b,
        after=a,
        ip=ip or (actor.ip if actor else None),
    )
    db.add(row)
    return row
