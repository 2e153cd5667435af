"""Tables of the shared `platform` schema: tenants, users, tokens, API clients, audit."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, text
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, text_array, timestamp, updated_at

PLATFORM = "platform"


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    __table_args__ = {"schema": PLATFORM}

    id: int | None = pk()
    slug: str = Field(sa_column=Column(String(63), nullable=False, unique=True))
    name: str = Field(max_length=200)
    # provisioning -> [unconfirmed ->] active <-> suspended; a tenant is only usable when active. A public
    # sign-up stays unconfirmed until its admin opens the e-mailed link (app/platform/signup.py).
    status: str = Field(default="provisioning", max_length=20)
    plan: str = Field(default="standard", max_length=40)
    schema_name: str | None = Field(default=None, max_length=63, unique=True)
    # Per-tenant overrides of platform limits, e.g. {"storage_bytes": 107374182400}.
    limits: dict[str, Any] = jsonb()
    # When the admin's e-mail was confirmed (or the tenant was created by an operator).
    confirmed_at: datetime | None = timestamp()
    # IANA zone every date is shown in (p0005); users may override it.
    time_zone: str = Field(
        default="America/Sao_Paulo",
        sa_column=Column(String(64), nullable=False, server_default="America/Sao_Paulo"),
    )
    # When an admin hid the first-steps checklist on Início (app/crm/first_steps.py); NULL = shown.
    first_steps_dismissed_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        # One e-mail per tenant, and one per platform for superadmins (tenant_id NULL).
        Index(
            "uq_users_tenant_email",
            "tenant_id",
            "email",
            unique=True,
            postgresql_where=text("tenant_id IS NOT NULL"),
        ),
        Index("uq_users_superadmin_email", "email", unique=True, postgresql_where=text("tenant_id IS NULL")),
        {"schema": PLATFORM},
    )

    id: int | None = pk()
    tenant_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"), index=True),
    )
    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    password_hash: str
    role: str = Field(max_length=20)  # superadmin | admin | manager | agent
    team: str | None = Field(default=None, max_length=80)
    status: str = Field(default="active", max_length=20)  # active | inactive
    # The user's own zone; None = the organisation's (p0005, app/formatting.effective_zone).
    time_zone: str | None = Field(default=None, max_length=64)
    last_login_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class RefreshToken(SQLModel, table=True):
    """One row per issued refresh token; a login starts a family, each refresh rotates it."""

    __tablename__ = "refresh_tokens"
    __table_args__ = {"schema": PLATFORM}

    id: int | None = pk()
    user_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("platform.users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    family: str = Field(max_length=64, index=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    expires_at: datetime = timestamp(nullable=False)
    rotated_at: datetime | None = timestamp()
    revoked_at: datetime | None = timestamp()
    ip: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at()


class UiSession(SQLModel, table=True):
    """A web UI login: binds the tab's Reflex client token to a secret held in an HttpOnly cookie.

    The refresh family gives the absolute lifetime and revocation; this row adds the browser
    binding, the idle clock and the role the session was opened with.
    """

    __tablename__ = "ui_sessions"
    __table_args__ = {"schema": PLATFORM}

    id: int | None = pk()
    # Public id: names the session's cookie (crm_ui_<key>).
    key: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    family: str = Field(max_length=64, index=True)
    user_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("platform.users.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    role: str = Field(max_length=20)
    client_token_hash: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    binding_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    bound_at: datetime | None = timestamp()
    last_seen_at: datetime = created_at()
    ended_at: datetime | None = timestamp()
    created_at: datetime = created_at()


class ApiClient(SQLModel, table=True):
    """OAuth2 client-credentials integration of a tenant; the secret is stored hashed."""

    __tablename__ = "api_clients"
    __table_args__ = {"schema": PLATFORM}

    id: int | None = pk()
    tenant_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    client_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    secret_hash: str
    name: str = Field(max_length=200)
    scopes: list[str] = text_array()
    role: str = Field(default="agent", max_length=20)
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    revoked_at: datetime | None = timestamp()
    created_at: datetime = created_at()


class LoginFailure(SQLModel, table=True):
    """Failed login attempts, counted per account and per IP for brute-force throttling."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account", "account", "at"),
        Index("ix_login_failures_ip", "ip", "at"),
        {"schema": PLATFORM},
    )

    id: int | None = pk()
    account: str = Field(max_length=400)
    ip: str = Field(max_length=64)
    at: datetime = created_at()


class PlatformAudit(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_platform_audit_at", "at"), {"schema": PLATFORM})

    id: int | None = pk()
    at: datetime = created_at()
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    actor_email: str | None = Field(default=None, max_length=320)
    tenant_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    action: str = Field(max_length=80, index=True)
    entity: str = Field(max_length=80)
    entity_id: str | None = Field(default=None, max_length=80)
    before: dict[str, Any] = jsonb()
    after: dict[str, Any] = jsonb()
    ip: str | None = Field(default=None, max_length=64)


__all__ = [
    "PLATFORM",
    "ApiClient",
    "LoginFailure",
    "PlatformAudit",
    "RefreshToken",
    "Tenant",
    "UiSession",
    "User",
]


class ChannelRoute(SQLModel, table=True):
    """Where a provider's shared webhook URL lands: one Meta app posts every number's events to
    /api/webhooks/whatsapp-cloud, so the phone_number_id (external_id) names the tenant and channel.
    `verify_token_hash` (sha256) answers Meta's subscription challenge without decrypting every channel."""

    __tablename__ = "channel_routes"
    __table_args__ = (
        Index("ix_channel_routes_verify", "verify_token_hash"),
        Index("ix_channel_routes_tenant", "tenant_id", "channel_id"),
        Index("ix_channel_routes_waba", "provider", "waba_id", postgresql_where=text("waba_id IS NOT NULL")),
        {"schema": PLATFORM},
    )

    provider: str = Field(sa_column=Column(String(20), primary_key=True))
    external_id: str = Field(sa_column=Column(String(200), primary_key=True))
    tenant_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("platform.tenants.id", ondelete="CASCADE"), nullable=False)
    )
    channel_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    verify_token_hash: str | None = Field(default=None, max_length=64)
    # The number's WhatsApp Business Account: quality and account webhooks name only the WABA (p0008).
    waba_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = created_at()
