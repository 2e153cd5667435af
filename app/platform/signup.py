"""Public (self-service) sign-up: rate-limited per client IP, and unusable until the admin confirms the
e-mail address through a link the platform sends.

- Limit: at most SIGNUP_MAX_PER_IP sign-ups per IP in SIGNUP_WINDOW_MINUTES, counted on the platform
  audit log's `tenant.signup` rows (which outlive purged tenants) under a transaction-scoped advisory
  lock per IP, so parallel sign-ups from one address cannot all pass the count.
- Confirmation: with platform SMTP configured the tenant is created `unconfirmed` and the link is sent
  before the provisioning transaction commits (a failed send rolls the tenant back: no tenant whose
  admin can never get the link). The link carries a signed, expiring token for the tenant; confirming
  is one conditional UPDATE (`unconfirmed` -> `active`), so a token works once. Without platform SMTP
  (a local `make run`) the tenant is confirmed at once and the log says so.
- Unconfirmed tenants older than SIGNUP_CONFIRM_DAYS are purged (app/platform/admin.py
  purge_unconfirmed: superadmin REST/CLI, and the daily task platform.purge_unconfirmed).
"""

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import lru_cache
from urllib.parse import quote

from sqlalchemy import func, text, update
from sqlmodel import Session, col, select

from app.audit.log import record_platform
from app.auth.sessions import TokenPair, login_verified
from app.errors import DomainError, Invalid, TooManyRequests
from app.platform.provisioning import SignupInput, provision_tenant
from app.security.keys import jwt_secret
from app.settings import get_settings
from models.platform import PlatformAudit, Tenant, User

log = logging.getLogger(__name__)

CONFIRM_PATH = "/cadastro/confirmar"
INVALID_LINK = "Link de confirmação inválido ou expirado. Faça o cadastro de novo."


class MailUnavailable(DomainError):
    code = "mail_unavailable"
    status = 503


@dataclass(frozen=True)
class SignupResult:
    tenant: Tenant
    # True: the link was e-mailed and the tenant waits for it; False: confirmed at once (no SMTP).
    confirmation_sent: bool


def smtp_configured() -> bool:
    return bool(get_settings().platform_smtp_host)


# ------------------------------------------------------------------------------------------ tokens


@lru_cache
def _key() -> bytes:
    # Derived, so a confirmation token is never valid as (or forged from) a JWT or an upload grant.
    return hashlib.sha256(b"signup-confirm:" + jwt_secret()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def issue_token(tenant_id: int, email: str, now: float | None = None) -> str:
    ttl = get_settings().signup_confirm_days * 86400
    claims = {"t": tenant_id, "e": email, "exp": int((now or time.time()) + ttl)}
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(hmac.new(_key(), payload.encode(), hashlib.sha256).digest())}"


def _verify(token: str, now: float | None = None) -> tuple[int, str]:
    payload, _, signature = (token or "").strip().partition(".")
    expected = _b64(hmac.new(_key(), payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(signature, expected):
        raise Invalid("token", INVALID_LINK)
    try:
        claims = json.loads(_unb64(payload))
        tenant_id, email, expires = int(claims["t"]), str(claims["e"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid("token", INVALID_LINK) from exc
    if expires < (now or time.time()):
        raise Invalid("token", INVALID_LINK)
    return tenant_id, email


def confirmation_link(token: str) -> str:
    settings = get_settings()
    base = (settings.public_url or f"http://localhost:{settings.app_port}").rstrip("/")
    return f"{base}{CONFIRM_PATH}?token={quote(token)}"


# ------------------------------------------------------------------------------------------ sign-up


def _rate_limit(db: Session, ip: str) -> None:
    settings = get_settings()
    # Serialise sign-ups of one IP until this transaction ends, then count what committed before.
    db.exec(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))").bindparams(k=f"signup:{ip}"))  # type: ignore[call-overload]  # sqlmodel's Session.exec has no overload for text()
    since = datetime.now(UTC) - timedelta(minutes=settings.signup_window_minutes)
    count = db.exec(
        select(func.count())
        .select_from(PlatformAudit)
        .where(
            PlatformAudit.action == "tenant.signup", PlatformAudit.ip == ip, col(PlatformAudit.at) >= since
        )
    ).one()
    if count >= settings.signup_max_per_ip:
        log.warning("sign-up refused: %s sign-ups from %s in the window", count, ip)
        raise TooManyRequests(
            "Muitos cadastros a partir deste endereço. Tente de novo mais tarde.",
            retry_after=settings.signup_window_minutes * 60,
        )


def _send_confirmation(tenant: Tenant, admin: User) -> None:
    settings = get_settings()
    assert tenant.id is not None
    link = confirmation_link(issue_token(tenant.id, admin.email))
    msg = EmailMessage()
    msg["Subject"] = "Confirme o cadastro da sua organização no CRM"
    msg["From"] = settings.platform_smtp_from
    msg["To"] = admin.email
    msg.set_content(
        f"Olá, {admin.name}!\n\n"
        f"Recebemos o cadastro da organização “{tenant.name}” ({tenant.slug}) com este e-mail.\n"
        f"Para ativá-la, abra o link abaixo (válido por {settings.signup_confirm_days} dias):\n\n"
        f"{link}\n\n"
        "Se não foi você, ignore esta mensagem: o cadastro será removido automaticamente.\n"
    )
    password = settings.platform_smtp_password.get_secret_value() if settings.platform_smtp_password else None
    try:
        with smtplib.SMTP(settings.platform_smtp_host or "", settings.platform_smtp_port, timeout=20) as smtp:
            if settings.platform_smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.platform_smtp_user and password:
                smtp.login(settings.platform_smtp_user, password)
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("sign-up confirmation e-mail to tenant %s failed: %s", tenant.slug, type(exc).__name__)
        raise MailUnavailable(
            "Não foi possível enviar o e-mail de confirmação agora. Tente novamente em alguns minutos."
        ) from exc
    log.info("sign-up confirmation link sent for tenant %s", tenant.slug)


def self_signup(data: SignupInput, ip: str | None) -> SignupResult:
    """The public sign-up (REST and the /cadastro page): rate-limited per IP; the tenant is usable only
    after its admin confirms the e-mail, unless no platform SMTP is configured."""
    client = (ip or "unknown")[:64]
    confirm = smtp_configured()

    def created(db: Session, tenant: Tenant, admin: User) -> None:
        record_platform(
            db,
            None,
            "tenant.signup",
            "tenant",
            tenant.id,
            after={"slug": tenant.slug, "admin": admin.email, "confirmation": "email" if confirm else "none"},
            tenant_id=tenant.id,
            ip=client,
        )
        db.flush()
        if confirm:
            _send_confirmation(tenant, admin)

    tenant = provision_tenant(
        data,
        ip=client,
        status="unconfirmed" if confirm else "active",
        guard=lambda db: _rate_limit(db, client),
        on_created=created,
    )
    if not confirm:
        log.warning(
            "no platform SMTP configured (PLATFORM_SMTP_HOST): sign-up of tenant %s confirmed at once",
            tenant.slug,
        )
    return SignupResult(tenant, confirm)


def confirm(db: Session, token: str, ip: str | None = None) -> Tenant:
    """Activates the tenant of a confirmation link: genuine, unexpired, and only once."""
    return _confirm(db, token, ip)[0]


def confirm_and_log_in(db: Session, token: str, ip: str | None = None) -> tuple[Tenant, TokenPair]:
    """Confirms the sign-up and starts the admin's session: opening the one-shot link sent to that
    address proves the admin holds it, as a password-reset link would (first-run flow, issue 14)."""
    tenant, email = _confirm(db, token, ip)
    admin = db.exec(select(User).where(User.tenant_id == tenant.id, User.email == email)).first()
    if admin is None:
        raise Invalid("token", INVALID_LINK)
    return tenant, login_verified(db, admin, ip, via="signup_confirmation")


def _confirm(db: Session, token: str, ip: str | None) -> tuple[Tenant, str]:
    tenant_id, email = _verify(token)
    confirmed = db.exec(
        update(Tenant)
        .where(col(Tenant.id) == tenant_id, col(Tenant.status) == "unconfirmed")
        .values(status="active", confirmed_at=func.now(), updated_at=func.now())
        .returning(col(Tenant.id))
    ).first()
    if confirmed is None:
        raise Invalid("token", INVALID_LINK)
    tenant = db.get(Tenant, tenant_id)
    assert tenant is not None
    db.refresh(tenant)
    record_platform(
        db,
        None,
        "tenant.confirm",
        "tenant",
        tenant_id,
        before={"status": "unconfirmed"},
        after={"status": "active", "admin": email},
        tenant_id=tenant_id,
        ip=ip,
    )
    return tenant, email
