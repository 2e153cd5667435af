"""What every task checks first: its tenant exists and is active (suspended tenants' tasks stop)."""

import logging

from sqlmodel import select

from models.platform import Tenant
from tenants.database import platform_session
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)


class TenantInactive(Exception):
    """The task's tenant is suspended or gone; the task ends without touching its data."""


def require_active(schema: str) -> Tenant:
    if not is_tenant_schema(schema):
        raise TenantInactive(f"invalid tenant schema {schema!r}")
    with platform_session() as db:
        tenant = db.exec(select(Tenant).where(Tenant.schema_name == schema)).first()
    if tenant is None or tenant.status != "active":
        raise TenantInactive(f"tenant {schema} is not active")
    return tenant


def inactive(schema: str, task: str) -> bool:
    """True (and logged) when the task must not run because its tenant is suspended or gone."""
    try:
        require_active(schema)
    except TenantInactive as exc:
        log.warning("task %s skipped: %s", task, exc)
        return True
    return False
