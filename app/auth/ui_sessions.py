"""Web UI sessions: a login bound to the browser that made it.

Reflex identifies a tab by a client token kept in sessionStorage; on its own that token would be the
whole credential (copied into another browser, it becomes the session). So a UI login also gets a
random secret that only ever travels in an HttpOnly, SameSite=Strict cookie (`crm_ui_<key>`), set
by a one-shot HTTP exchange right after the login. The server keeps its hash beside the tab's
client token: the websocket handshake and every event must present the cookie that matches.

Lifetimes: absolute through the refresh family (`sessions.family_active`), idle through
`last_seen_at` (SESSION_IDLE_MINUTES). A role change ends the session, so new privileges always
come with a new login (and a new secret).
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.cookies import CookieError, SimpleCookie

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.audit.log import record_platform
from app.auth import sessions
from app.auth.actor import Actor
from app.auth.tokens import new_opaque_token, token_hash
from app.errors import DomainError, Unauthorized
from app.settings import get_settings
from models.platform import UiSession

COOKIE_PREFIX = "crm_ui_"
# The login tab exchanges its secret for the cookie at once; an unused secret is worthless after this.
BIND_WINDOW = timedelta(minutes=2)
# last_seen_at is written at most this often per session (events come in bursts).
TOUCH_EVERY = timedelta(seconds=30)

ENDED = "Sua sessão terminou. Entre novamente."
IDLE = "Sua sessão expirou por inatividade. Entre novamente."
NOT_THIS_BROWSER = "Sessão não reconhecida neste navegador. Entre novamente."
ROLE_CHANGED = "Suas permissões mudaram. Entre novamente."


def _now() -> datetime:
    return datetime.now(UTC)


def cookie_name(key: str) -> str:
    return f"{COOKIE_PREFIX}{key}"


def parse_cookies(header: str | None) -> dict[str, str]:
    """The cookies of a Cookie header; a malformed header counts as no cookies."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def open_session(db: Session, actor: Actor, family: str, client_token: str) -> tuple[UiSession, str]:
    """Start the UI session of a fresh login; returns the row and the secret for the cookie.

    Any session this tab held before ends: a login always starts from a new secret.
    """
    token_digest = token_hash(client_token)
    db.exec(
        update(UiSession)
        .where(col(UiSession.client_token_hash) == token_digest, col(UiSession.ended_at).is_(None))
        .values(ended_at=_now())
    )
    secret = new_opaque_token()
    assert actor.user_id is not None  # the actor of a login is a person
    row = UiSession(
        key=new_opaque_token()[:24],
        family=family,
        user_id=actor.user_id,
        role=actor.role,
        client_token_hash=token_digest,
        binding_hash=token_hash(secret),
    )
    db.add(row)
    db.flush()
    return row, secret


def bind(db: Session, secret: str) -> UiSession | None:
    """Exchange a fresh login's secret for its cookie, once; None when unknown, used or stale."""
    row = db.exec(
        select(UiSession)
        .where(
            UiSession.binding_hash == token_hash(secret),
            col(UiSession.bound_at).is_(None),
            col(UiSession.ended_at).is_(None),
            UiSession.created_at > _now() - BIND_WINDOW,
        )
        .with_for_update()
    ).first()
    if row is None:
        return None
    row.bound_at = _now()
    db.add(row)
    return row


def stale_cookies(db: Session, cookies: Mapping[str, str]) -> list[str]:
    """Names of this browser's session cookies whose sessions are over (to delete them)."""
    keys = {name[len(COOKIE_PREFIX) :]: name for name in cookies if name.startswith(COOKIE_PREFIX)}
    if not keys:
        return []
    live = set(
        db.exec(
            select(UiSession.key).where(col(UiSession.key).in_(list(keys)), col(UiSession.ended_at).is_(None))
        ).all()
    )
    return [name for key, name in keys.items() if key not in live]


def handshake_allowed(db: Session, client_token: str, cookies: Mapping[str, str]) -> bool:
    """May this browser open the websocket of this tab token?

    Refused when the token's latest login was bound to a cookie this browser does not hold: a
    copied token must not even receive the tab's state (Reflex sends it all on connect).
    """
    row = db.exec(
        select(UiSession)
        .where(UiSession.client_token_hash == token_hash(client_token))
        .order_by(col(UiSession.id).desc())
        .limit(1)
    ).first()
    if row is None or row.bound_at is None:
        return True
    secret = cookies.get(cookie_name(row.key))
    return secret is not None and token_hash(secret) == row.binding_hash


def end(db: Session, row: UiSession, reason: str, ip: str | None = None) -> None:
    """End a UI session and its refresh family."""
    if row.ended_at is None:
        row.ended_at = _now()
        db.add(row)
    sessions.revoke_family(db, row.family)
    record_platform(db, None, "auth.ui_session_end", "user", row.user_id, after={"reason": reason}, ip=ip)


def end_by_key(db: Session, key: str) -> None:
    """Logout: the session ends (its family is revoked by sessions.logout)."""
    db.exec(
        update(UiSession)
        .where(col(UiSession.key) == key, col(UiSession.ended_at).is_(None))
        .values(ended_at=_now())
    )


def resolve(db: Session, key: str, user_id: int, cookies: Mapping[str, str], ip: str | None = None) -> Actor:
    """The live Actor of a UI event: the right browser, not idle, not expired, same role.

    Ending a session writes (row, family, audit): the caller commits whether this returns or raises.
    """
    row = db.exec(select(UiSession).where(UiSession.key == key).with_for_update()).first()
    if row is None or row.user_id != user_id or row.ended_at is not None:
        raise Unauthorized(ENDED)
    secret = cookies.get(cookie_name(key))
    if secret is None or token_hash(secret) != row.binding_hash:
        # Someone holds this tab's token without the login's cookie: end the session for everyone.
        end(db, row, "not_this_browser", ip)
        raise Unauthorized(NOT_THIS_BROWSER)
    now = _now()
    if row.last_seen_at < now - timedelta(minutes=get_settings().session_idle_minutes):
        end(db, row, "idle", ip)
        raise Unauthorized(IDLE)
    try:
        actor = sessions.actor_for_user(db, user_id, ip, row.family)
    except DomainError:
        end(db, row, "invalid", ip)
        raise
    if actor.role != row.role:
        end(db, row, "role_changed", ip)
        raise Unauthorized(ROLE_CHANGED)
    if row.last_seen_at < now - TOUCH_EVERY:
        row.last_seen_at = now
        db.add(row)
    return actor
