"""Unsubscribe links (issue 18; RFC 2369 List-Unsubscribe, RFC 8058 one-click).

Every marketing e-mail carries `List-Unsubscribe: <{PUBLIC_URL}/u/{token}>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The token (app.messaging.consent, Fernet) names the
tenant, medium and address, so the link works without a login and cannot be forged or pointed at
another address. A GET only shows a confirmation page (mail scanners and link previews open links);
a POST, from the page's button or straight from the mailbox provider, opts the address out at once.
"""

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from app.errors import Invalid, NotFound
from app.messaging import consent
from app.settings import get_settings
from models.platform import Tenant
from tenants.database import read, session, unit_of_work

ONE_CLICK = "List-Unsubscribe=One-Click"


def unsubscribe_url(tenant_id: int, address: str, medium: str = "email") -> str:
    settings = get_settings()
    base = (settings.public_url or f"http://localhost:{settings.app_port}").rstrip("/")
    return f"{base}/u/{consent.unsubscribe_token(tenant_id, medium, address)}"


def list_unsubscribe_headers(tenant_id: int, address: str) -> dict[str, str]:
    """The two headers every marketing e-mail to `address` carries (Gmail and Yahoo require both)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(tenant_id, address)}>",
        "List-Unsubscribe-Post": ONE_CLICK,
    }


@dataclass(frozen=True)
class Subscription:
    tenant_id: int
    schema: str
    organisation: str  # the tenant's name, shown on the page
    medium: str
    address: str

    @property
    def masked(self) -> str:
        """ "an***@exemplo.com.br": a forwarded link does not show the whole address to whoever opens it."""
        local, at, domain = self.address.partition("@")
        if not at:
            return self.address[:4] + "***"
        return f"{local[:2]}***@{domain}"


def resolve(token: str) -> Subscription:
    """The subscription a link names; NotFound when the token is invalid or its organisation is gone."""
    try:
        tenant_id, medium, address = consent.read_unsubscribe_token(token)
    except Invalid:
        raise NotFound("Link de descadastro inválido ou expirado.") from None

    def lookup(db: Session) -> Tenant | None:
        return db.exec(select(Tenant).where(Tenant.id == tenant_id, Tenant.status == "active")).first()

    tenant = read(lookup)
    if tenant is None or not tenant.schema_name:
        raise NotFound("Link de descadastro inválido ou expirado.")
    return Subscription(tenant_id, tenant.schema_name, tenant.name, medium, address)


def is_unsubscribed(sub: Subscription) -> bool:
    with session(sub.schema) as db:
        return consent.is_opted_out(db, sub.medium, sub.address)


def unsubscribe(sub: Subscription, evidence: dict[str, Any]) -> bool:
    """Opt the address out now (own transaction: called from the public route); False if it already was.

    Audited and put on the customer's timeline by consent.record, with the system as the author."""
    with session(sub.schema) as db, unit_of_work(db):
        event = consent.opt_out(
            db, medium=sub.medium, address=sub.address, source="unsubscribe_link", evidence=evidence
        )
    return event is not None
