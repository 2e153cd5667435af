"""Issue 15: the per-request authentication is cheap, and revocation, deactivation and suspension still
act on the very next request, whoever commits them (here: another process with its own connection).

The server is the live uvicorn of this package's conftest; every change to the rows is made by a
separate Python process over its own PostgreSQL connection, so nothing in the server's memory (pools,
sessions, caches) hears about it except through the database.
"""

import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

from models.platform import User
from tenants.database import platform_session


def _other_process(database_url: str, sql: str, params: dict[str, Any]) -> None:
    """Commit `sql` from another OS process (not this server's pools)."""
    code = (
        "import json, sys, psycopg\n"
        "url, sql, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
        "with psycopg.connect(url, autocommit=True) as c:\n"
        "    c.execute(sql, params)\n"
    )
    import json

    subprocess.run([sys.executable, "-c", code, database_url, sql, json.dumps(params)], check=True)


def _login(http: httpx.Client, tenant: Any, email: str | None = None) -> str:
    r = http.post(
        "/api/auth/login",
        json={"tenant": tenant.slug, "email": email or tenant.admin_email, "password": tenant.password},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _me(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


def _warm(http: httpx.Client, token: str) -> None:
    # Several good requests first, so any per-process memory of this actor would be in place.
    for _ in range(5):
        assert _me(http, token).status_code == 200


def test_logout_elsewhere_refuses_the_next_request(
    http: httpx.Client, tenant: Any, database_url: str
) -> None:
    token = _login(http, tenant)
    _warm(http, token)
    _other_process(
        database_url,
        "UPDATE platform.refresh_tokens SET revoked_at = now() "
        "WHERE user_id = (SELECT id FROM platform.users WHERE email = %(email)s) AND revoked_at IS NULL",
        {"email": tenant.admin_email},
    )
    assert _me(http, token).status_code == 401


def test_deactivation_elsewhere_refuses_the_next_request(
    http: httpx.Client, tenant: Any, database_url: str
) -> None:
    actor = tenant.actor("agent")
    token = _login(http, tenant, actor.email)
    _warm(http, token)
    _other_process(
        database_url, "UPDATE platform.users SET status = 'inactive' WHERE id = %(id)s", {"id": actor.user_id}
    )
    assert _me(http, token).status_code == 401
    assert http.get("/api/clientes", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_suspension_elsewhere_refuses_the_next_request(
    http: httpx.Client, tenant: Any, database_url: str
) -> None:
    token = _login(http, tenant)
    _warm(http, token)
    _other_process(
        database_url, "UPDATE platform.tenants SET status = 'suspended' WHERE id = %(id)s", {"id": tenant.id}
    )
    assert _me(http, token).status_code == 403
    _other_process(
        database_url, "UPDATE platform.tenants SET status = 'active' WHERE id = %(id)s", {"id": tenant.id}
    )
    assert _me(http, token).status_code == 200


def test_role_and_team_changes_apply_to_the_next_request(
    http: httpx.Client, tenant: Any, database_url: str
) -> None:
    """What the actor may see follows the rows of now: a manager's team, a role taken away."""
    team = f"team-{uuid.uuid4().hex[:6]}"
    manager = tenant.actor("manager")
    colleague = tenant.actor("agent")
    token = _login(http, tenant, manager.email)
    headers = {"Authorization": f"Bearer {token}"}
    customer = http.post(
        "/api/clientes",
        json={"name": "Cliente Da Equipe", "owner_id": colleague.user_id},
        headers=_admin_headers(http, tenant),
    )
    assert customer.status_code == 201, customer.text
    cid = customer.json()["id"]
    assert http.get(f"/api/clientes/{cid}", headers=headers).status_code == 404
    _other_process(
        database_url,
        "UPDATE platform.users SET team = %(team)s WHERE id = ANY(%(ids)s)",
        {"team": team, "ids": [manager.user_id, colleague.user_id]},
    )
    assert http.get(f"/api/clientes/{cid}", headers=headers).status_code == 200
    _other_process(
        database_url, "UPDATE platform.users SET role = 'agent' WHERE id = %(id)s", {"id": manager.user_id}
    )
    assert _me(http, token).json()["role"] == "agent"
    assert http.get(f"/api/clientes/{cid}", headers=headers).status_code == 404


def _admin_headers(http: httpx.Client, tenant: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {_login(http, tenant)}"}


@pytest.fixture
def statements() -> Any:
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", before)
    yield seen
    event.remove(Engine, "before_cursor_execute", before)


def test_the_check_is_one_indexed_read(client: Any, tenant: Any, statements: list[str]) -> None:
    """User, tenant, a manager's team and the login session in one statement: the old path ran four
    (user, tenant, family, team) plus a ping and a transaction around them."""
    manager = tenant.actor("manager")
    with platform_session() as db:
        user = db.exec(select(User).where(User.id == manager.user_id)).one()
        user.team = "sul"
        db.add(user)
        db.commit()
    r = client.post(
        "/api/auth/login", json={"tenant": tenant.slug, "email": manager.email, "password": tenant.password}
    )
    token = r.json()["access_token"]
    statements.clear()
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json()["role"] == "manager"
    assert len(statements) == 1, statements


def test_a_login_session_past_its_absolute_lifetime_is_refused(
    http: httpx.Client, tenant: Any, database_url: str
) -> None:
    """Rotating or using a session never extends it: its age counts from the login (the family's
    first token), read in the same statement as the user."""
    token = _login(http, tenant)
    _warm(http, token)
    _other_process(
        database_url,
        "UPDATE platform.refresh_tokens SET created_at = now() - interval '400 days' "
        "WHERE user_id = (SELECT id FROM platform.users WHERE email = %(email)s)",
        {"email": tenant.admin_email},
    )
    assert _me(http, token).status_code == 401
