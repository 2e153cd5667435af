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
