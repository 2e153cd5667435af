"""Per-channel webhook URLs: `/api/webhooks/<provider>/{tenant_id}-{channel_id}` (Resend, WPPConnect).

The route key names the tenant and the channel itself, so no lookup table has to be kept in step with
the channels. It is guessable, and that is harmless: every request is authenticated with that channel's
own secret (Svix signature, WPPConnect's per-channel secret) before anything is read or written.
Unknown keys, inactive tenants and deleted or other-kind channels all answer the same 404.
(Meta's Cloud API posts every number to one URL and is routed by platform.channel_routes instead.)
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session, select

from app.settings import get_settings
from models.platform import Tenant
from models.tenant import Channel
from tenants.database import read, session

_KEY_RE = re.compile(r"^([1-9][0-9]{0,17})-([1-9][0-9]{0,17})$")


def route_key(tenant_id: int, channel_id: int) -> str:
    return f"{tenant_id}-{channel_id}"


def parse_route_key(key: str) -> tuple[int, int] | None:
    """(tenant id, channel id), or None for anything that is not "<id>-<id>"."""
    m = _KEY_RE.match(key)
    return (int(m.group(1)), int(m.group(2))) if m else None


def webhook_url(provider: str, tenant_id: int, channel_id: int) -> str:
    """The address an admin gives the provider (`provider`: resend | wppconnect)."""
    settings = get_settings()
    base = (settings.public_url or f"http://localhost:{settings.app_port}").rstrip("/")
    return f"{base}/api/webhooks/{provider}/{route_key(tenant_id, channel_id)}"


def _active_schema(tenant_id: int) -> str | None:
    def lookup(db: Session) -> str | None:
        tenant = db.exec(select(Tenant).where(Tenant.id == tenant_id, Tenant.status == "active")).first()
        return tenant.schema_name if tenant else None

    return read(lookup)


@contextmanager
def open_channel(key: str, kind: str) -> Iterator[tuple[int, Session, Channel] | None]:
    """(tenant id, tenant session, live channel of `kind`) named by a route key, or None.

    The caller owns the session's transaction (commit what it wrote)."""
    ids = parse_route_key(key)
    schema = _active_schema(ids[0]) if ids else None
    if ids is None or schema is None:
        yield None
        return
    with session(schema) as db:
        channel = db.get(Channel, ids[1])
        if channel is None or channel.kind != kind or channel.deleted_at is not None:
            yield None
            return
        yield ids[0], db, channel
