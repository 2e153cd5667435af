"""/api/platform: superadmin tenant management, /api/signup: self-service sign-up."""

from dataclasses import asdict

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from app.api.deps import CurrentActor, PlatformDB, client_ip
from app.audit import queries as audit_queries
from app.auth.permissions import Perm
from app.validation import Id, Secret, Str60, Str120, Str200, Str320
from models.platform import PlatformAudit
from tenants import admin
from tenants.provisioning import SignupInput, provision_tenant

router = APIRouter(prefix="/api", tags=["platform"])


class SignupBody(BaseModel):
    name: Str200
    slug: Str60
    admin_name: Str120
    admin_email: Str320
    admin_password: Secret


class TenantCreated(BaseModel):
    id: int
    slug: str
    schema_name: str | None = Field(alias="schema")


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str
    status: str
    plan: str
    schema_name: str | None = Field(alias="schema")
    users: int
    customers: int
    interactions: int


class StatusOut(BaseModel):
    status: str


@router.post("/signup", response_model=TenantCreated, status_code=201)
def signup(body: SignupBody, request: Request) -> dict[str, object]:
    tenant = provision_tenant(SignupInput(**body.model_dump()), ip=client_ip(request))
    return {"id": tenant.id, "slug": tenant.slug, "schema": tenant.schema_name}


@router.get("/platform/tenants", response_model=list[TenantOut])
def list_tenants(actor: CurrentActor, db: PlatformDB) -> list[dict[str, object]]:
    return [asdict(t) for t in admin.list_tenants(db, actor)]


@router.post("/platform/tenants", response_model=TenantCreated, status_code=201)
def create_tenant(body: SignupBody, actor: CurrentActor, request: Request) -> dict[str, object]:
    actor.require(Perm.PLATFORM_MANAGE)
    tenant = provision_tenant(SignupInput(**body.model_dump()), actor=actor, ip=client_ip(request))
    return {"id": tenant.id, "slug": tenant.slug, "schema": tenant.schema_name}


@router.post("/platform/tenants/{slug}/suspend", response_model=StatusOut)
def suspend(slug: Str60, actor: CurrentActor, db: PlatformDB) -> dict[str, str]:
    return {"status": admin.set_status(db, actor, slug, "suspended").status}


@router.post("/platform/tenants/{slug}/reactivate", response_model=StatusOut)
def reactivate(slug: Str60, actor: CurrentActor, db: PlatformDB) -> dict[str, str]:
    return {"status": admin.set_status(db, actor, slug, "active").status}


@router.get("/platform/audit", response_model=list[PlatformAudit])
def platform_audit(
    actor: CurrentActor, db: PlatformDB, action: Str60 | None = None, before_id: Id | None = None
) -> list[dict[str, object]]:
    rows = audit_queries.platform_log(
        db, actor, audit_queries.AuditFilter(action=action), before_id=before_id
    )
    return [r.model_dump(mode="json") for r in rows]
