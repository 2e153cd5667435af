"""What the Monitoramento page and /metrics show about sending: the task queue and its workers, the
outbox, every sending identity's usage against its limits and its state, and each e-mail domain's
bounce and complaint rates per day."""

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Date, cast, func
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.messaging import number_health
from app.messaging.governor import get_governor
from app.messaging.kinds import KINDS
from app.messaging.limits import identity_for, policy_for
from app.messaging.reputation import domain_of
from models.base import utcnow
from models.tenant import Campaign, Channel, ConsentEvent, Message
from tenants.queues import queue_stats, workers_alive

DAYS = 14


class IdentityHealth(BaseModel):
    channel_id: int
    name: str
    kind_label: str
    identity: str
    status: str
    status_detail: str
    sends_24h: int
    unique_recipients_24h: int
    rate_per_s: float | None
    daily_cap: int | None
    tier: int | None
    paused: str | None
    # Cloud API numbers (app.messaging.number_health): level, Meta's tier as sent, recent failed share.
    health: str | None = None
    health_label: str = ""
    meta_limit: str = ""
    failure_rate: float | None = None


class DomainDay(BaseModel):
    day: date
    domain: str
    sent: int
    bounced: int
    complained: int
    bounce_rate: float
    complaint_rate: float


class Health(BaseModel):
    queue_backend: str
    queue_pending: int | None
    workers: list[dict[str, str]] | None
    outbox: dict[str, int]
    campaigns_running: int
    identities: list[IdentityHealth]
    domains: list[DomainDay]


def _outbox(db: Session) -> dict[str, int]:
    # Each count goes through its own partial index (queued, reserved, uncertain rows only).
    out: dict[str, int] = {}
    for status in ("queued", "reserved", "uncertain"):
        clause = [Message.status == status]
        if status == "queued":
            clause.append(Message.direction == "out")
        out[status] = int(db.exec(select(func.count()).where(*clause)).one())
    return out


def _identities(db: Session, schema: str, now: datetime) -> list[IdentityHealth]:
    governor = get_governor()
    rows = []
    for c in db.exec(
        select(Channel).where(col(Channel.deleted_at).is_(None)).order_by(col(Channel.id))
    ).all():
        kind = KINDS.get(c.kind)
        if kind is None:
            continue
        config = kind.config.model_construct(**(c.config or {}))
        policy = policy_for(config, c.created_at, now, c.state)
        ident = identity_for(schema, c.id or 0, config)
        usage = governor.usage(ident, now.timestamp())
        rows.append(
            IdentityHealth(
                channel_id=c.id or 0,
                name=c.name,
                kind_label=kind.label,
                identity=ident,
                status=c.status,
                status_detail=c.status_detail or "",
                sends_24h=int(usage["sends_24h"]),
                unique_recipients_24h=int(usage["unique_recipients_24h"]),
                rate_per_s=policy.rate_per_s,
                daily_cap=policy.daily_cap,
                tier=policy.unique_recipients_24h,
                paused=usage["paused"],
                **_number_health(c),
            )
        )
    return rows


def _number_health(channel: Channel) -> dict[str, Any]:
    if channel.kind != "whatsapp_cloud":
        return {}
    h = number_health.read(channel.state)
    return {
        "health": h.level,
        "health_label": number_health.LABELS_PT[h.level],
        "meta_limit": h.current_limit,
        "failure_rate": h.failure_rate if h.sample else None,
    }


def _domains(db: Session, now: datetime) -> list[DomainDay]:
    channels = db.exec(select(Channel).where(Channel.medium == "email")).all()
    by_domain: dict[str, list[int]] = {}
    for c in channels:
        if (name := domain_of(c)) is not None:
            by_domain.setdefault(name, []).append(c.id or 0)
    since = now - timedelta(days=DAYS)
    out: list[DomainDay] = []
    for domain, ids in sorted(by_domain.items()):
        day = cast(Message.sent_at, Date)
        sent: dict[Any, list[int]] = {
            d: [int(n), int(b)]
            for d, n, b in db.exec(
                select(
                    day,
                    func.count(),
                    func.count().filter(col(Message.error_code) == "bounced"),
                )
                .where(col(Message.channel_id).in_(ids), col(Message.sent_at) >= since)
                .group_by(day)
            ).all()
        }
        complaints = dict(
            db.exec(
                select(cast(ConsentEvent.created_at, Date), func.count())
                .join(Message, col(Message.id) == ConsentEvent.evidence["message_id"].as_integer())
                .where(
                    ConsentEvent.source == "complaint",
                    col(ConsentEvent.created_at) >= since,
                    col(Message.channel_id).in_(ids),
                )
                .group_by(cast(ConsentEvent.created_at, Date))
            ).all()
        )
        for d in sorted(set(sent) | set(complaints)):
            n, b = sent.get(d, [0, 0])
            k = int(complaints.get(d, 0))
            out.append(
                DomainDay(
                    day=d,
                    domain=domain,
                    sent=n,
                    bounced=b,
                    complained=k,
                    bounce_rate=round(b / n, 4) if n else 0.0,
                    complaint_rate=round(k / n, 5) if n else 0.0,
                )
            )
    return out


def snapshot(db: Session, actor: Actor) -> Health:
    actor.require(Perm.SETTINGS_MANAGE)
    now = utcnow()
    queue = queue_stats()
    schema = actor.schema or ""
    return Health(
        queue_backend=queue.backend,
        queue_pending=queue.pending,
        workers=workers_alive(),
        outbox=_outbox(db),
        campaigns_running=int(
            db.exec(select(func.count()).where(col(Campaign.status).in_(("running", "scheduled")))).one()
        ),
        identities=_identities(db, schema, now),
        domains=_domains(db, now),
    )
