"""Login throttling: a hard block per IP, an exponential slowdown per account (docs/security.md).

Per IP: `LOGIN_MAX_FAILURES_IP` failed logins within `LOGIN_WINDOW_MINUTES` block that address until the
oldest of them leaves the window.

Per account: the first `LOGIN_MAX_FAILURES_ACCOUNT` failures (counted since the account's last
successful sign-in, at most `LOGIN_BACKOFF_HOURS` back) are free; after that each attempt has to wait
`base * 2^(failures - free)` seconds (capped at `LOGIN_BACKOFF_MAX_SECONDS`) after the latest failure.
An attempt made while it has to wait is answered 429 without looking at the password and is not counted,
so it neither confirms a password nor makes the wait longer: the owner who tries again after
`Retry-After` is let in. An address this user signed in or refreshed from recently (within
REFRESH_TOKEN_DAYS) only counts its own failures, so strangers hammering a known account do not slow its
owner down at their usual address at all.

Parallel attempts are serialised per account and per IP by transaction-scoped advisory locks taken
before counting, held until the caller commits the failure row: the count a request sees includes every
attempt decided before it.
"""

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, text
from sqlmodel import Session, select

from app.audit.log import record_platform
from app.errors import TooManyRequests
from app.settings import get_settings
from models.platform import LoginFailure, RefreshToken, User

# Second key of the advisory locks. Import slots use (hashtext(schema), id >= 0): negatives never clash.
_ACCOUNT_LOCK = -1
_IP_LOCK = -2


def _now() -> datetime:
    return datetime.now(UTC)


def backoff_delay(failures: int, free: int, base: float, cap: float) -> float:
    """Seconds an account must wait after its latest failure: 0 for the first `free`, then doubling."""
    if failures < free:
        return 0.0
    # The exponent is bounded so a long attack cannot overflow the float before the cap applies.
    return min(cap, base * 2.0 ** min(failures - free, 64))


def wait_message(seconds: int) -> str:
    if seconds < 120:
        return f"Muitas tentativas de acesso. Tente novamente em {seconds} segundos."
    return f"Muitas tentativas de acesso. Tente novamente em {math.ceil(seconds / 60)} minutos."


def lock(db: Session, account: str, ip: str) -> None:
    """Serialise attempts on this account and from this IP until the transaction ends.

    Always account first, then IP: every attempt takes one of each in that order, so no cycle forms.
    """
    for key, kind in ((account, _ACCOUNT_LOCK), (ip, _IP_LOCK)):
        db.exec(text("SELECT pg_advisory_xact_lock(hashtext(:key), :kind)").bindparams(key=key, kind=kind))  # type: ignore[call-overload]  # sqlmodel's Session.exec has no overload for text()


def _known_address(db: Session, user: User, ip: str) -> bool:
    if ip == "unknown":
        return False
    since = _now() - timedelta(days=get_settings().refresh_token_days)
    return (
        db.exec(
            select(RefreshToken.id)
            .where(RefreshToken.user_id == user.id, RefreshToken.ip == ip, RefreshToken.created_at > since)
            .limit(1)
        ).first()
        is not None
    )


def _refuse(db: Session, account: str, ip: str, tenant_id: int | None, reason: str, wait: float) -> None:
    seconds = max(1, math.ceil(wait))
    record_platform(
        db,
        None,
        "auth.login_blocked",
        "account",
        account,
        after={"reason": reason, "retry_after": seconds},
        tenant_id=tenant_id,
        ip=ip,
    )
    raise TooManyRequests(wait_message(seconds), retry_after=seconds)


def check(db: Session, account: str, ip: str, user: User | None, tenant_id: int | None) -> None:
    """Refuse (429 + Retry-After) an attempt the IP block or the account's slowdown does not allow.

    Call after `lock`, before looking at the password.
    """
    settings = get_settings()
    now = _now()
    window = timedelta(minutes=settings.login_window_minutes)
    by_ip, oldest = db.exec(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.ip == ip, LoginFailure.at > now - window
        )
    ).one()
    if by_ip >= settings.login_max_failures_ip:
        _refuse(db, account, ip, tenant_id, "ip", (oldest + window - now).total_seconds())

    since = now - timedelta(hours=settings.login_backoff_hours)
    if user is not None and user.last_login_at is not None and user.last_login_at > since:
        since = user.last_login_at
    query = select(func.count(), func.max(LoginFailure.at)).where(
        LoginFailure.account == account, LoginFailure.at > since
    )
    if user is not None and _known_address(db, user, ip):
        query = query.where(LoginFailure.ip == ip)
    failures, latest = db.exec(query).one()
    delay = backoff_delay(
        failures,
        settings.login_max_failures_account,
        settings.login_backoff_base_seconds,
        settings.login_backoff_max_seconds,
    )
    if delay > 0 and latest is not None:
        wait = (latest + timedelta(seconds=delay) - now).total_seconds()
        if wait > 0:
            _refuse(db, account, ip, tenant_id, "account", wait)


def record_failure(db: Session, account: str, ip: str) -> None:
    db.add(LoginFailure(account=account, ip=ip, at=_now()))
