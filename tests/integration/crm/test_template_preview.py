"""Template preview: rendered for a visible customer or with sample values, unknown variables flagged;
the same service behind REST POST /api/modelos/{id}/previa and /api/modelos/previa."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.actor import Actor
from app.crm import custom_fields, templates
from app.errors import NotFound
from models.tenant import Template
from tenants.database import session
from tests.integration.crm.conftest import Crm, new_customer


def saved(db: Session, body: str, subject: str | None = None, channel: str = "whatsapp") -> Template:
    # Stored directly: the create service refuses unknown variables, but old rows or a field deleted
    # later can still carry them, which is exactly what the preview must flag.
    t = Template(name=f"M {uuid.uuid4().hex[:6]}", channel=channel, subject=subject, body=body)
    db.add(t)
    db.flush()
    return t


def test_preview_for_a_customer_flags_unknown_and_empty(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent, name="João Pereira", plan=None)
    t = saved(db, "Olá {{primeiro_nome}}, seu plano {{plano_atual}} {{cupom}}!", subject="Oi {{nome}}")
    p = templates.preview_template(db, crm.agent, t.id, customer_id=c.id)
    assert not p.sample and p.customer_name == "João Pereira"
    assert p.subject == "Oi João Pereira"
    assert p.body == "Olá João, seu plano  {{cupom}}!"
    assert p.unknown == ["cupom"] and p.empty == ["plano_atual"]
    assert [(x.kind, x.text) for x in p.body_parts] == [
        ("text", "Olá "),
        ("value", "João"),
        ("text", ", seu plano "),
        ("empty", ""),
        ("text", " "),
        ("unknown", "{{cupom}}"),
        ("text", "!"),
    ]


def test_preview_without_customer_uses_samples_including_custom_fields(db: Session, crm: Crm) -> None:
    key = f"renova_{uuid.uuid4().hex[:4]}"
    custom_fields.create_field(
        db, crm.admin, custom_fields.CustomFieldIn(key=key, label="Renovação", type="date")
    )
    db.flush()
    p = templates.preview_text(db, crm.agent, subject=None, body="{{nome}} renova em {{" + key + "}}")
    assert p.sample and p.customer_id is None
    assert p.body == f"{templates.SAMPLE_VALUES['nome']} renova em 31/12/2025"
    assert p.unknown == [] and p.empty == []
    assert p.subject is None and p.subject_parts == []


def test_preview_respects_customer_visibility(db: Session, crm: Crm) -> None:
    theirs = new_customer(db, crm.outsider)
    t = saved(db, "Olá {{nome}}")
    with pytest.raises(NotFound):
        templates.preview_template(db, crm.agent, t.id, customer_id=theirs.id)
    with pytest.raises(NotFound):
        templates.preview_template(db, crm.agent, 10**9)


@pytest.fixture(scope="module")
def client(crm: Crm) -> Iterator[TestClient]:
    from app.api.deps import get_actor
    from app.api.main import api

    actors: dict[str, Actor] = {"agent": crm.agent, "outsider": crm.outsider}

    def fake_actor(request: Request) -> Actor:
        return actors[request.headers.get("x-as", "agent")]

    api.dependency_overrides[get_actor] = fake_actor
    with TestClient(api) as c:
        yield c
    api.dependency_overrides.pop(get_actor, None)


def test_rest_preview(client: TestClient, crm: Crm) -> None:
    with session(crm.schema) as db:
        c = new_customer(db, crm.agent, name="Ana Lima")
        t = saved(db, "Oi {{primeiro_nome}} {{xpto}}")
        db.commit()
        customer_id, template_id = c.id, t.id
    r = client.post(f"/api/modelos/{template_id}/previa", json={"customer_id": customer_id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["body"] == "Oi Ana {{xpto}}" and body["unknown"] == ["xpto"] and body["sample"] is False
    r = client.post(f"/api/modelos/{template_id}/previa", json={})
    assert r.json()["sample"] is True and r.json()["body"].startswith("Oi Maria")
    # Another portfolio's customer looks like an unknown id.
    r = client.post(
        f"/api/modelos/{template_id}/previa", json={"customer_id": customer_id}, headers={"x-as": "outsider"}
    )
    assert r.status_code == 404
    assert client.post("/api/modelos/999999999/previa", json={}).status_code == 404
    r = client.post("/api/modelos/previa", json={"subject": "{{nome}}", "body": "x {{nada}}"})
    assert r.status_code == 200 and r.json()["unknown"] == ["nada"]
