"""REST of the Kanban: move (200 with card + history, 409 WIP, 422 naming required fields, 404 for
unknown and other tenants' ids), the legacy /mover on the same service, board + column cursor,
stage history, pipeline/stage CRUD with its permission and archive rules."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tenants.database import session
from tests.integration.crm.conftest import Crm, acting_client, make_user


@pytest.fixture(scope="module")
def client(crm: Crm) -> Iterator[TestClient]:
    with acting_client(crm) as c:
        yield c


def as_(who: str) -> dict[str, str]:
    return {"x-as": who}


@pytest.fixture(scope="module")
def foreign(database_url: str) -> dict[str, int]:
    """A card and a stage of another tenant, with ids far from ours."""
    from app.crm import opportunities
    from app.crm.customers import CustomerIn, create_customer
    from app.crm.kanban import pipelines
    from app.platform.provisioning import SignupInput, provision_tenant

    slug = f"k{uuid.uuid4().hex[:10]}"
    tenant = provision_tenant(
        SignupInput(
            name="Outra",
            slug=slug,
            admin_name="A",
            admin_email=f"a@{slug}.com",
            admin_password="Senha-forte-123",
        )
    )
    admin = make_user(tenant.id, slug, "admin", None)
    with session(tenant.schema_name) as db:
        for table in ("customers", "opportunities", "pipelines", "stages"):
            db.exec(text(f'ALTER TABLE "{tenant.schema_name}".{table} ALTER COLUMN id RESTART WITH 900000'))
        c = create_customer(db, admin, CustomerIn(name="Cliente de outra empresa"))
        db.flush()
        far = pipelines.create_pipeline(
            db, admin, pipelines.PipelineIn(name="Longe", stages=[pipelines.StageIn(name="L")])
        )
        opp = opportunities.create_opportunity(
            db, admin, opportunities.OpportunityIn(customer_id=c.id, pipeline_id=far.id, title="x")
        )
        db.commit()
        return {"card": opp.id or 0, "stage": opp.stage_id}


@pytest.fixture(scope="module")
def funnel(client: TestClient) -> dict:
    r = client.post(
        "/api/funis",
        json={
            "name": "Portabilidade",
            "stages": [
                {"name": "Lead", "color": "blue"},
                {
                    "name": "Proposta Enviada",
                    "color": "amber",
                    "required_fields": ["value", "expected_close"],
                },
                {"name": "Negociação", "color": "violet", "wip_limit": 1},
                {"name": "Perdido", "color": "red", "outcome": "lost"},
            ],
        },
        headers=as_("manager"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def _card(client: TestClient, funnel: dict, who: str = "agent") -> dict:
    c = client.post("/api/clientes", json={"name": f"Cli {uuid.uuid4().hex[:6]}"}, headers=as_(who)).json()
    r = client.post(
        "/api/oportunidades",
        json={"customer_id": c["id"], "pipeline_id": funnel["id"], "title": "Migração 10 linhas"},
        headers=as_(who),
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_move_rules_over_rest(client: TestClient, funnel: dict, foreign: dict[str, int]) -> None:
    lead, proposal, negotiation, lost = (s["id"] for s in funnel["stages"])
    card = _card(client, funnel)
    url = f"/api/kanban/cards/{card['id']}/move"
    r = client.post(url, json={"stage_id": proposal}, headers=as_("agent"))
    assert r.status_code == 422 and set(r.json()["fields"]) == {"value", "expected_close"}, r.text
    r = client.post(
        url,
        json={"stage_id": proposal, "fields": {"value": "2500.00", "expected_close": "2031-02-01"}},
        headers=as_("agent"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["card"]["stage_id"] == proposal and body["card"]["value_label"] == "R$ 2.500,00"
    assert (body["history"]["from_stage_id"], body["history"]["to_stage_id"]) == (lead, proposal)
    other = _card(client, funnel)
    assert (
        client.post(
            f"/api/kanban/cards/{other['id']}/move", json={"stage_id": negotiation}, headers=as_("agent")
        ).status_code
        == 200
    )
    r = client.post(url, json={"stage_id": negotiation}, headers=as_("agent"))
    assert r.status_code == 409 and "limite" in r.json()["detail"]
    r = client.post(url, json={"stage_id": lost}, headers=as_("agent"))
    assert r.status_code == 422 and list(r.json()["fields"]) == ["loss_reason"]
    # before_id: place the card before another one of the column.
    third = _card(client, funnel)
    r = client.post(
        f"/api/kanban/cards/{third['id']}/move",
        json={"stage_id": lead, "before_id": None},
        headers=as_("agent"),
    )
    assert r.status_code == 200
    for body_json, who in (
        ({"stage_id": lead}, "outsider"),  # a card of another portfolio
        ({"stage_id": 987654}, "agent"),  # unknown stage
        ({"stage_id": foreign["stage"]}, "agent"),  # other tenant's stage
        ({"stage_id": lead, "before_id": foreign["card"]}, "agent"),
    ):
        assert client.post(url, json=body_json, headers=as_(who)).status_code == 404, body_json
    assert (
        client.post(f"/api/kanban/cards/{foreign['card']}/move", json={"stage_id": lead}).status_code == 404
    )
    history = client.get(f"/api/oportunidades/{card['id']}/historico", headers=as_("agent")).json()
    assert [(h["from_stage_id"], h["to_stage_id"]) for h in history] == [(lead, proposal), (None, lead)]
    assert client.get(f"/api/oportunidades/{foreign['card']}/historico").status_code == 404


def test_legacy_mover_uses_the_same_service(client: TestClient, funnel: dict) -> None:
    lead, proposal, *_ = (s["id"] for s in funnel["stages"])
    a, b = _card(client, funnel), _card(client, funnel)
    r = client.post(
        f"/api/oportunidades/{b['id']}/mover", json={"stage_id": lead, "position": 0}, headers=as_("agent")
    )
    assert r.status_code == 200 and r.json()["position"] < a["position"]
    r = client.post(
        f"/api/oportunidades/{a['id']}/mover",
        json={"stage_id": proposal, "position": 0},
        headers=as_("agent"),
    )
    assert r.status_code == 422  # the same required-fields rule
    history = client.get(f"/api/oportunidades/{b['id']}/historico", headers=as_("agent")).json()
    assert len(history) == 1  # a reorder inside the column is not a stage change


def test_board_and_column_cursor(client: TestClient, funnel: dict) -> None:
    lead = funnel["stages"][0]["id"]
    for _ in range(3):
        _card(client, funnel)
    r = client.get(f"/api/kanban/{funnel['id']}", headers=as_("admin"))
    assert r.status_code == 200, r.text
    columns = r.json()["columns"]
    assert [c["name"] for c in columns] == ["Lead", "Proposta Enviada", "Negociação", "Perdido"]
    first = columns[0]
    assert first["count"] >= 3 and len(first["cards"]) == first["count"] and first["next_cursor"] is None
    assert {"customer_name", "owner_name", "days_in_stage", "hint", "tags", "score"} <= set(first["cards"][0])
    r = client.get(f"/api/kanban/{funnel['id']}", params={"q": "zzz-nada"}, headers=as_("admin"))
    assert r.json()["columns"][0]["count"] == 0
    r = client.get(f"/api/kanban/{funnel['id']}", params={"cursor": "bogus", "stage_id": lead})
    assert r.status_code == 422
    assert client.get("/api/kanban/987654").status_code == 404
    assert client.get(f"/api/kanban/{funnel['id']}/metricas", headers=as_("manager")).status_code == 200


def test_pipeline_crud_permission_and_archive(client: TestClient, funnel: dict) -> None:
    body = {"name": "Fibra B2B", "stages": [{"name": "Lead"}]}
    assert client.post("/api/funis", json=body, headers=as_("agent")).status_code == 403
    r = client.post("/api/funis", json={"name": "Fibra", "stages": [{"name": "L", "outcome": "talvez"}]})
    assert r.status_code == 422 and "outcome" in r.json()["fields"]
    created = client.post("/api/funis", json=body, headers=as_("admin")).json()
    pid = created["id"]
    r = client.post(f"/api/funis/{pid}/etapas", json={"name": "Ganho", "outcome": "won", "color": "green"})
    assert r.status_code == 201
    won = r.json()["id"]
    r = client.put(f"/api/funis/{pid}/etapas/{won}", json={"name": "Fechado", "position": 0})
    assert r.status_code == 200 and r.json()["position"] == 0
    assert client.put(f"/api/funis/{pid}", json={"name": "Fibra B2B 2"}).json()["name"] == "Fibra B2B 2"
    assert client.delete(f"/api/funis/{pid}/etapas/{won}").status_code == 204
    assert client.delete(f"/api/funis/{pid}/etapas/{won}").status_code == 404
    assert client.delete(f"/api/funis/{pid}").status_code == 204
    assert pid not in [p["id"] for p in client.get("/api/funis").json()]
    lead = funnel["stages"][0]["id"]
    r = client.delete(f"/api/funis/{funnel['id']}/etapas/{lead}", headers=as_("manager"))
    assert r.status_code == 409 and "mova" in r.json()["detail"]
