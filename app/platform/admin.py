"""Superadmin operations on tenants: list with usage, suspend, reactivate, purge unconfirmed sign-ups."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, text, update
from sqlmodel import Session, col, select

from app.audit.log import record_platform
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Invalid, NotFound
from app.settings import get_settings
from models.platform import RefreshToken, Tenant, User
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantUsage:
    id: int
    slug: str
    name: str
    status: str
    plan: str
    schema: str | None
    users: int
    customers: int
    interactions: int


def _count(db: Session, schema: str | None, table: str) -> int:
    if not schema:
        return 0
    # Estimated counts would be cheaper at 500k+, but exact numbers are what superadmins audit.
    return int(db.exec(text(f'SELECT count(*) FROM "{schema}".{table}')).one()[0])  # type: ignore[call-overload]  # sqlmodel's Session.exec has no overload for text()


def list_tenants(db: Session, actor: Actor | None) -> list[TenantUsage]:
    if actor is not None:
        actor.require(Perm.PLATFORM_MANAGE)
    counts = db.exec(select(User.tenant_id, func.count()).group_by(col(User.tenant_id))).all()
    users = {tenant_id: int(n) for tenant_id, n in counts}
    out = []
    for t in db.exec(select(Tenant).order_by(col(Tenant.id))).all():
        ready = t.status != "provisioning"
        out.append(
            TenantUsage(
                id=t.id or 0,
                slug=t.slug,
                name=t.name,
                status=t.status,
                plan=t.plan,
                schema=t.schema_name,
                users=int(users.get(t.id, 0)),
                customers=_count(db, t.schema_name, "customers") if ready else 0,
                interactions=_count(db, t.schema_name, "interactions") if ready else 0,
            )
        )
    return out


def get_by_slug(db: Session, slug: str) -> Tenant:
    tenant = db.exec(select(Tenant).where(Tenant.slug == slug.strip().lower())).first()
    if tenant is None:
        raise NotFound("Organização não encontrada.")
    return tenant


def set_status(db: Session, actor: Actor | None, slug: str, status: str) -> Tenant:
    """Suspend or reactivate; suspension revokes every session of the tenant immediately."""
    if actor is not None:
        actor.require(Perm.PLATFORM_MANAGE)
    if status not in {"active", "suspended"}:
        raise Invalid("status", "Situação inválida.")
    tenant = get_by_slug(db, slug)
    before = {"status": tenant.status}
    tenant.status = status
    db.add(tenant)
    if status == "suspended":
        user_ids = select(User.id).where(User.tenant_id == tenant.id)
        db.exec(
            update(RefreshToken)
            .where(col(RefreshToken.user_id).in_(user_ids), col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=func.now())
        )
    record_platform(
        db,
        actor,
        f"tenant.{'suspend' if status == 'suspended' else 'reactivate'}",
        "tenant",
        tenant.id,
        before=before,
        after={"status": status},
        tenant_id=tenant.id,
    )
    return tenant


def purge_unconfirmed(db: Session, actor: Actor | None, older_than_days: int | None = None) -> list[str]:
    """Removes public sign-ups whose e-mail was never confirmed (tenant row, users, schema), created
    more than `older_than_days` ago (SIGNUP_CONFIRM_DAYS by default; 0 = all). Superadmins only, or the
    scheduled task (no actor). Returns the purged slugs; every purge is in the platform audit log."""
    if actor is not None:
        actor.require(Perm.PLATFORM_MANAGE)
    days = get_settings().signup_confirm_days if older_than_days is None else older_than_days
    if days < 0:
        raise Invalid("older_than_days", "Informe um número de dias igual ou maior que zero.")
    cutoff = datetime.now(UTC) - timedelta(days=days)
    # Row locks: a confirmation racing the purge either wins first (the row no longer matches when
    # the lock is granted) or waits and then finds no tenant.
    doomed = db.exec(
        select(Tenant)
        .where(Tenant.status == "unconfirmed", col(Tenant.created_at) <= cutoff)
        .order_by(col(Tenant.id))
        .with_for_update(skip_locked=True)
    ).all()
    purged = []
    for tenant in doomed:
        if tenant.schema_name and is_tenant_schema(tenant.schema_name):
            db.exec(text(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE'))  # type: ignore[call-overload]  # sqlmodel's Session.exec has no overload for text()
        record_platform(
            db,
            actor,
            "tenant.purge",
            "tenant",
            tenant.id,
            before={
                "slug": tenant.slug,
                "name": tenant.name,
                "status": tenant.status,
                "schema": tenant.schema_name,
            },
            after={"reason": "unconfirmed", "created_at": tenant.created_at.isoformat()},
            tenant_id=tenant.id,
        )
        db.delete(tenant)
        purged.append(tenant.slug)
    db.flush()
    if purged:
        log.info("purged %d unconfirmed sign-ups older than %d days", len(purged), days)
    return purged
