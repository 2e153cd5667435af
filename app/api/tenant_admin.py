"""/api/users, /api/api-clients, /api/audit: tenant administration."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictBool

from app.api.deps import TenantActor, TenantDB
from app.audit import queries as audit_queries
from app.auth import clients, users
from app.auth.permissions import Perm
from app.crm.visibility import assignable_users
from app.validation import Id, Secret, Str20, Str60, Str120, Str320

router = APIRouter(prefix="/api", tags=["admin"])


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    team: str | None
    status: str


class UserCreate(BaseModel):
    email: Str320
    name: Str120
    role: Str20
    password: Secret
    team: Str120 | None = None


class UserPatch(BaseModel):
    name: Str120 | None = None
    role: Str20 | None = None
    team: Str120 | None = None
    active: StrictBool | None = None
    password: Secret | None = None


def _user_out(u) -> UserOut:  # type: ignore[no-untyped-def]
    return UserOut(id=u.id, email=u.email, name=u.name, role=u.role, team=u.team, status=u.status)


class AssignableUserOut(BaseModel):
    id: int
    name: str


@router.get("/users", response_model=list[UserOut])
def list_users(actor: TenantActor, db: TenantDB) -> list[UserOut]:
    """The user directory (admins and managers)."""
    return [_user_out(u) for u in users.list_users(db, actor)]


@router.get("/users/assignable", response_model=list[AssignableUserOut])
def list_assignable_users(actor: TenantActor, db: TenantDB) -> list[AssignableUserOut]:
    """Who the caller may assign customers, tasks and conversations to: id and name only."""
    actor.require(Perm.CUSTOMERS_READ)
    return [
        AssignableUserOut(id=u.id, name=u.name or u.email)  # type: ignore[arg-type]
        for u in assignable_users(db, actor)
    ]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, actor: TenantActor, db: TenantDB) -> UserOut:
    user = users.create_user(db, actor, users.UserInput(**body.model_dump()))
    return _user_out(user)


@router.patch("/users/{user_id:int}", response_model=UserOut)
def patch_user(user_id: Id, body: UserPatch, actor: TenantActor, db: TenantDB) -> UserOut:
    user = users.update_user(db, actor, user_id, name=body.name, role=body.role, team=body.team)
    if body.active is not None:
        user = users.set_active(db, actor, user_id, body.active)
    if body.password:
        user = users.reset_password(db, actor, user_id, body.password)
    return _user_out(user)


class ClientCreate(BaseModel):
    name: Str120
    scopes: list[Str60] = Field(max_length=20)


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str  # shown once
    scopes: list[str]


class ClientOut(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    revoked: bool


@router.post("/api-clients", response_model=ClientCreated, status_code=201)
def create_client(body: ClientCreate, actor: TenantActor, db: TenantDB) -> dict[str, object]:
    new = clients.create_client(db, actor, body.name, body.scopes)
    return {"client_id": new.client.client_id, "client_secret": new.secret, "scopes": new.client.scopes}


@router.get("/api-clients", response_model=list[ClientOut])
def list_clients(actor: TenantActor, db: TenantDB) -> list[dict[str, object]]:
    return [
        {"client_id": c.client_id, "name": c.name, "scopes": c.scopes, "revoked": c.revoked_at is not None}
        for c in clients.list_clients(db, actor)
    ]


@router.delete("/api-clients/{client_id}", status_code=204)
def revoke_client(client_id: Str120, actor: TenantActor, db: TenantDB) -> None:
    clients.revoke_client(db, actor, client_id)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_email: str | None
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, object]
    after: dict[str, object]
    ip: str | None


@router.get("/audit", response_model=list[AuditOut])
def audit_log(
    actor: TenantActor,
    db: TenantDB,
    action: Str60 | None = None,
    entity: Str60 | None = None,
    actor_email: Str320 | None = None,
    before_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AuditOut]:
    rows = audit_queries.tenant_log(
        db,
        actor,
        audit_queries.AuditFilter(action=action, entity=entity, actor_email=actor_email),
        before_id=before_id,
        limit=limit,
    )
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]
