"""/api/platform: superadmin tenant management, /api/signup: self-service sign-up."""

from dataclasses import asdict

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from app.api.deps import CurrentActor, PlatformDB, client_ip
from app.audit import queries as audit_queries
from app.auth.permissions import Perm
from tenants import admin
from tenants import signup as signup_service
from tenants.provisioning import SignupInput, provision_tenant

router = APIRouter(prefix="/api", tags=["platform"])


class SignupBody(BaseModel):
    name: str
    slug: str
    admin_name: str
    admin_email: str
    admin_password: str


class ConfirmBody(BaseModel):
    token: str = Field(min_length=1, max_length=1000)


@router.post("/signup", status_code=201)
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


@router.post("/signup/confirm")
def confirm_signup(body: ConfirmBody, request: Request, db: PlatformDB) -> dict[str, object]:
    """Confirms a sign-up with the token of the e-mailed link (valid once, until it expires)."""
    tenant = signup_service.confirm(db, body.token, ip=client_ip(request))
    return {"slug": tenant.slug, "status": tenant.status}


@router.get("/platform/tenants")
def list_tenants(actor: CurrentActor, db: PlatformDB) -> list[dict[str, object]]:
    return [asdict(t) for t in admin.list_tenants(db, actor)]


@router.post("/platform/tenants", status_code=201)
def create_tenant(body: SignupBody, actor: CurrentActor, request: Request) -> dict[str, object]:
    actor.require(Perm.PLATFORM_MANAGE)
    tenant = provision_tenant(SignupInput(**body.model_dump()), actor=actor, ip=client_ip(request))
    return {"id": tenant.id, "slug": tenant.slug, "schema": tenant.schema_name}


@router.post("/platform/tenants/{slug}/suspend")
def suspend(slug: str, actor: CurrentActor, db: PlatformDB) -> dict[str, str]:
    return {"status": admin.set_status(db, actor, slug, "suspended").status}


@router.post("/platform/tenants/{slug}/reactivate")
def reactivate(slug: str, actor: CurrentActor, db: PlatformDB) -> dict[str, str]:
    return {"status": admin.set_status(db, actor, slug, "active").status}


@router.post("/platform/tenants/purge-unconfirmed")
def purge_unconfirmed(
    actor: CurrentActor, db: PlatformDB, older_than_days: int | None = Query(default=None, ge=0, le=3650)
) -> dict[str, list[str]]:
    """Removes unconfirmed sign-ups older than `older_than_days` (default SIGNUP_CONFIRM_DAYS)."""
    return {"purged": admin.purge_unconfirmed(db, actor, older_than_days)}


@router.get("/platform/audit")
def platform_audit(
    actor: CurrentActor, db: PlatformDB, action: str | None = None, before_id: int | None = None
) -> list[dict[str, object]]:
    rows = audit_queries.platform_log(
        db, actor, audit_queries.AuditFilter(action=action), before_id=before_id
    )
    return [r.model_dump(mode="json") for r in rows]
