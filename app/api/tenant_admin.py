"""/api/users, /api/api-clients, /api/audit, /api/configuracoes: tenant administration."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictBool

from app.api.deps import TenantActor, TenantDB
from app.audit import queries as audit_queries
from app.auth import clients, time_zones, users
from app.crm.visibility import assignable_users
from app.errors import Forbidden
from app.validation import Id, Secret, Str20, Str60, Str120, Str320
from models.platform import User

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
    # IANA zone the user reads dates in; "" = the organisation's.
    time_zone: Str60 | None = None


def _user_out(u: User) -> UserOut:
    return UserOut(id=u.id or 0, email=u.email, name=u.name, role=u.role, team=u.team, status=u.status)


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
    return [AssignableUserOut(id=u.id or 0, name=u.name or u.email) for u in assignable_users(db, actor)]


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
    if body.time_zone is not None:
        user = time_zones.set_user_zone(db, actor, user_id, body.time_zone)
    return _user_out(user)


class TimeZonesOut(BaseModel):
    time_zone: str  # the organisation's
    user_time_zone: str | None  # the caller's own, None = the organisation's
    effective_time_zone: str  # where the caller's dates are shown


class OrganisationZoneIn(BaseModel):
    time_zone: Str60


class UserZoneIn(BaseModel):
    time_zone: Str60 | None = None


def _zones_out(db: TenantDB, actor: TenantActor) -> TimeZonesOut:
    z = time_zones.get_time_zones(db, actor)
    return TimeZonesOut(time_zone=z.organisation, user_time_zone=z.user, effective_time_zone=z.effective)


@router.get("/configuracoes/fuso-horario", response_model=TimeZonesOut)
def get_time_zone(actor: TenantActor, db: TenantDB) -> TimeZonesOut:
    """The organisation's time zone and the caller's own override."""
    return _zones_out(db, actor)


@router.put("/configuracoes/fuso-horario", response_model=TimeZonesOut)
def set_time_zone(body: OrganisationZoneIn, actor: TenantActor, db: TenantDB) -> TimeZonesOut:
    """Change the organisation's time zone (admins)."""
    time_zones.set_organisation_zone(db, actor, body.time_zone)
    db.flush()
    return _zones_out(db, actor)


@router.put("/configuracoes/fuso-horario/meu", response_model=TimeZonesOut)
def set_my_time_zone(body: UserZoneIn, actor: TenantActor, db: TenantDB) -> TimeZonesOut:
    """The caller's own time zone; null or "" follows the organisation's."""
    if actor.user_id is None:
        raise Forbidden("Integrações não têm fuso horário próprio.")
    time_zones.set_user_zone(db, actor, actor.user_id, body.time_zone)
    db.flush()
    return _zones_out(db, actor)


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


@router.delete("/api-clients/{client_id}", status_code=204, response_model=None)
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
