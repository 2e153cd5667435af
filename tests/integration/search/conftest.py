"""Search fixtures: the Meilisearch simulator, two tenants with committed customers, and a switch
that points get_backend() (hence the sync tasks) at the simulator."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from app.auth.actor import Actor
from tests.integration.crm.conftest import make_user
from tests.simulators.meilisearch import MeiliSimulator

MEILI_KEY = "sim-master-key-1f0c"


@pytest.fixture(scope="module")
def meili() -> Iterator[MeiliSimulator]:
    # A small task delay: writes are really asynchronous, so code that does not wait for its
    # Meilisearch tasks is caught by the tests instead of passing by luck.
    sim = MeiliSimulator(master_key=MEILI_KEY, task_delay=0.01).start()
    yield sim
    sim.stop()


@contextmanager
def meili_configured(url: str | None, key: str | None = MEILI_KEY) -> Iterator[None]:
    """MEILI_URL/MEILI_KEY set as in production, settings and backend caches rebuilt, then restored."""
    from app.search import get_backend
    from app.settings import get_settings

    saved = {k: os.environ.get(k) for k in ("MEILI_URL", "MEILI_KEY")}
    for name, value in (("MEILI_URL", url), ("MEILI_KEY", key)):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()
    get_backend.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        get_backend.cache_clear()


@dataclass
class Org:
    schema: str
    tenant_id: int
    slug: str
    admin: Actor
    agent: Actor  # team "sul" with agent2 and manager
    agent2: Actor
    manager: Actor
    outsider: Actor  # team "norte"
    ids: dict[str, int] = field(default_factory=dict)


def make_org(id_start: int = 1) -> Org:
    from sqlmodel import select

    from app.auth.sessions import actor_for_user
    from app.platform.provisioning import SignupInput, provision_tenant
    from models.platform import User
    from tenants.database import platform_session, session

    slug = f"s{uuid.uuid4().hex[:10]}"
    tenant = provision_tenant(
        SignupInput(
            name=f"Org {slug}",
            slug=slug,
            admin_name="Admin",
            admin_email=f"admin@{slug}.com.br",
            admin_password="Senha-forte-123",
        )
    )
    with platform_session() as pdb:
        admin_user = pdb.exec(select(User).where(User.tenant_id == tenant.id)).one()
        admin = actor_for_user(pdb, admin_user.id)
    tid, schema = tenant.id, tenant.schema_name
    agent = make_user(tid, slug, "agent", "sul")
    agent2 = make_user(tid, slug, "agent", "sul")
    manager = make_user(tid, slug, "manager", "sul")
    outsider = make_user(tid, slug, "agent", "norte")
    if id_start != 1:
        # Customer ids are per schema: moving one tenant's far away makes a leaked id recognisable.
        with session(schema) as db:
            for table in ("customers", "contacts"):
                db.exec(text(f'ALTER TABLE "{schema}".{table} ALTER COLUMN id RESTART WITH {id_start}'))
            db.commit()
    return Org(schema, tid, slug, admin, agent, agent2, manager, outsider)
