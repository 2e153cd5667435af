"""The organisation's time zone and a user's override: REST, permissions, audit, and the Actor."""

from sqlmodel import select

from app.auth.sessions import actor_for_user
from models.tenant import AuditLog
from tenants.database import platform_session
from tenants.database import session as tenant_session
from tests.conftest import TenantHandle, api_login

URL = "/api/configuracoes/fuso-horario"


def _audit(tenant: TenantHandle, action: str) -> list[AuditLog]:
    with tenant_session(tenant.schema) as db:
        return list(db.exec(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_default_is_sao_paulo_and_admin_changes_it(client, tenant: TenantHandle) -> None:
    headers = api_login(client, tenant)
    assert client.get(URL, headers=headers).json() == {
        "time_zone": "America/Sao_Paulo",
        "user_time_zone": None,
        "effective_time_zone": "America/Sao_Paulo",
    }
    r = client.put(URL, json={"time_zone": "America/Manaus"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["effective_time_zone"] == "America/Manaus"
    [row] = _audit(tenant, "tenant.time_zone")
    assert row.before == {"time_zone": "America/Sao_Paulo"} and row.after == {"time_zone": "America/Manaus"}
    assert row.actor_email == tenant.admin_email
    # Every user without a zone of their own now reads Manaus time: it rides on their Actor.
    agent = tenant.actor("agent")
    assert agent.time_zone == "America/Manaus"


def test_invalid_zone_is_a_field_error(client, tenant: TenantHandle) -> None:
    headers = api_login(client, tenant)
    r = client.put(URL, json={"time_zone": "Mars/Olympus"}, headers=headers)
    assert r.status_code == 422
    assert "time_zone" in r.json()["fields"]
    assert _audit(tenant, "tenant.time_zone") == []


def test_only_admins_change_the_organisation_zone(client, tenant: TenantHandle, auth_headers) -> None:
    for role in ("manager", "agent"):
        r = client.put(URL, json={"time_zone": "America/Manaus"}, headers=auth_headers(tenant, role))
        assert r.status_code == 403, role
    assert _audit(tenant, "tenant.time_zone") == []


def test_user_override_wins_and_can_be_cleared(client, tenant: TenantHandle) -> None:
    agent = tenant.actor("agent")
    headers = api_login(client, tenant, agent.email)
    r = client.put(f"{URL}/meu", json={"time_zone": "America/Recife"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "time_zone": "America/Sao_Paulo",
        "user_time_zone": "America/Recife",
        "effective_time_zone": "America/Recife",
    }
    with platform_session() as db:
        assert actor_for_user(db, agent.user_id).time_zone == "America/Recife"
    [row] = _audit(tenant, "user.time_zone")
    assert row.entity_id == str(agent.user_id) and row.after == {"time_zone": "America/Recife"}
    r = client.put(f"{URL}/meu", json={"time_zone": None}, headers=headers)
    assert r.json()["user_time_zone"] is None and r.json()["effective_time_zone"] == "America/Sao_Paulo"


def test_admin_sets_another_users_zone_but_an_agent_cannot(client, tenant: TenantHandle) -> None:
    agent = tenant.actor("agent")
    other = tenant.actor("agent")
    admin_headers = api_login(client, tenant)
    r = client.patch(
        f"/api/users/{agent.user_id}", json={"time_zone": "America/Manaus"}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    with platform_session() as db:
        assert actor_for_user(db, agent.user_id).time_zone == "America/Manaus"
    agent_headers = api_login(client, tenant, agent.email)
    r = client.patch(
        f"/api/users/{other.user_id}", json={"time_zone": "America/Manaus"}, headers=agent_headers
    )
    assert r.status_code == 403
