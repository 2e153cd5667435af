"""E-mail reputation: a sending domain whose bounces or spam complaints over the last 24 hours pass the
thresholds (settings: 5 % / 0.1 %, the providers' own suspension lines, over at least 100 sends) is
paused — in the governor, so no worker sends from it, and on its channels, so admins see why — before the
provider suspends the account. Checked when a bounce or complaint arrives (never on the send path)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import system_actor
from app.messaging import alerts
from app.messaging.governor import get_governor
from app.settings import get_settings
from models.base import utcnow
from models.tenant import Channel, ConsentEvent, Message

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class DomainRates:
    domain: str
    sent: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> float:
        return self.bounced / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complained / self.sent if self.sent else 0.0


def domain_of(channel: Channel) -> str | None:
    from_email = str((channel.config or {}).get("from_email") or "")
    return from_email.rsplit("@", 1)[-1].lower() if "@" in from_email else None


def domain_channels(db: Session, domain: str) -> list[Channel]:
    return [
        c
        for c in db.exec(
            select(Channel).where(Channel.medium == "email", col(Channel.deleted_at).is_(None))
        ).all()
        if domain_of(c) == domain
    ]


def rates(db: Session, domain: str, now: datetime | None = None) -> DomainRates:
    since = (now or utcnow()) - WINDOW
    ids = [c.id for c in domain_channels(db, domain)]
    if not ids:
        return DomainRates(domain, 0, 0, 0)
    sent = db.exec(
        select(func.count()).where(col(Message.channel_id).in_(ids), col(Message.sent_at) >= since)
    ).one()
    bounced = db.exec(
        select(func.count()).where(
            col(Message.channel_id).in_(ids),
            col(Message.sent_at) >= since,
            Message.status == "failed",
            Message.error_code == "bounced",
        )
    ).one()
    complained = db.exec(
        select(func.count())
        .select_from(ConsentEvent)
        .join(Message, col(Message.id) == ConsentEvent.evidence["message_id"].as_integer())
        .where(
            ConsentEvent.source == "complaint",
            col(ConsentEvent.created_at) >= since,
            col(Message.channel_id).in_(ids),
        )
    ).one()
    return DomainRates(domain, int(sent), int(bounced), int(complained))


def _pct(share: float, digits: int = 1) -> str:
    return f"{share * 100:.{digits}f}".replace(".", ",") + " %"


def identity(schema: str, domain: str) -> str:
    # The same identity app.messaging.limits.identity_for gives an e-mail channel of this domain.
    return f"{schema}:email:{domain}"


def check(db: Session, channel: Channel, now: datetime | None = None) -> DomainRates | None:
    """Pause the channel's sending domain when its rates pass the thresholds; the rates, or None for a
    channel without a domain."""
    domain = domain_of(channel)
    if channel.medium != "email" or domain is None:
        return None
    settings = get_settings()
    r = rates(db, domain, now)
    if r.sent < settings.reputation_min_sends:
        return r
    why = None
    if r.bounce_rate > settings.bounce_rate_max:
        why = f"Envios pausados: {_pct(r.bounce_rate)} de e-mails devolvidos nas últimas 24 h em {domain}."
    elif r.complaint_rate > settings.complaint_rate_max:
        share = _pct(r.complaint_rate, 2)
        why = f"Envios pausados: {share} de reclamações de spam nas últimas 24 h em {domain}."
    if why is None:
        return r
    schema = str(db.info.get("schema", ""))
    get_governor().pause(identity(schema, domain), why)
    actor = system_actor(None, schema)
    for c in domain_channels(db, domain):
        if c.status != "paused":
            before = {"status": c.status}
            c.status, c.status_detail, c.status_at = "paused", why[:500], utcnow()
            db.add(c)
            record(db, actor, "channel.pause", "channel", c.id, before, {"status": "paused", "reason": why})
            alerts.alert_admins(
                db, title=f"E-mail pausado: {domain}", body=why, link="/admin/canais", channel_id=c.id or 0
            )
    return r
