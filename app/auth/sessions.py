"""Login, refresh-token rotation, logout and resolving a token to an Actor.

Used by the REST API and by the Reflex UI alike: a UI login is a refresh-token family too,
so logging out (or a suspension) stops both the API tokens and the open browser tabs.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, text, update
from sqlmodel import Session, col, select

from app.audit.log import record_platform
from app.auth import throttle
from app.auth.actor import Actor
from app.auth.clients import actor_for_client
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
    assert user.id is not None  # a stored user
    db.add(
        RefreshToken(
            user_id=user.id,
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
        user = db.exec(select(User).where(col(User.tenant_id).is_(None), User.email == email)).first()
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
        db,
        None,
        "auth.login",
        "user",
        user.id,
        tenant_id=user.tenant_id,
        ip=ip,
        after={"email": email},
        actor_id=user.id,
        actor_email=user.email,
    )
    return pair


def login_verified(db: Session, user: User, ip: str | None, via: str) -> TokenPair:
    """Start a refresh-token family for a user whose identity another proof established instead of the
    password (`via`, e.g. the one-shot sign-up confirmation link sent to their e-mail).

    Same refusals as a password login for the account's state (inactive user, organisation not active),
    and the same `auth.login` audit row, naming the proof."""
    _require_active(db, user)
    user.last_login_at = _now()
    db.add(user)
    pair = _issue(db, user, new_opaque_token()[:32], ip)
    record_platform(
        db,
        None,
        "auth.login",
        "user",
        user.id,
        tenant_id=user.tenant_id,
        ip=ip,
        after={"email": user.email, "via": via},
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
    db.exec(
        update(RefreshToken)
        .where(col(RefreshToken.family) == family, col(RefreshToken.revoked_at).is_(None))
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
    started, live = db.exec(
        select(
            func.min(RefreshToken.created_at),
            func.count().filter(col(RefreshToken.revoked_at).is_(None)),
        ).where(RefreshToken.family == family)
    ).one()
    return _session_live(started, live)


def _session_live(started: datetime | None, live: int | None) -> bool:
    """The one rule for a login session, whichever query read its family (see `family_active`)."""
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


# User, tenant, a manager's team and the login session (refresh family) in one indexed round trip:
# this runs on every request. The session columns feed `_session_live`, the rule `family_active` uses.
_ACTOR_ROW = text(
    """
    SELECT u.id, u.email, u.name, u.role, u.team, u.status, u.tenant_id, u.time_zone,
           t.status AS tenant_status, t.schema_name, t.slug, t.time_zone AS tenant_time_zone,
           CASE WHEN u.role = :manager AND u.team IS NOT NULL AND u.tenant_id IS NOT NULL THEN
               ARRAY(SELECT m.id FROM platform.users m WHERE m.tenant_id = u.tenant_id AND m.team = u.team)
           END AS team_ids,
           s.started AS session_started, s.live AS session_live
    FROM platform.users u
    LEFT JOIN platform.tenants t ON t.id = u.tenant_id
    LEFT JOIN LATERAL (
        SELECT min(r.created_at) AS started, count(*) FILTER (WHERE r.revoked_at IS NULL) AS live
        FROM platform.refresh_tokens r
        WHERE r.family = CAST(:family AS varchar) AND r.user_id = u.id
    ) s ON true
    WHERE u.id = :user_id
    """
)


def actor_for_user(db: Session, user_id: int, ip: str | None = None, family: str | None = None) -> Actor:
    """Load a live Actor for a user, refusing inactive users, suspended tenants and revoked sessions.

    Nothing about the user is cached between calls: every call reads the current rows, so a revocation,
    deactivation or suspension committed by any process refuses the very next request."""
    row = (
        db.connection()
        .execute(_ACTOR_ROW, {"user_id": user_id, "manager": Role.MANAGER, "family": family})
        .first()
    )
    if row is None or row.status != "active":
        raise Unauthorized("Usuário desativado ou inexistente.")
    if row.tenant_id is not None and row.tenant_status != "active":
        raise Forbidden(SUSPENDED)
    if family is not None and not _session_live(row.session_started, row.session_live):
        raise Unauthorized("Sessão encerrada. Entre novamente.")
    visible: frozenset[int] | None
    if row.role == Role.ADMIN or row.tenant_id is None:
        visible = None
    elif row.team_ids is not None:
        visible = frozenset(row.team_ids) | {row.id}
    else:
        visible = frozenset({row.id})
    return Actor(
        user_id=row.id,
        email=row.email,
        role=row.role,
        tenant_id=row.tenant_id,
        schema=row.schema_name,
        tenant_slug=row.slug,
        name=row.name,
        team=row.team,
        ip=ip,
        visible_owner_ids=visible,
        time_zone=effective_zone(row.tenant_time_zone, row.time_zone),
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
        return actor_for_client(db, claims, ip)
    # A user token is only good while its login session (refresh family) is: one without a
    # family would skip the revocation check, so it is refused even when validly signed.
    if claims.kind != "user" or claims.user_id is None or not claims.family:
        raise Unauthorized("Sessão inválida.")
    return actor_for_user(db, claims.user_id, ip, claims.family)
