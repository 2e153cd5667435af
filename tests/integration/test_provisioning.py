from sqlalchemy import text
from sqlmodel import select

from models.platform import Tenant, User
from models.tenant import Stage
from tenants.database import platform_session, session


def test_provision_creates_schema_admin_and_defaults(tenant) -> None:
    with platform_session() as db:
        row = db.exec(select(Tenant).where(Tenant.slug == tenant.slug)).one()
        assert row.status == "active"
        assert row.schema_name == tenant.schema
        admins = db.exec(select(User).where(User.tenant_id == row.id)).all()
        assert [a.role for a in admins] == ["admin"]
        version = db.exec(text(f'SELECT version_num FROM "{tenant.schema}".alembic_version')).one()
        assert version[0]
    with session(tenant.schema) as db:
        assert len(db.exec(select(Stage)).all()) == 6


def test_platform_service_refuses_a_tenant_admin(tenant) -> None:
    """The platform operations check PLATFORM_MANAGE themselves, not only the route or the page."""
    import pytest

    from app.errors import Forbidden
    from app.platform import admin
    from app.platform.provisioning import SignupInput, provision_tenant

    tenant_admin = tenant.actor("admin")
    slug = f"x{tenant.slug}"[:20]
    with pytest.raises(Forbidden):
        provision_tenant(
            SignupInput("Outra", slug, "Admin", f"a@{slug}.com.br", "Senha-forte-123"), actor=tenant_admin
        )
    with platform_session() as db:
        assert db.exec(select(Tenant).where(Tenant.slug == slug)).first() is None
        with pytest.raises(Forbidden):
            admin.list_tenants(db, tenant_admin)
        with pytest.raises(Forbidden):
            admin.set_status(db, tenant_admin, tenant.slug, "suspended")
        with pytest.raises(Forbidden):
            admin.purge_unconfirmed(db, tenant_admin, 0)
        assert db.exec(select(Tenant.status).where(Tenant.slug == tenant.slug)).one() == "active"
