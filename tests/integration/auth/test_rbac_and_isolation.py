"""The permission matrix (each role × each protected admin action) and cross-tenant access."""

import pytest

from app.auth.permissions import ROLE_PERMISSIONS, Perm, Role
from tests.conftest import api_login

# (method, path builder, body, permission it needs)
ACTIONS = [
    ("GET", lambda t, u: "/api/audit", None, Perm.AUDIT_READ),
    (
        "POST",
        lambda t, u: "/api/users",
        {"email": "novo@x.com.br", "name": "Novo", "role": "agent", "password": "Senha-123"},
        Perm.USERS_MANAGE,
    ),
    ("PATCH", lambda t, u: f"/api/users/{u}", {"team": "Sul"}, Perm.USERS_MANAGE),
    (
        "POST",
        lambda t, u: "/api/api-clients",
        {"name": "ERP", "scopes": ["customers:read"]},
        Perm.API_CLIENTS_MANAGE,
    ),
    ("GET", lambda t, u: "/api/platform/tenants", None, Perm.PLATFORM_MANAGE),
    ("POST", lambda t, u: f"/api/platform/tenants/{t}/suspend", None, Perm.PLATFORM_MANAGE),
]


@pytest.mark.parametrize("role", ["admin", "manager", "agent"])
def test_permission_matrix(client, tenant, role) -> None:
    headers = api_login(client, tenant, tenant.actor(role).email)
    victim = tenant.actor("agent")
    for method, path, body, perm in ACTIONS:
        r = client.request(method, path(tenant.slug, victim.user_id), json=body, headers=headers)
        allowed = perm in ROLE_PERMISSIONS[Role(role)]
        assert (r.status_code < 400) == allowed, (
            role,
            method,
            path(tenant.slug, victim.user_id),
            r.status_code,
        )
        if not allowed:
            assert r.status_code == 403
            assert r.json()["detail"] == "Você não tem permissão para esta ação."


def test_matrix_covers_every_permission_for_every_role() -> None:
    # Tenant roles nest inside the admin's set; a superadmin holds no tenant-data permission.
    for role in (Role.AGENT, Role.MANAGER):
        assert ROLE_PERMISSIONS[role] <= ROLE_PERMISSIONS[Role.ADMIN]
    assert Perm.CUSTOMERS_READ not in ROLE_PERMISSIONS[Role.SUPERADMIN]


def test_cross_tenant_user_ids_are_404(client, make_tenant) -> None:
    a, b = make_tenant(), make_tenant()
    b_agent = b.actor("agent")
    headers_a = api_login(client, a)
    r = client.patch(f"/api/users/{b_agent.user_id}", json={"name": "Hacked"}, headers=headers_a)
    assert r.status_code == 404
    users_a = client.get("/api/users", headers=headers_a).json()
    assert all(u["email"].endswith(f"@{a.slug}.com.br") for u in users_a)
    audit_a = client.get("/api/audit", headers=headers_a).json()
    assert all(b.slug not in str(row) for row in audit_a)


def test_tenant_tokens_cannot_reach_platform_and_vice_versa(client, tenant) -> None:
    from tenants.database import platform_session

    with platform_session() as db:
        from app.auth.superadmins import create_superadmin

        create_superadmin(db, f"root-{tenant.slug}@crm.local", "Senha-forte-1")
        db.commit()
    su = client.post(
        "/api/auth/login", json={"email": f"root-{tenant.slug}@crm.local", "password": "Senha-forte-1"}
    )
    assert su.status_code == 200
    su_headers = {"Authorization": f"Bearer {su.json()['access_token']}"}
    listed = client.get("/api/platform/tenants", headers=su_headers)
    assert listed.status_code == 200
    assert any(t["slug"] == tenant.slug and t["users"] >= 1 for t in listed.json())
    # A superadmin has no tenant: tenant endpoints refuse instead of guessing one.
    assert client.get("/api/users", headers=su_headers).status_code == 403
    # Tenant admin logging in without a tenant is not a superadmin.
    r = client.post("/api/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
    assert r.status_code == 401
