"""Reading the audit logs (tenant and platform), newest first with keyset pagination."""

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.auth.actor import Actor
from app.auth.permissions import Perm
from models.platform import PlatformAudit, Tenant
from models.tenant import AuditLog

M = TypeVar("M", AuditLog, PlatformAudit)

MAX_PAGE = 200


@dataclass
class AuditFilter:
    action: str | None = None
    entity: str | None = None
    actor_email: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _apply(stmt: SelectOfScalar[M], model: type[M], f: AuditFilter) -> SelectOfScalar[M]:
    if f.action:
        stmt = stmt.where(col(model.action).startswith(f.action))
    if f.entity:
        stmt = stmt.where(model.entity == f.entity)
    if f.actor_email:
        stmt = stmt.where(col(model.actor_email).ilike(f"%{f.actor_email}%"))
    if f.since:
        stmt = stmt.where(model.at >= f.since)
    if f.until:
        stmt = stmt.where(model.at < f.until)
    return stmt


def tenant_log(
    db: Session, actor: Actor, f: AuditFilter, before_id: int | None = None, limit: int = 50
) -> list[AuditLog]:
    """The actor's tenant audit log (admins only)."""
    actor.require(Perm.AUDIT_READ)
    stmt = _apply(select(AuditLog), AuditLog, f)
    if before_id:
        stmt = stmt.where(col(AuditLog.id) < before_id)
    return list(db.exec(stmt.order_by(col(AuditLog.id).desc()).limit(min(limit, MAX_PAGE))))


def platform_log(
    db: Session,
    actor: Actor,
    f: AuditFilter,
    tenant_id: int | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[PlatformAudit]:
    """The platform audit log (superadmins only)."""
    actor.require(Perm.PLATFORM_AUDIT_READ)
    stmt = _apply(select(PlatformAudit), PlatformAudit, f)
    if tenant_id is not None:
        stmt = stmt.where(PlatformAudit.tenant_id == tenant_id)
    if before_id:
        stmt = stmt.where(col(PlatformAudit.id) < before_id)
    return list(db.exec(stmt.order_by(col(PlatformAudit.id).desc()).limit(min(limit, MAX_PAGE))))


def tenant_names(db: Session, actor: Actor, tenant_ids: set[int]) -> dict[int, str]:
    """Organisation names for the platform log's rows (the log keeps only the id)."""
    actor.require(Perm.PLATFORM_AUDIT_READ)
    if not tenant_ids:
        return {}
    rows = db.exec(select(Tenant.id, Tenant.name).where(col(Tenant.id).in_(tenant_ids)))
    return {tenant_id: name for tenant_id, name in rows if tenant_id is not None}
