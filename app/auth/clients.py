"""OAuth2 client-credentials for integrations: API clients belong to a tenant and carry scopes."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm, Role, scope_permissions
from app.auth.tokens import AccessClaims, issue_access_token, token_hash
from app.errors import Forbidden, Invalid, NotFound, Unauthorized
from app.formatting import effective_zone
from models.platform import ApiClient, Tenant

# The role a client acts with (its ceiling); what it may actually do is that role narrowed by its
# scopes' permissions (permissions.SCOPE_PERMISSIONS), so a "read" client cannot write.
SCOPES = {"customers:read": Role.AGENT, "customers:write": Role.AGENT, "imports:write": Role.MANAGER}


@dataclass(frozen=True)
class NewClient:
    client: ApiClient
    secret: str  # shown once, never stored in clear


def create_client(db: Session, actor: Actor, name: str, scopes: list[str]) -> NewClient:
    actor.require(Perm.API_CLIENTS_MANAGE)
    name = name.strip()
    if not name:
        raise Invalid("name", "Informe um nome para a integração.")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise Invalid("scopes", f"Escopos inválidos: {', '.join(unknown) or 'nenhum informado'}.")
    role = Role.MANAGER if any(SCOPES[s] == Role.MANAGER for s in scopes) else Role.AGENT
    secret = secrets.token_urlsafe(32)
    assert actor.tenant_id is not None  # API_CLIENTS is a tenant permission: superadmins lack it
    client = ApiClient(
        tenant_id=actor.tenant_id,
        client_id="cli_" + secrets.token_hex(12),
        secret_hash=token_hash(secret),
        name=name,
        scopes=sorted(set(scopes)),
        role=role,
        created_by=actor.user_id,
    )
    db.add(client)
    db.flush()
    record(db, actor, "api_client.create", "api_client", client.client_id, after=client)
    return NewClient(client, secret)


def list_clients(db: Session, actor: Actor) -> list[ApiClient]:
    actor.require(Perm.API_CLIENTS_MANAGE)
    return list(
        db.exec(select(ApiClient).where(ApiClient.tenant_id == actor.tenant_id).order_by(col(ApiClient.id)))
    )


def revoke_client(db: Session, actor: Actor, client_id: str) -> None:
    actor.require(Perm.API_CLIENTS_MANAGE)
    client = db.exec(
        select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.tenant_id == actor.tenant_id)
    ).first()
    if client is None:
        raise NotFound()
    client.revoked_at = datetime.now(UTC)
    db.add(client)
    record(db, actor, "api_client.revoke", "api_client", client.client_id)


def issue_client_token(
    db: Session, client_id: str, client_secret: str, scope: str | None
) -> dict[str, object]:
    client = db.exec(select(ApiClient).where(ApiClient.client_id == client_id)).first()
    if (
        client is None
        or client.revoked_at is not None
        or not secrets.compare_digest(client.secret_hash, token_hash(client_secret))
    ):
        raise Unauthorized("Credenciais de integração inválidas.")
    tenant = db.get(Tenant, client.tenant_id)
    if tenant is None or tenant.status != "active":
        raise Forbidden("Esta organização está suspensa.")
    wanted = scope.split() if scope else list(client.scopes)
    if not set(wanted) <= set(client.scopes):
        raise Forbidden("Escopo não permitido para esta integração.")
    token, ttl = issue_access_token(
        user_id=None, tenant_id=client.tenant_id, role=client.role, client_id=client.client_id, scopes=wanted
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl, "scope": " ".join(wanted)}


def actor_for_client(db: Session, claims: AccessClaims, ip: str | None) -> Actor:
    client = db.exec(select(ApiClient).where(ApiClient.client_id == claims.client_id)).first()
    if client is None or client.revoked_at is not None:
        raise Unauthorized("Integração revogada.")
    tenant = db.get(Tenant, client.tenant_id)
    if tenant is None or tenant.status != "active":
        raise Forbidden("Esta organização está suspensa.")
    # The token carries the scopes it was issued with (a subset the client asked for); the client's
    # current scopes bound them again, so narrowing a client takes effect on tokens already issued.
    scopes = set(claims.scopes) & set(client.scopes)
    return Actor(
        user_id=None,
        email=f"api:{client.client_id}",
        role=client.role,
        tenant_id=tenant.id,
        schema=tenant.schema_name,
        tenant_slug=tenant.slug,
        name=client.name,
        ip=ip,
        scope_perms=scope_permissions(scopes),
        time_zone=effective_zone(tenant.time_zone, None),
    )
