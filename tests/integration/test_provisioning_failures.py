"""Sign-up validation, duplicate slugs, failed provisioning leaving nothing behind, migrate-all."""

import pytest
from sqlalchemy import text
from sqlmodel import select

from app.errors import Conflict, Invalid
from app.platform import provisioning
from app.platform.provisioning import SignupInput, provision_tenant
from models.platform import Tenant, User
from tenants.database import platform_session
from tenants.migrations import migrate_all


def _input(slug: str) -> SignupInput:
    return SignupInput(
        name="Org",
        slug=slug,
        admin_name="Ana",
        admin_email=f"ana@{slug}.com.br",
        admin_password="Senha-forte-1",
    )


def test_invalid_signup_reports_every_field() -> None:
    with pytest.raises(Invalid) as err:
        provision_tenant(SignupInput(name="", slug="A B", admin_name="", admin_email="x", admin_password="1"))
    assert set(err.value.fields) == {"name", "slug", "admin_name", "admin_email", "admin_password"}


def test_duplicate_slug_is_conflict(make_tenant) -> None:
    t = make_tenant()
    with pytest.raises(Conflict):
        provision_tenant(_input(t.slug))


def test_failure_midway_leaves_no_half_tenant_and_can_be_retried(database_url, monkeypatch) -> None:
    slug = "quebra-no-meio"

    def boom(db) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(provisioning, "seed_defaults", boom)
    with pytest.raises(RuntimeError):
        provision_tenant(_input(slug))
    with platform_session() as db:
        assert db.exec(select(Tenant).where(Tenant.slug == slug)).first() is None
        assert db.exec(select(User).where(User.email == f"ana@{slug}.com.br")).first() is None
        schemas = db.exec(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'")).all()
        tenant_ids = {t.schema_name for t in db.exec(select(Tenant)).all()}
        assert {s[0] for s in schemas} <= tenant_ids
    monkeypatch.undo()
    tenant = provision_tenant(_input(slug))
    assert tenant.status == "active"


def test_migrate_all_continues_past_a_broken_tenant(make_tenant) -> None:
    good, bad = make_tenant(), make_tenant()
    with platform_session() as db:
        db.exec(text(f'DROP SCHEMA "{bad.schema}" CASCADE'))
        db.exec(text(f'CREATE SCHEMA "{bad.schema}"'))
        # A version row pointing at an unknown revision: Alembic must fail on this tenant only.
        db.exec(text(f'CREATE TABLE "{bad.schema}".alembic_version (version_num varchar(32) primary key)'))
        db.exec(text(f"INSERT INTO \"{bad.schema}\".alembic_version VALUES ('nope')"))
        db.commit()
    report = migrate_all()
    assert bad.schema in report.failed
    assert good.schema in report.upgraded
    assert not report.ok
    with platform_session() as db:
        db.exec(text(f'DROP SCHEMA "{bad.schema}" CASCADE'))
        db.exec(text("DELETE FROM platform.tenants WHERE id = :id").bindparams(id=bad.id))
        db.commit()
