"""REST: /api/clientes and the workspace endpoints: 422 with pt-BR fields, 404 for unknown ids,
other portfolios' and other tenants' ids, RBAC per role, OpenAPI, bulk progress, CSV export."""

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from models.tenant import Contact, Conversation, Tag
from tenants.database import session
from tests.integration.crm.conftest import Crm, acting_client, make_user


@pytest.fixture(scope="module")
def client(crm: Crm) -> Iterator[TestClient]:
    with acting_client(crm) as c:
        yield c


def as_(who: str) -> dict[str, str]:
    return {"x-as": who}


def make(client: TestClient, who: str = "agent", **body: object) -> dict:
    r = client.post("/api/clientes", json={"name": f"API {uuid.uuid4().hex[:6]}", **body}, headers=as_(who))
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def foreign_ids(make_tenant_module) -> dict[str, int]:
    return make_tenant_module


@pytest.fixture(scope="module")
def make_tenant_module(database_url: str) -> dict[str, int]:
    """Rows of another tenant: their ids must be 404 here whatever the role."""
    from app.crm import appointments, notes, opportunities
    from app.crm.customers import CustomerIn, create_customer
    from app.platform.provisioning import SignupInput, provision_tenant

    slug = f"o{uuid.uuid4().hex[:10]}"
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
        # Ids are per schema; start the other tenant far away so "its id" is not also one of ours.
        for table in ("customers", "contacts", "notes", "opportunities", "appointments", "conversations"):
            db.exec(text(f'ALTER TABLE "{tenant.schema_name}".{table} ALTER COLUMN id RESTART WITH 900000'))
        c = create_customer(
            db,
            admin,
            CustomerIn(
                name="Cliente de outra empresa", contacts=[{"kind": "phone", "value": "11 91234-5678"}]
            ),
        )
        db.flush()
        note = notes.add_note(db, admin, c.id, notes.NoteIn(body="secreta"))
        opp = opportunities.create_opportunity(
            db, admin, opportunities.OpportunityIn(customer_id=c.id, title="x")
        )
        appt = appointments.create_appointment(
            db,
            admin,
            appointments.AppointmentIn(customer_id=c.id, title="x", starts_local=datetime(2030, 1, 1)),
        )
        contact_id = db.exec(
            __import__("sqlmodel").select(Contact.id).where(Contact.customer_id == c.id)
        ).one()
        conv = Conversation(customer_id=c.id, channel="whatsapp")
        db.add(conv)
        db.flush()
        ids = {
            "customer": c.id,
            "note": note.id,
            "opportunity": opp.id,
            "appointment": appt.id,
            "contact": contact_id,
            "conversation": conv.id,
        }
        db.commit()
    return ids


def test_openapi_documents_the_workspace(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/clientes",
        "/api/clientes/{customer_id}",
        "/api/clientes/{customer_id}/timeline",
        "/api/clientes/acoes-em-massa",
        "/api/conversas/{conversation_id}/responder",
        "/api/agenda",
        "/api/oportunidades/{opportunity_id}/mover",
        "/api/campos",
        "/api/segmentos",
        "/api/modelos",
    ):
        assert path in paths
    assert {"get", "post"} <= set(paths["/api/clientes"]) and {"get", "put"} <= set(
        paths["/api/clientes/{customer_id}"]
    )


def test_create_get_update_list(client: TestClient, crm: Crm) -> None:
    c = make(
        client,
        name="Telefonia São João",
        document="11.222.333/0001-81",
        contacts=[{"kind": "email", "value": "Contato@SaoJoao.com.br"}],
    )
    assert c["kind"] == "PJ" and c["owner_id"] == crm.agent.user_id
    detail = client.get(f"/api/clientes/{c['id']}", headers=as_("agent")).json()
    assert detail["contacts"][0]["value"] == "contato@saojoao.com.br"
    assert detail["last_interactions"][0]["kind"] == "field_change"
    r = client.put(f"/api/clientes/{c['id']}", json={"status": "suspenso"}, headers=as_("agent"))
    assert r.status_code == 200 and r.json()["status"] == "suspenso"
    page = client.get(
        "/api/clientes", params={"q": "sao joao", "status": ["suspenso"]}, headers=as_("agent")
    ).json()
    assert [x["id"] for x in page["items"]] == [c["id"]]
    ranked = client.get(
        "/api/clientes/busca", params={"q": "telefonia sao joao"}, headers=as_("agent")
    ).json()
    assert ranked[0]["id"] == c["id"]
    tl = client.get(
        f"/api/clientes/{c['id']}/timeline", params={"kind": "status_change"}, headers=as_("agent")
    )
    assert tl.json()["items"][0]["payload"]["to"] == "suspenso"


def test_validation_errors_are_422_with_pt_br_fields(client: TestClient) -> None:
    r = client.post(
        "/api/clientes", json={"name": "", "document": "111", "status": "?"}, headers=as_("agent")
    )
    assert r.status_code == 422
    assert r.json()["fields"] == {
        "name": "Informe o nome.",
        "document": "CPF ou CNPJ inválido.",
        "status": "Status inválido.",
    }
    r = client.post("/api/clientes", json={"score": "muito"}, headers=as_("agent"))
    assert r.status_code == 422 and r.json()["fields"]["name"] == "Campo obrigatório."
    r = client.get("/api/clientes", params={"sort": "senha"}, headers=as_("agent"))
    assert r.status_code == 422 and "sort" in r.json()["fields"]
    r = client.get("/api/clientes", params={"custom": "[1"}, headers=as_("agent"))
    assert r.status_code == 422 and "custom" in r.json()["fields"]


def test_unknown_and_other_portfolio_ids_are_404(client: TestClient) -> None:
    c = make(client, "outsider")
    for who in ("agent", "manager"):
        assert client.get(f"/api/clientes/{c['id']}", headers=as_(who)).status_code == 404
        assert client.put(f"/api/clientes/{c['id']}", json={"name": "x"}, headers=as_(who)).status_code == 404
        assert client.get(f"/api/clientes/{c['id']}/timeline", headers=as_(who)).status_code == 404
        assert (
            client.post(f"/api/clientes/{c['id']}/notas", json={"body": "x"}, headers=as_(who)).status_code
            == 404
        )
    assert client.get(f"/api/clientes/{c['id']}", headers=as_("admin")).status_code == 200
    assert client.get("/api/clientes/987654321", headers=as_("admin")).status_code == 404
    ids = {
        x["id"]
        for x in client.get("/api/clientes", params={"limit": 200}, headers=as_("agent")).json()["items"]
    }
    assert c["id"] not in ids


FOREIGN_CALLS = [
    ("get", "/api/clientes/{customer}", None),
    ("put", "/api/clientes/{customer}", {"name": "invasão"}),
    ("delete", "/api/clientes/{customer}", None),
    ("get", "/api/clientes/{customer}/timeline", None),
    ("get", "/api/clientes/{customer}/contatos", None),
    ("post", "/api/clientes/{customer}/contatos", {"kind": "email", "value": "x@y.com"}),
    ("get", "/api/clientes/{customer}/notas", None),
    ("post", "/api/clientes/{customer}/notas", {"body": "x"}),
    ("get", "/api/clientes/{customer}/oportunidades", None),
    ("put", "/api/notas/{note}", {"body": "x"}),
    ("delete", "/api/notas/{note}", None),
    ("put", "/api/contatos/{contact}", {"label": "x"}),
    ("post", "/api/contatos/{contact}/opt-out", {"opt_out": True}),
    ("get", "/api/oportunidades/{opportunity}", None),
    ("put", "/api/oportunidades/{opportunity}", {"title": "x"}),
    ("post", "/api/oportunidades/{opportunity}/mover", {"stage_id": 1, "position": 0}),
    ("put", "/api/agendamentos/{appointment}", {"title": "x"}),
    ("delete", "/api/agendamentos/{appointment}", None),
    ("get", "/api/conversas/{conversation}", None),
    ("post", "/api/conversas/{conversation}/responder", {"body": "x"}),
    ("post", "/api/conversas/{conversation}/resolver", None),
    ("post", "/api/oportunidades", {"customer_id": "{customer}", "title": "x"}),
    (
        "post",
        "/api/agendamentos",
        {"customer_id": "{customer}", "title": "x", "starts_local": "2030-01-01T10:00"},
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_CALLS)
def test_other_tenants_ids_are_404_on_every_endpoint(
    client: TestClient, foreign_ids: dict[str, int], method: str, path: str, body: dict | None
) -> None:
    url = path.format(**foreign_ids)
    if body is not None:
        body = json.loads(json.dumps(body).replace('"{customer}"', str(foreign_ids["customer"])))
    r = client.request(method, url, json=body, headers=as_("admin"))
    assert r.status_code == 404, (url, r.status_code, r.text)


def test_other_tenants_rows_never_listed_or_found(client: TestClient, foreign_ids: dict[str, int]) -> None:
    page = client.get("/api/clientes", params={"q": "outra empresa"}, headers=as_("admin")).json()
    assert page["items"] == []
    assert client.get("/api/clientes/busca", params={"q": "11 91234-5678"}, headers=as_("admin")).json() == []


def test_role_permissions_on_endpoints(client: TestClient) -> None:
    c = make(client, "agent")
    assert client.delete(f"/api/clientes/{c['id']}", headers=as_("agent")).status_code == 403
    assert client.post("/api/etiquetas", json={"name": "x"}, headers=as_("agent")).status_code == 403
    assert (
        client.post(
            "/api/campos", json={"key": "k", "label": "K", "type": "text"}, headers=as_("manager")
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/clientes/acoes-em-massa",
            json={"action": "set_status", "value": "ativo", "ids": [1]},
            headers=as_("agent"),
        ).status_code
        == 403
    )
    assert client.post("/api/clientes/exportar", json={}, headers=as_("agent")).status_code == 403
    assert client.delete(f"/api/clientes/{c['id']}", headers=as_("admin")).status_code == 204
    assert client.get(f"/api/clientes/{c['id']}", headers=as_("admin")).status_code == 404


def test_bulk_queued_with_progress_and_export(
    client: TestClient, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.crm import customers

    monkeypatch.setattr(customers.bulk, "INLINE_BULK_LIMIT", 1)
    with session(crm.schema) as db:
        db.add(Tag(name="api-lote"))
        db.commit()
    made = [make(client, "manager", plan="Plano API Lote") for _ in range(3)]
    r = client.post(
        "/api/clientes/acoes-em-massa",
        headers=as_("manager"),
        json={"action": "add_tag", "value": "api-lote", "filter": {"plan": ["Plano API Lote"]}},
    )
    assert r.status_code == 202
    assert r.json()["state"] == "queued"
    for _ in range(100):  # the in-process broker runs the task beside the request; poll like the UI does
        job = client.get(f"/api/clientes/acoes-em-massa/{r.json()['id']}", headers=as_("manager")).json()
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["state"] == "done" and job["total"] == 3 and job["done"] == 3
    page = client.get("/api/clientes", params={"tag": "api-lote"}, headers=as_("manager")).json()
    assert {x["id"] for x in page["items"]} == {m["id"] for m in made}
    csv = client.post(
        "/api/clientes/exportar", json={"filter": {"tags": ["api-lote"]}}, headers=as_("manager")
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 4 and "api-lote" in csv.text


def test_workspace_endpoints_round_trip(client: TestClient, crm: Crm) -> None:
    c = make(client, "agent")
    note = client.post(f"/api/clientes/{c['id']}/notas", json={"body": "ligar amanhã"}, headers=as_("agent"))
    assert note.status_code == 201
    appt = client.post(
        "/api/agendamentos",
        headers=as_("agent"),
        json={"customer_id": c["id"], "title": "Retorno", "starts_local": "2030-05-02T10:00:00"},
    )
    assert appt.status_code == 201
    agenda = client.get("/api/agenda", params={"day": "2030-05-02"}, headers=as_("agent")).json()
    assert "Retorno" in {a["title"] for a in agenda}
    opp = client.post(
        "/api/oportunidades",
        json={"customer_id": c["id"], "title": "Upgrade", "value": "99.90"},
        headers=as_("agent"),
    )
    assert opp.status_code == 201
    bad = client.post(
        "/api/oportunidades", json={"customer_id": c["id"], "title": "x", "value": "-1"}, headers=as_("agent")
    )
    assert bad.status_code == 422 and "value" in bad.json()["fields"]
    # A reply needs a channel and the customer's number (issue 18).
    assert (
        client.post(
            "/api/canais", json={"kind": "sandbox_whatsapp", "name": "Teste", "config": {}}
        ).status_code
        == 201
    )
    assert (
        client.post(
            f"/api/clientes/{c['id']}/contatos",
            json={"kind": "whatsapp", "value": "+5511987650001"},
            headers=as_("agent"),
        ).status_code
        == 201
    )
    with session(crm.schema) as db:
        conv = Conversation(
            customer_id=c["id"],
            channel="whatsapp",
            assignee_id=crm.agent.user_id,
            last_message_at=datetime.now(UTC),
        )
        db.add(conv)
        db.commit()
    r = client.post(f"/api/conversas/{conv.id}/responder", json={"body": "Olá!"}, headers=as_("agent"))
    assert r.status_code == 201 and r.json()["status"] == "queued"
    assert (
        client.post(f"/api/conversas/{conv.id}/resolver", headers=as_("agent")).json()["status"] == "resolved"
    )
    home = client.get("/api/inicio", headers=as_("agent")).json()
    assert c["id"] in {x["id"] for x in home["recent"]}
    seg = client.post(
        "/api/segmentos",
        json={"name": "Todos ativos", "filters": {"status": ["ativo"]}},
        headers=as_("manager"),
    )
    assert seg.status_code == 201
    res = client.get(f"/api/segmentos/{seg.json()['id']}/clientes", headers=as_("agent")).json()
    assert res["count"] >= 1 and all(x["owner_id"] == crm.agent.user_id for x in res["items"])
    tpl = client.post(
        "/api/modelos",
        json={"name": "Oi", "channel": "whatsapp", "body": "Oi {{nome}}"},
        headers=as_("manager"),
    )
    assert tpl.status_code == 201 and tpl.json()["variables"] == ["nome"]
