"""Messaging fixtures: the CRM's module tenant and actors, and a REST client acting as any of them."""

from collections.abc import Iterator

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from app.auth.actor import Actor
from tests.integration.crm.conftest import Crm, crm, db, make_user, new_customer  # noqa: F401


@pytest.fixture(scope="module")
def api(crm: Crm) -> Iterator[TestClient]:  # noqa: F811 (the fixture, imported above)
    """The REST app; the `x-as` header picks one of the module's actors (auth is tested elsewhere)."""
    from app.api.deps import get_actor
    from app.api.main import api as app

    actors: dict[str, Actor] = {
        "admin": crm.admin,
        "manager": crm.manager,
        "agent": crm.agent,
        "agent2": crm.agent2,
        "outsider": crm.outsider,
    }

    def fake_actor(request: Request) -> Actor:
        return actors[request.headers.get("x-as", "admin")]

    app.dependency_overrides[get_actor] = fake_actor
    with TestClient(app) as c:
        yield c
    app.dependency_overrides.pop(get_actor, None)


def as_(who: str) -> dict[str, str]:
    return {"x-as": who}
