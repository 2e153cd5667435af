"""Login, refresh-token rotation, logout and resolving a token to an Actor.

Used by the REST API and by the Reflex UI alike: a UI login is a refresh-token family too,
so logging out (or a suspension) stops both the API tokens and the open browser tabs.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, select

from app.audit.log import record_platform
from app.auth import throttle
from app.auth.actor import Actor
from app.auth.passwords import verify_password
from app.auth.permissions import Role
from app.auth.tokens import decode_access_token, issue_access_token, new_opaque_token, token_hash
from app.errors import Forbidden, Unauthorized
from app.formatting import effective_zone
from app.settings import get_settings
from models.platform import RefreshToken, Tenant, User

BAD_CREDENTIALS = "E-mail, senha ou organização incorretos."
SUSPENDED = "Esta organização está suspensa. Fale com o suporte."
UNCONFIRMED = "Confirme o cadastro da organização pelo link enviado ao e-mail do administrador."


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    family: str
    token_type: str = "bearer"

    def as_dict(self) -> dict[str, object]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(db: Session, account: str, ip: str, tenant_id: int | None, reason: str) -> None:
    throttle.record_failure(db, account, ip)
    record_platform(
        db,
        None,
        "auth.login_failed",
        "account",
        account,
        after={"reason": reason},
        tenant_id=tenant_id,
        ip=ip,
    )


def _issue(db: Session, user: User, family: str, ip: str | None) -> TokenPair:
    settings = get_settings()
    refresh = new_opaque_token()
    db.add(
        RefreshToken(
            user_id=user.id,  # type: ignore[arg-type]
            family=family,
            token_hash=token_hash(refresh),
            expires_at=_now() + timedelta(days=settings.refresh_token_days),
            ip=ip,
        )
    )
    access, ttl = issue_access_token(user_id=user.id, tenant_id=user.tenant_id, role=user.role, family=family)
    return TokenPair(access, refresh, ttl, family)


def login(db: Session, tenant_slug: str | None, email: str, password: str, ip: str = "unknown") -> TokenPair:
    """Check credentials (throttled per account and IP, app.auth.throttle) and start a refresh-token family.

    The failure path writes LoginFailure rows, so callers commit on failure too (see api.auth); the
    throttle's locks are held until that commit. `tenant_slug` None logs in a superadmin. Every answer
    that depends on the password is the same for all refusals (wrong password, unknown or inactive
    user), and a suspended organisation is refused before its password is looked at, so no refusal
    confirms a password.
    """
    email = email.strip().lower()
    slug = (tenant_slug or "").strip().lower()
    account = f"{slug}/{email}"
    throttle.lock(db, account, ip)
    tenant = None
    if slug:
        tenant = db.exec(select(Tenant).where(Tenant.slug == slug)).first()
        user = (
            db.exec(select(User).where(User.tenant_id == tenant.id, User.email == email)).first()
            if tenant
            else None
        )
    else:
        user = db.exec(select(User).where(User.tenant_id.is_(None), User.email == email)).first()  # type: ignore[union-attr]
    tenant_id = tenant.id if tenant else None
    throttle.check(db, account, ip, user, tenant_id)
    # Answered before the password is checked, so a right and a wrong password get the same answer.
    if tenant is not None and tenant.status == "unconfirmed":
        _fail(db, account, ip, tenant_id, "tenant_unconfirmed")
        raise Forbidden(UNCONFIRMED)
    if tenant is not None and tenant.status != "active":
        _fail(db, account, ip, tenant_id, "tenant_suspended")
        raise Forbidden(SUSPENDED)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        _fail(db, account, ip, tenant_id, "bad_credentials")
        raise Unauthorized(BAD_CREDENTIALS)
    if user.status != "active":
        _fail(db, account, ip, tenant_id, "user_inactive")
        raise Unauthorized(BAD_CREDENTIALS)
    user.last_login_at = _now()
    db.add(user)
    pair = _issue(db, user, new_opaque_token()[:32], ip)
    record_platform(
        db, None, "auth.login", "user", user.id, tenant_id=user.tenant_id, ip=ip, after={"email": email}
    )
    return pair


def refresh(db: Session, refresh_token: str, ip: str = "unknown") -> TokenPair:
    """Rotate a refresh token; presenting an already-rotated one revokes its whole family.

    The row is locked (FOR UPDATE) before it is checked, so two requests racing with one token
    serialise: the first rotates it, the second then sees it rotated and revokes the family.
    """
    row = db.exec(
        select(RefreshToken)
        .where(RefreshToken.token_hash == token_hash(refresh_token))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise Unauthorized("Sessão inválida. Entre novamente.")
    if row.rotated_at is not None or row.revoked_at is not None:
        if row.rotated_at is not None:
            revoke_family(db, row.family)
            record_platform(db, None, "auth.refresh_reuse", "token_family", row.family, ip=ip)
        raise Unauthorized("Sessão encerrada por segurança. Entre novamente.")
    if row.expires_at < _now():
        raise Unauthorized("Sessão expirada. Entre novamente.")
    user = db.get(User, row.user_id)
    _require_active(db, user)
    assert user is not None
    row.rotated_at = _now()
    db.add(row)
    return _issue(db, user, row.family, ip)


def revoke_family(db: Session, family: str) -> None:
    db.exec(  # type: ignore[call-overload]
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))  # type: ignore[union-attr]
        .values(revoked_at=_now())
    )


def logout(db: Session, actor: Actor, family: str | None) -> None:
    if family:
        revoke_family(db, family)
    record_platform(db, actor, "auth.logout", "user", actor.user_id)


def family_active(db: Session, family: str) -> bool:
    """A session family lives until revoked and at most REFRESH_TOKEN_DAYS from its login.

    The absolute lifetime counts from the family's first token, so rotating refresh tokens (or
    keeping a browser tab busy) never extends it. UI sessions add an idle limit on top (ui_sessions).
    """
    started, live = db.exec(  # type: ignore[call-overload]
        select(
            func.min(RefreshToken.created_at),
            func.count().filter(RefreshToken.revoked_at.is_(None)),  # type: ignore[union-attr]
        ).where(RefreshToken.family == family)
    ).one()
    if started is None or not live:
        return False
    return started > _now() - timedelta(days=get_settings().refresh_token_days)


def _require_active(db: Session, user: User | None) -> Tenant | None:
    if user is None or user.status != "active":
        raise Unauthorized("Usuário desativado ou inexistente.")
    if user.tenant_id is None:
        return None
    tenant = db.get(Tenant, user.tenant_id)
    if tenant is None or tenant.status != "active":
        raise Forbidden(SUSPENDED)
    return tenant


def team_owner_ids(db: Session, user: User) -> frozenset[int] | None:
    """Whose customers a user sees: admins everyone (None), managers their team, agents themselves."""
    if user.role == Role.ADMIN or user.tenant_id is None:
        return None
    if user.role == Role.MANAGER and user.team:
        ids = db.exec(select(User.id).where(User.tenant_id == user.tenant_id, User.team == user.team)).all()
        return frozenset(i for i in ids if i is not None) | {user.id}  # type: ignore[operator]
    return frozenset({user.id}) if user.id is not None else frozenset()


def actor_for_user(db: Session, user_id: int, ip: str | None = None, family: str | None = None) -> Actor:
    """Load a live Actor for a user, refusing inactive users, suspended tenants and revoked sessions."""
    user = db.get(User, user_id)
    tenant = _require_active(db, user)
    assert user is not None
    if family is not None and not family_active(db, family):
        raise Unauthorized("Sessão encerrada. Entre novamente.")
    return Actor(
        user_id=user.id,
        email=user.email,
        role=user.role,
        tenant_id=user.tenant_id,
        schema=tenant.schema_name if tenant else None,
        tenant_slug=tenant.slug if tenant else None,
        name=user.name,
        team=user.team,
        ip=ip,
        visible_owner_ids=team_owner_ids(db, user),
        time_zone=effective_zone(tenant.time_zone if tenant else None, user.time_zone),
    )


def decode_user_id(pair: TokenPair) -> int:
    """The user id inside a freshly issued pair (the UI keeps the id, not the token)."""
    claims = decode_access_token(pair.access_token)
    if claims.user_id is None:
        raise Unauthorized("Sessão inválida.")
    return claims.user_id


def actor_from_token(db: Session, token: str, ip: str | None = None) -> Actor:
    """Resolve a bearer token; status is re-checked on every call so suspension acts at once."""
    claims = decode_access_token(token)
    if claims.kind == "client":
        from app.auth.clients import actor_for_client

        return actor_for_client(db, claims, ip)
    # A user token is only good while its login session (refresh family) is: one without a
    # family would skip the revocation check, so it is refused even when validly signed.
    if claims.kind != "user" or claims.user_id is None or not claims.family:
        raise Unauthorized("Sessão inválida.")
    return actor_for_user(db, claims.user_id, ip, claims.family)
