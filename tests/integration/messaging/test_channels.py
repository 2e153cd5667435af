"""Channels: CRUD over REST, secrets encrypted at rest and never shown (responses, audit), one default
per medium, Cloud API routes in the platform schema, RBAC and tenant isolation."""

import hashlib
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import text

from app.messaging import channels
from models.tenant import Channel
from tenants.database import session
from tests.integration.crm.conftest import Crm
from tests.integration.messaging.conftest import as_

TOKEN = "EAAG-super-secret-token-" + uuid.uuid4().hex
APP_SECRET = "app-secret-" + uuid.uuid4().hex
VERIFY = "verify-" + uuid.uuid4().hex


def cloud_body(phone_number_id: str | None = None, **extra: object) -> dict:
    return {
        "kind": "whatsapp_cloud",
        "name": "Número principal",
        "config": {
            "phone_number_id": phone_number_id or uuid.uuid4().hex[:15],
            "waba_id": "1234567890",
            "display_phone": "+55 11 4000-0000",
            "access_token": TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
        },
        **extra,
    }


def test_create_hides_and_encrypts_secrets(api: TestClient, crm: Crm) -> None:
    r = api.post("/api/canais", json=cloud_body())
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["kind"] == "whatsapp_cloud" and out["medium"] == "whatsapp" and out["status"] == "active"
    assert out["config"]["access_token"] == "••••" and out["config"]["api_version"] == "v21.0"
    assert out["secrets_set"] == ["access_token", "app_secret", "verify_token"]
    for secret in (TOKEN, APP_SECRET, VERIFY):
        assert secret not in r.text
        assert secret not in api.get(f"/api/canais/{out['id']}").text
        assert secret not in api.get("/api/canais").text
    with session(crm.schema) as db:
        raw = db.execute(
            text(f"SELECT config::text, secrets, state::text FROM {crm.schema}.channels WHERE id = :id"),
            {"id": out["id"]},
        ).one()
        audit = db.execute(
            text(f"SELECT before::text || after::text FROM {crm.schema}.audit_log WHERE entity = 'channel'")
        ).all()
        channel = db.get(Channel, out["id"])
        assert channel is not None
        full = channels.config_model(channel)
    for secret in (TOKEN, APP_SECRET, VERIFY):
        assert all(secret not in part for part in raw)
        assert all(secret not in row[0] for row in audit)
    assert raw[1].startswith("gAAAA")  # a Fernet token
    assert full.access_token == TOKEN


def test_update_keeps_secrets_not_resent(api: TestClient, crm: Crm) -> None:
    created = api.post("/api/canais", json=cloud_body()).json()
    # The screen sends the masked value back; an API client just leaves the field out.
    r = api.put(
        f"/api/canais/{created['id']}",
        json={"name": "Renomeado", "config": {"access_token": "••••", "display_phone": "+55 11 4000-0001"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Renomeado" and r.json()["config"]["display_phone"] == "+55 11 4000-0001"
    with session(crm.schema) as db:
        channel = db.get(Channel, created["id"])
        assert channel is not None
        full = channels.config_model(channel)
    assert full.access_token == TOKEN and full.app_secret == APP_SECRET
    r = api.put(f"/api/canais/{created['id']}", json={"config": {"access_token": "novo-token"}})
    assert r.status_code == 200 and "novo-token" not in r.text
    with session(crm.schema) as db:
        channel = db.get(Channel, created["id"])
        assert channel is not None
        assert channels.config_model(channel).access_token == "novo-token"


def test_invalid_config_is_422_in_portuguese(api: TestClient) -> None:
    r = api.post("/api/canais", json={"kind": "smtp", "name": "SMTP", "config": {"port": 25}})
    assert r.status_code == 422
    fields = r.json()["fields"] if "fields" in r.json() else r.json()
    assert "config.host" in str(fields) and "Campo obrigatório" in r.text
    r = api.post("/api/canais", json={"kind": "fax", "name": "x", "config": {}})
    assert r.status_code == 422 and "Tipo de canal inválido" in r.text
    r = api.post(
        "/api/canais",
        json={
            "kind": "smtp",
            "name": "SMTP",
            "config": {"host": "h", "from_email": "a@b.c", "security": "tls"},
        },
    )
    assert r.status_code == 422 and "config.security" in r.text
    r = api.post("/api/canais", json={"kind": "sandbox_email", "name": "x", "config": {"bogus": 1}})
    assert r.status_code == 422 and "Campo não permitido" in r.text


def test_one_default_per_medium(api: TestClient) -> None:
    a = api.post("/api/canais", json={"kind": "sandbox_email", "name": "A", "config": {}}).json()
    b = api.post("/api/canais", json={"kind": "sandbox_email", "name": "B", "config": {}, "is_default": True})
    assert b.status_code == 201 and b.json()["is_default"]
    listed = {c["id"]: c for c in api.get("/api/canais?medium=email").json()}
    assert not listed[a["id"]]["is_default"]
    assert sum(c["is_default"] for c in listed.values()) == 1
    r = api.put(f"/api/canais/{a['id']}", json={"is_default": True})
    assert r.status_code == 200 and r.json()["is_default"]
    listed = {c["id"]: c for c in api.get("/api/canais?medium=email").json()}
    assert not listed[b.json()["id"]]["is_default"]


def test_cloud_route_follows_the_channel(api: TestClient, crm: Crm) -> None:
    pid = "55" + uuid.uuid4().hex[:12]
    created = api.post("/api/canais", json=cloud_body(pid)).json()

    def routes() -> list[tuple]:
        with session(crm.schema) as db:
            return [
                tuple(r)
                for r in db.execute(
                    text(
                        "SELECT external_id, tenant_id, channel_id, verify_token_hash "
                        "FROM platform.channel_routes WHERE channel_id = :c"
                    ),
                    {"c": created["id"]},
                ).all()
            ]

    assert routes() == [(pid, crm.tenant_id, created["id"], hashlib.sha256(VERIFY.encode()).hexdigest())]
    # The same number on a second channel is refused.
    assert api.post("/api/canais", json=cloud_body(pid)).status_code == 409
    new_pid = pid + "9"
    api.put(
        f"/api/canais/{created['id']}", json={"config": {"phone_number_id": new_pid, "verify_token": "v2"}}
    )
    assert routes() == [(new_pid, crm.tenant_id, created["id"], hashlib.sha256(b"v2").hexdigest())]
    assert api.delete(f"/api/canais/{created['id']}").status_code == 204
    assert routes() == []
    assert api.get(f"/api/canais/{created['id']}").status_code == 404


def test_rbac_agents_list_what_they_may_send_with(api: TestClient, crm: Crm) -> None:
    org = api.post("/api/canais", json={"kind": "sandbox_whatsapp", "name": "Org", "config": {}}).json()
    own = api.post(
        "/api/canais",
        json={
            "kind": "wppconnect",
            "name": "Sessão do agente",
            "owner_user_id": crm.agent.user_id,
            "config": {
                "server_url": "http://127.0.0.1:21465",
                "secret_key": "THISISMYSECURETOKEN",
                "session": "ag1",
            },
        },
    ).json()
    paused = api.post(
        "/api/canais", json={"kind": "sandbox_whatsapp", "name": "Pausado", "config": {}}
    ).json()
    assert api.put(f"/api/canais/{paused['id']}", json={"status": "paused"}).json()["status"] == "paused"
    for who in ("agent", "manager"):
        assert api.post("/api/canais", json=cloud_body(), headers=as_(who)).status_code == 403
        assert api.put(f"/api/canais/{org['id']}", json={"name": "x"}, headers=as_(who)).status_code == 403
        assert api.delete(f"/api/canais/{org['id']}", headers=as_(who)).status_code == 403
    mine = {c["id"] for c in api.get("/api/canais", headers=as_("agent")).json()}
    theirs = {c["id"] for c in api.get("/api/canais", headers=as_("agent2")).json()}
    assert {org["id"], own["id"]} <= mine and paused["id"] not in mine
    assert org["id"] in theirs and own["id"] not in theirs
    assert api.get(f"/api/canais/{own['id']}", headers=as_("agent2")).status_code == 404
    assert "THISISMYSECURETOKEN" not in api.get("/api/canais", headers=as_("agent")).text
    # A personal session is never the organisation's default.
    assert not own["is_default"]


def test_other_tenants_channels_are_invisible(api: TestClient, make_tenant) -> None:
    other = make_tenant()
    name = "Alheio " + uuid.uuid4().hex[:6]
    pid = "77" + uuid.uuid4().hex[:12]
    with session(other.schema) as db:
        admin = other.actor("admin")
        channels.create_channel(db, admin, channels.ChannelIn(kind="sandbox_email", name=name, config={}))
        channels.create_channel(db, admin, channels.ChannelIn.model_validate(cloud_body(pid)))
        db.commit()
    # Ids are per organisation: what another one holds is simply not there.
    assert name not in api.get("/api/canais").text
    assert api.get("/api/canais/999999").status_code == 404
    # A number already routed to another organisation cannot be claimed.
    r = api.post("/api/canais", json=cloud_body(pid))
    assert r.status_code == 409 and "já está configurado" in r.text
