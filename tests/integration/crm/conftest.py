"""CRM fixtures: one tenant per test module, actors of every role with teams, a rolled-back session."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import Session

from app.auth.actor import Actor


@dataclass
class Crm:
    schema: str
    tenant_id: int
    slug: str
    admin: Actor
    manager: Actor  # team "sul": manager + agent + agent2
    agent: Actor
    agent2: Actor
    outsider: Actor  # agent of team "norte"

    def user(self, role: str, team: str | None = None) -> Actor:
        return make_user(self.tenant_id, self.slug, role, team)


def make_user(tenant_id: int, slug: str, role: str, team: str | None) -> Actor:
    from app.auth.sessions import actor_for_user
    from models.platform import User
    from tenants.database import platform_session

    with platform_session() as db:
        user = User(
            tenant_id=tenant_id,
            email=f"{role}-{uuid.uuid4().hex[:6]}@{slug}.com.br",
            name=role.title(),
            role=role,
            team=team,
            password_hash="x",
        )
        db.add(user)
        db.commit()
        return actor_for_user(db, user.id)


@pytest.fixture(scope="module")
def crm(database_url: str) -> Crm:
    from app.platform.provisioning import SignupInput, provision_tenant

    slug = f"c{uuid.uuid4().hex[:10]}"
    tenant = provision_tenant(
        SignupInput(
            name=f"Org {slug}",
            slug=slug,
            admin_name="Admin",
            admin_email=f"admin@{slug}.com.br",
            admin_password="Senha-forte-123",
        )
    )
    from app.auth.sessions import actor_for_user
    from models.platform import User
    from tenants.database import platform_session

    with platform_session() as db:
        from sqlmodel import select

        admin_user = db.exec(select(User).where(User.tenant_id == tenant.id)).first()
        admin = actor_for_user(db, admin_user.id)
    # Create the team members first so the manager's visible set includes them.
    agent = make_user(tenant.id, slug, "agent", "sul")
    agent2 = make_user(tenant.id, slug, "agent", "sul")
    manager = make_user(tenant.id, slug, "manager", "sul")
    outsider = make_user(tenant.id, slug, "agent", "norte")
    return Crm(tenant.schema_name, tenant.id, slug, admin, manager, agent, agent2, outsider)


@pytest.fixture
def db(crm: Crm) -> Iterator[Session]:
    """A tenant session rolled back after the test: services never commit, so nothing leaks."""
    from tenants.database import session

    with session(crm.schema) as s:
        yield s
        s.rollback()


def new_customer(db: Session, actor: Actor, **fields: Any) -> Any:
    from app.crm.customers import CustomerIn, create_customer

    data = {"name": f"Cliente {uuid.uuid4().hex[:6]}", **fields}
    customer = create_customer(db, actor, CustomerIn.model_validate(data))
    db.flush()
    return customer


@contextmanager
def acting_client(crm: Crm, default: str = "admin") -> Iterator[Any]:
    """The REST app in process; the `x-as` header picks one of the module's actors by role name
    (authentication is tested by the auth suite)."""
    from fastapi import Request
    from fastapi.testclient import TestClient

    from app.api.deps import get_actor
    from app.api.main import api

    actors: dict[str, Actor] = {
        "admin": crm.admin,
        "manager": crm.manager,
        "agent": crm.agent,
        "agent2": crm.agent2,
        "outsider": crm.outsider,
    }

    def fake_actor(request: Request) -> Actor:
        return actors[request.headers.get("x-as", default)]

    api.dependency_overrides[get_actor] = fake_actor
    try:
        with TestClient(api) as client:
            yield client
    finally:
        api.dependency_overrides.pop(get_actor, None)


def spy_pages(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[bool]:
    """Records whether each call of `module.name` (a page read from a bounded range, or None when it
    gives up) paged from its range (True) or gave up (False)."""
    ranged: list[bool] = []
    real = getattr(module, name)

    def spy(*args: Any) -> Any:
        page = real(*args)
        ranged.append(page is not None)
        return page

    monkeypatch.setattr(module, name, spy)
    return ranged
