"""The platform audit log: its own permission (superadmins), logins name the user (issue 14, item 6)."""

import uuid

import pytest

from app.audit import queries
from app.auth.permissions import ROLE_PERMISSIONS, Perm, Role
from app.errors import Forbidden
from tests.conftest import TenantHandle


def test_superadmin_reads_the_platform_log_not_a_tenant_one() -> None:
    assert Perm.PLATFORM_AUDIT_READ in ROLE_PERMISSIONS[Role.SUPERADMIN]
    assert Perm.AUDIT_READ not in ROLE_PERMISSIONS[Role.SUPERADMIN]
    for role in (Role.ADMIN, Role.MANAGER, Role.AGENT):
        assert Perm.PLATFORM_AUDIT_READ not in ROLE_PERMISSIONS[role]


def test_login_entry_names_the_user_and_tenant_admins_cannot_read_the_log(tenant: TenantHandle) -> None:
    from app.auth import sessions
    from app.auth.superadmins import create_superadmin
    from tenants.database import platform_session, unit_of_work

    with platform_session() as db, unit_of_work(db):
        sessions.login(db, tenant.slug, tenant.admin_email, tenant.password, ip="203.0.113.9")
    root_email = f"root-{uuid.uuid4().hex[:8]}@crm.local"
    with platform_session() as db, unit_of_work(db):
        create_superadmin(db, root_email, "Senha-forte-1")
    with platform_session() as db, unit_of_work(db):
        sessions.login(db, None, root_email, "Senha-forte-1", ip="203.0.113.10")
    with platform_session() as db:
        root = sessions.actor_for_user(db, _user_id(db, root_email), "203.0.113.10")
        rows = queries.platform_log(db, root, queries.AuditFilter(action="auth.login"), tenant_id=tenant.id)
        assert rows and rows[0].actor_email == tenant.admin_email and rows[0].ip == "203.0.113.9"
        assert queries.tenant_names(db, root, {tenant.id}) == {tenant.id: tenant.tenant.name}
        with pytest.raises(Forbidden):
            queries.platform_log(db, tenant.actor(), queries.AuditFilter())
        with pytest.raises(Forbidden):
            queries.tenant_names(db, tenant.actor(), {tenant.id})


def _user_id(db, email: str) -> int:
    from sqlmodel import select

    from models.platform import User

    user = db.exec(select(User).where(User.email == email)).one()
    assert user.id is not None
    return user.id
