"""/api/platform: superadmin tenant management, /api/signup: self-service sign-up."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from app.api.deps import CurrentActor, PlatformDB, client_ip
from app.audit import queries as audit_queries
from app.platform import admin
from app.platform import signup as signup_service
from app.platform.provisioning import SignupInput, provision_tenant
from app.validation import Id, Secret, Str60, Str120, Str200, Str320, Str1000
from models.platform import PlatformAudit

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
    status: str
    confirmation_sent: bool


class ConfirmBody(BaseModel):
    token: Annotated[Str1000, Field(min_length=1)]


class ConfirmedOut(BaseModel):
    slug: str
    status: str


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


class PurgedOut(BaseModel):
    purged: list[str]


@router.post("/signup", response_model=TenantCreated, status_code=201)
def signup(body: SignupBody, request: Request) -> dict[str, object]:
    """Public sign-up, limited per client IP. With platform SMTP configured the organisation stays
    `unconfirmed` (no login) until its admin opens the e-mailed link; without it, it is active at once."""
    result = signup_service.self_signup(SignupInput(**body.model_dump()), ip=client_ip(request))
    tenant = result.tenant
    return {
        "id": tenant.id,
        "slug": tenant.slug,
        "schema": tenant.schema_name,
        "status": tenant.status,
        "confirmation_sent": result.confirmation_sent,
    }


@router.post("/signup/confirm", response_model=ConfirmedOut)
def confirm_signup(body: ConfirmBody, request: Request, db: PlatformDB) -> dict[str, object]:
    """Confirms a sign-up with the token of the e-mailed link (valid once, until it expires)."""
    tenant = signup_service.confirm(db, body.token, ip=client_ip(request))
    return {"slug": tenant.slug, "status": tenant.status}


@router.get("/platform/tenants", response_model=list[TenantOut])
def list_tenants(actor: CurrentActor, db: PlatformDB) -> list[dict[str, object]]:
    return [asdict(t) for t in admin.list_tenants(db, actor)]


@router.post("/platform/tenants", response_model=TenantCreated, status_code=201)
def create_tenant(body: SignupBody, actor: CurrentActor, request: Request) -> dict[str, object]:
    tenant = provision_tenant(SignupInput(**body.model_dump()), actor=actor, ip=client_ip(request))
    return {"id": tenant.id, "slug": tenant.slug, "schema": tenant.schema_name}


@router.post("/platform/tenants/{slug}/suspend", response_model=StatusOut)
def suspend(slug: Str60, actor: CurrentActor, db: PlatformDB) -> dict[str, str]:
    return {"status": admin.set_status(db, actor, slug, "suspended").status}


@router.post("/platform/tenants/{slug}/reactivate", response_model=StatusOut)
def reactivate(slug: Str60, actor: CurrentActor, db: PlatformDB) -> dict[str, str]:
    return {"status": admin.set_status(db, actor, slug, "active").status}


@router.post("/platform/tenants/purge-unconfirmed", response_model=PurgedOut)
def purge_unconfirmed(
    actor: CurrentActor, db: PlatformDB, older_than_days: int | None = Query(default=None, ge=0, le=3650)
) -> PurgedOut:
    """Removes unconfirmed sign-ups older than `older_than_days` (default SIGNUP_CONFIRM_DAYS)."""
    return PurgedOut(purged=admin.purge_unconfirmed(db, actor, older_than_days))


@router.get("/platform/audit", response_model=list[PlatformAudit])
def platform_audit(
    actor: CurrentActor, db: PlatformDB, action: Str60 | None = None, before_id: Id | None = None
) -> list[dict[str, object]]:
    rows = audit_queries.platform_log(
        db, actor, audit_queries.AuditFilter(action=action), before_id=before_id
    )
    return [r.model_dump(mode="json") for r in rows]
