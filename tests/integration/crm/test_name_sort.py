"""Issue 14 item 4: names sort case- and accent-insensitively (customers.name_key, t0016), in the
service, over REST and across keyset pages, without changing what an agent sees."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from app.auth.actor import Actor
from app.crm.customers import CustomerQuery, CustomerUpdate, list_customers, update_customer
from tests.integration.crm.conftest import Crm, new_customer

# Byte order put "ANA" before "Ana", lower-case after "Z" and "Pereira Simões" before "Peçanha".
NAMES = [
    "zélia Prado",
    "Pereira Simões",
    "ANA BEATRIZ",
    "Peçanha Lima",
    "Ana Alves",
    "Ágata Reis",
    "ana carla",
]
EXPECTED = [
    "Ágata Reis",
    "Ana Alves",
    "ANA BEATRIZ",
    "ana carla",
    "Peçanha Lima",
    "Pereira Simões",
    "zélia Prado",
]


def _prefixed(names: list[str], tag: str) -> list[str]:
    # A shared first word keeps these rows together in a tenant that other tests also fill.
    return [f"Ordem{tag} {n}" for n in names]


def _walk(db: Session, actor: Actor, sort: str, tag: str, limit: int = 2) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = list_customers(
            db, actor, CustomerQuery(text=f"ordem{tag}", sort=sort, limit=limit, cursor=cursor)
        )
        seen += [r.name for r in page.rows]
        cursor = page.next_cursor
        if not cursor:
            return seen


def test_names_sort_folded_across_pages(db: Session, crm: Crm) -> None:
    tag = uuid.uuid4().hex[:6]
    for name in _prefixed(NAMES, tag):
        new_customer(db, crm.agent, name=name)
    expected = _prefixed(EXPECTED, tag)
    assert _walk(db, crm.admin, "name", tag) == expected
    assert _walk(db, crm.admin, "-name", tag) == expected[::-1]
    # The agents' own index (owner_id, name_key, id) gives the same order.
    assert _walk(db, crm.agent, "name", tag, limit=3) == expected
    assert _walk(db, crm.agent2, "name", tag) == []  # visibility unchanged


def test_key_follows_renames_and_is_folded(db: Session, crm: Crm) -> None:
    customer = new_customer(db, crm.admin, name="  ÉRICA Çaçapava ")
    row = db.connection().execute(
        text(f'SELECT name_key FROM "{crm.schema}".customers WHERE id = :id'), {"id": customer.id}
    )
    assert row.scalar_one() == "erica cacapava"
    update_customer(db, crm.admin, customer.id, CustomerUpdate(name="Öttö Ñandú"))
    db.flush()
    row = db.connection().execute(
        text(f'SELECT name_key FROM "{crm.schema}".customers WHERE id = :id'), {"id": customer.id}
    )
    assert row.scalar_one() == "otto nandu"


def test_name_sort_uses_the_key_index(db: Session, crm: Crm) -> None:
    db.connection().execute(text("SET LOCAL enable_seqscan = off"))
    plan = db.connection().execute(
        text(f'EXPLAIN SELECT id FROM "{crm.schema}".customers ORDER BY name_key, id LIMIT 50')
    )
    assert "ix_customers_name_id" in "\n".join(r[0] for r in plan)


@pytest.fixture
def client(crm: Crm) -> Iterator[TestClient]:
    from app.api.deps import get_actor
    from app.api.main import api

    def admin(request: Request) -> Actor:
        return crm.admin

    api.dependency_overrides[get_actor] = admin
    with TestClient(api) as c:
        yield c
    api.dependency_overrides.pop(get_actor, None)


def test_rest_sorts_names_folded(client: TestClient) -> None:
    tag = uuid.uuid4().hex[:6]
    made = []
    for name in _prefixed(NAMES, tag):
        r = client.post("/api/clientes", json={"name": name})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
    seen: list[str] = []
    params: dict[str, str | int] = {"q": f"ordem{tag}", "sort": "name", "limit": 3}
    while True:
        body = client.get("/api/clientes", params=params).json()
        seen += [r["name"] for r in body["items"]]
        if not body.get("next_cursor"):
            break
        params["cursor"] = body["next_cursor"]
    assert seen == _prefixed(EXPECTED, tag)
    for customer_id in made:  # the module's tenant is shared: leave it as found
        client.delete(f"/api/clientes/{customer_id}")
