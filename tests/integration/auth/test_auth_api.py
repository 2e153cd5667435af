"""POST /api/auth/login, /refresh (rotation + reuse detection), /logout, /me, /token."""

from tests.conftest import api_login


def test_login_me_and_token_shape(client, tenant) -> None:
    r = client.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": tenant.admin_email.upper(), "password": tenant.password},
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 15 * 60
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() | {"user": 0} == {
        "user": 0,
        "name": "Admin",
        "email": tenant.admin_email,
        "tenant": tenant.slug,
        "role": "admin",
    }


def test_bad_credentials_are_pt_br_and_uniform(client, tenant) -> None:
    wrong_pw = client.post(
        "/api/auth/login", json={"tenant": tenant.slug, "email": tenant.admin_email, "password": "errada-123"}
    )
    no_user = client.post(
        "/api/auth/login", json={"tenant": tenant.slug, "email": "ninguem@x.com", "password": "errada-123"}
    )
    no_tenant = client.post(
        "/api/auth/login",
        json={"tenant": "nao-existe", "email": tenant.admin_email, "password": tenant.password},
    )
    for r in (wrong_pw, no_user, no_tenant):
        assert r.status_code == 401
        assert r.json()["detail"] == "E-mail, senha ou organização incorretos."


def test_refresh_rotates_and_reuse_revokes_family(client, tenant) -> None:
    first = client.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.password},
    ).json()
    second = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    # Replaying the rotated token: refused, and the whole family (incl. the new token) dies.
    replay = client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert (
        client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    )
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status_code == 401


def test_logout_revokes_access_and_refresh(client, tenant) -> None:
    pair = client.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.password},
    ).json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/auth/me", headers=headers).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401


def test_garbage_and_missing_tokens(client) -> None:
    assert client.get("/api/auth/me").status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Bearer abc.def.ghi"}).status_code == 401


def test_brute_force_is_rate_limited_per_account(client, tenant) -> None:
    for _ in range(5):
        r = client.post(
            "/api/auth/login",
            json={"tenant": tenant.slug, "email": tenant.admin_email, "password": "errada-123"},
        )
        assert r.status_code == 401
    blocked = client.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.password},
    )
    assert blocked.status_code == 429
    assert "Muitas tentativas" in blocked.json()["detail"]
    # The attempts are audited on the platform log.
    from sqlmodel import select

    from models.platform import PlatformAudit
    from tenants.database import platform_session

    with platform_session() as db:
        actions = db.exec(select(PlatformAudit.action).where(PlatformAudit.tenant_id == tenant.id)).all()
    assert actions.count("auth.login_failed") == 5


def test_suspension_stops_tokens_at_once(client, tenant) -> None:
    from app.platform import admin
    from tenants.database import platform_session

    headers = api_login(client, tenant)
    assert client.get("/api/users", headers=headers).status_code == 200
    with platform_session() as db:
        admin.set_status(db, None, tenant.slug, "suspended")
        db.commit()
    r = client.get("/api/users", headers=headers)
    assert r.status_code == 403 and "suspensa" in r.json()["detail"]
    login = client.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.password},
    )
    assert login.status_code == 403
    with platform_session() as db:
        admin.set_status(db, None, tenant.slug, "active")
        db.commit()
    assert client.get("/api/users", headers=api_login(client, tenant)).status_code == 200


def test_deactivated_user_is_locked_out(client, tenant) -> None:
    agent = tenant.actor("agent")
    agent_headers = api_login(client, tenant, agent.email)
    admin_headers = api_login(client, tenant)
    r = client.patch(f"/api/users/{agent.user_id}", json={"active": False}, headers=admin_headers)
    assert r.status_code == 200 and r.json()["status"] == "inactive"
    assert client.get("/api/auth/me", headers=agent_headers).status_code == 401


def test_client_credentials(client, tenant) -> None:
    admin_headers = api_login(client, tenant)
    created = client.post(
        "/api/api-clients", json={"name": "ERP", "scopes": ["customers:read"]}, headers=admin_headers
    )
    assert created.status_code == 201
    cid, secret = created.json()["client_id"], created.json()["client_secret"]
    listed = client.get("/api/api-clients", headers=admin_headers).json()
    assert all("secret" not in c for c in listed)
    token = client.post(
        "/api/auth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    me = client.get("/api/auth/me", headers=headers).json()
    assert me["tenant"] == tenant.slug and me["role"] == "agent"
    # An integration is not an admin: no user directory (USERS_READ), no user management.
    assert client.get("/api/users", headers=headers).status_code == 403
    assert (
        client.post(
            "/api/users",
            json={"email": "x@y.com", "name": "X", "role": "admin", "password": "Senha-123"},
            headers=headers,
        ).status_code
        == 403
    )
    bad = client.post(
        "/api/auth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": "errado"},
    )
    assert bad.status_code == 401
    assert client.delete(f"/api/api-clients/{cid}", headers=admin_headers).status_code == 204
    assert client.get("/api/auth/me", headers=headers).status_code == 401
