"""Tenant provisioning: row + schema + tenant migrations + defaults + first admin, in one transaction.

PostgreSQL DDL is transactional, so a failure anywhere rolls back the tenant row, the schema and
the admin together: there is never a half-made tenant that can log in, and the same sign-up can
simply be retried.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from app.audit.log import record, record_platform
from app.auth.actor import Actor, system_actor
from app.auth.passwords import check_strength, hash_password
from app.auth.permissions import Perm, Role
from app.auth.users import validate_email
from app.errors import Conflict, Invalid
from models.platform import Tenant, User
from models.tenant import Pipeline, Stage
from tenants.database import engine
from tenants.migrations import upgrade_tenant_on
from tenants.naming import schema_for, slug_error

log = logging.getLogger(__name__)

DEFAULT_STAGES = [
    ("Lead", None),
    ("Contato realizado", None),
    ("Proposta enviada", None),
    ("Negociação", None),
    ("Fechado – ganho", "won"),
    ("Fechado – perdido", "lost"),
]


@dataclass
class SignupInput:
    name: str
    slug: str
    admin_name: str
    admin_email: str
    admin_password: str
    plan: str = "standard"


def validate_signup(data: SignupInput) -> SignupInput:
    errors: dict[str, str] = {}
    slug = data.slug.strip().lower()
    name = data.name.strip()
    if not name:
        errors["name"] = "Informe o nome da organização."
    if reason := slug_error(slug):
        errors["slug"] = reason
    if not data.admin_name.strip():
        errors["admin_name"] = "Informe o nome do administrador."
    try:
        email = validate_email(data.admin_email, "admin_email")
    except Invalid as exc:
        errors.update(exc.fields)
        email = data.admin_email
    try:
        check_strength(data.admin_password, "admin_password")
    except Invalid as exc:
        errors.update(exc.fields)
    if errors:
        raise Invalid(errors)
    return SignupInput(name, slug, data.admin_name.strip(), email, data.admin_password, data.plan)


def now_utc() -> datetime:
    return datetime.now(UTC)


def seed_defaults(db: Session) -> None:
    """What a new workspace starts with: the default sales pipeline."""
    pipeline = Pipeline(name="Vendas", is_default=True)
    db.add(pipeline)
    db.flush()
    assert pipeline.id is not None  # flushed
    for position, (name, outcome) in enumerate(DEFAULT_STAGES):
        db.add(Stage(pipeline_id=pipeline.id, name=name, position=position, outcome=outcome))


def provision_tenant(
    data: SignupInput,
    actor: Actor | None = None,
    ip: str | None = None,
    *,
    status: str = "active",
    guard: Callable[[Session], None] | None = None,
    on_created: Callable[[Session, Tenant, User], None] | None = None,
) -> Tenant:
    """Create a tenant and its first admin; commits its own transaction (it is a whole unit of work).

    `status` is where the tenant ends ("unconfirmed" for a public sign-up awaiting its e-mail link);
    `guard` runs first in the transaction (the sign-up rate limit), `on_created` last, before the
    commit (sending the confirmation link): either raising rolls the whole tenant back.

    With an `actor` (a person creating an organisation) it must hold PLATFORM_MANAGE; without one it is
    the public sign-up (`app.platform.signup`) or the CLI, run by whoever holds the server.
    """
    if actor is not None:
        actor.require(Perm.PLATFORM_MANAGE)
    data = validate_signup(data)
    with engine().connect() as conn, conn.begin():
        platform_db = Session(bind=conn, expire_on_commit=False)
        if guard is not None:
            guard(platform_db)
        if platform_db.exec(select(Tenant.id).where(Tenant.slug == data.slug)).first():
            raise Conflict("Este identificador já está em uso. Escolha outro.", field="slug")
        tenant = Tenant(slug=data.slug, name=data.name, plan=data.plan, status="provisioning")
        platform_db.add(tenant)
        platform_db.flush()
        assert tenant.id is not None
        tenant.schema_name = schema_for(tenant.id)
        platform_db.flush()
        upgrade_tenant_on(conn, tenant.schema_name)
        admin = User(
            tenant_id=tenant.id,
            email=data.admin_email,
            name=data.admin_name,
            role=Role.ADMIN,
            password_hash=hash_password(data.admin_password),
        )
        platform_db.add(admin)
        tenant.status = status
        tenant.confirmed_at = now_utc() if status == "active" else None
        platform_db.flush()
        record_platform(
            platform_db, actor, "tenant.create", "tenant", tenant.id, after=tenant, tenant_id=tenant.id, ip=ip
        )
        platform_db.flush()
        tenant_db = Session(
            bind=conn.execution_options(schema_translate_map={None: tenant.schema_name}),
            expire_on_commit=False,
        )
        seed_defaults(tenant_db)
        record(
            tenant_db,
            actor or system_actor(tenant.id, tenant.schema_name),
            "tenant.provision",
            "tenant",
            tenant.id,
            after={"slug": tenant.slug, "admin": admin.email},
        )
        tenant_db.flush()
        if on_created is not None:
            on_created(platform_db, tenant, admin)
        platform_db.expunge(tenant)
    log.info("provisioned tenant %s (%s)", tenant.slug, tenant.schema_name)
    return tenant
