"""Shared fixtures: a fresh PostgreSQL database per test session (per xdist worker), real Redis.

TEST_DATABASE_URL points at a server where we may create databases (default: the local
PostgreSQL on 127.0.0.1:5432, user postgres). Each run gets its own database, migrated from
empty, so the migration trees are exercised on every run.
"""

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("REDIS_URL", "")  # tests that need Redis ask for the `redis_url` fixture


def _db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"crm_test_{worker}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _db_url(name)
    data_dir = tmp_path_factory.mktemp("data")
    os.environ["DATABASE_URL"] = url
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)
    from app.settings import get_settings
    from tenants.database import reset_engine

    get_settings.cache_clear()
    reset_engine()
    _clear_key_caches()
    from tenants.migrations import upgrade_platform

    upgrade_platform()
    yield url
    reset_engine()
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _clear_key_caches() -> None:
    from app.security import keys

    keys.jwt_secret.cache_clear()
    keys.fernet.cache_clear()


@pytest.fixture(scope="session")
def data_dir(database_url: str) -> Path:
    return Path(os.environ["DATA_DIR"])


class TenantHandle:
    """A provisioned tenant plus helpers to act in it."""

    def __init__(self, tenant, admin_email: str, password: str) -> None:
        self.tenant = tenant
        self.id: int = tenant.id
        self.slug: str = tenant.slug
        self.schema: str = tenant.schema_name
        self.admin_email = admin_email
        self.password = password

    def actor(self, role: str = "admin", email: str | None = None):
        """An Actor for a (new or existing) user of this tenant with the given role."""
        from sqlmodel import select

        from app.auth.passwords import hash_password
        from app.auth.sessions import actor_for_user
        from models.platform import User
        from tenants.database import platform_session

        email = email or (
            self.admin_email if role == "admin" else f"{role}-{uuid.uuid4().hex[:6]}@{self.slug}.com.br"
        )
        with platform_session() as db:
            user = db.exec(select(User).where(User.tenant_id == self.id, User.email == email)).first()
            if user is None:
                user = User(
                    tenant_id=self.id,
                    email=email,
                    name=email.split("@")[0],
                    role=role,
                    password_hash=hash_password(self.password),
                )
                db.add(user)
                db.commit()
            return actor_for_user(db, user.id)


@pytest.fixture
def make_tenant(database_url: str):
    from app.platform.provisioning import SignupInput, provision_tenant

    def _make(slug: str | None = None, name: str | None = None) -> TenantHandle:
        slug = slug or f"t{uuid.uuid4().hex[:10]}"
        password = "Senha-forte-123"
        email = f"admin@{slug}.com.br"
        tenant = provision_tenant(
            SignupInput(
                name=name or f"Org {slug}",
                slug=slug,
                admin_name="Admin",
                admin_email=email,
                admin_password=password,
            )
        )
        return TenantHandle(tenant, email, password)

    return _make


@pytest.fixture
def tenant(make_tenant) -> TenantHandle:
    return make_tenant()


@pytest.fixture(scope="session")
def _fresh_test_redis() -> str:
    """The suite's Redis database, emptied once per run: schema names and channel ids start again in every
    run's new PostgreSQL database, so the governor's state of an earlier run (daily caps, tiers, pauses
    keyed by schema and channel) would otherwise apply to this run's channels of the same ids."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture
def redis_url(_fresh_test_redis: str) -> str:
    return _fresh_test_redis


@pytest.fixture
def client(database_url: str):
    """The REST app served in-process (the same ASGI object uvicorn and Reflex serve)."""
    from fastapi.testclient import TestClient

    from app.api import api

    with TestClient(api) as c:
        yield c


def api_login(client, tenant: "TenantHandle", email: str | None = None) -> dict[str, str]:
    r = client.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": email or tenant.admin_email, "password": tenant.password},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def auth_headers(client):
    """auth_headers(tenant, role) -> headers of a fresh user with that role."""

    def _headers(tenant: TenantHandle, role: str = "admin") -> dict[str, str]:
        actor = tenant.actor(role)
        return api_login(client, tenant, actor.email)

    return _headers
