"""What changes a Meta Cloud API number's health (`app.messaging.number_health`): Meta's quality webhooks
and the failed share of the number's recent sends. Each change is written on the channel's state,
audited (`channel.health`, by the system), and every worsening alerts the admins; a failure rate over
the pause threshold also pauses the number in the governor and on the channel, as Meta's 131048 does.

Services: they never commit (the webhook route or the outbox's mark owns the transaction). The Redis
pause is not part of the transaction; a rollback leaves the channel unpaused in the database while the
governor refuses its slots, which the admin's resume (`channels.update_channel`) lifts.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session

from app.audit.log import record
from app.auth.actor import system_actor
from app.messaging import alerts, channel_state, limits, number_health
from app.messaging.governor import get_governor
from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.number_health import NumberHealth
from app.messaging.whatsapp_events import QualityEvent
from models.base import utcnow
from models.tenant import Channel

log = logging.getLogger(__name__)
_AT = "coalesce(failed_at, sent_at)"  # the outcome's time: the index expression of t0026

WINDOW = timedelta(hours=1)
RECENT_SENDS = 500  # the failed share is read over at most the number's last 500 sends within WINDOW
MIN_SAMPLE = 50  # fewer sends than this say nothing about the number
SLOW_AT = 0.10  # failed share that halves the number's rate
PAUSE_AT = 0.25  # failed share that pauses the number until an admin resumes it
# Failures of our own request or of one recipient's choice, not signs of how WhatsApp judges the number.
NOT_HEALTH = {"131047", "131008", "131050", "auth", "adapter", "uncertain"}

_QUALITY_PT = {
    "FLAGGED": (
        "A Meta sinalizou a qualidade do número {n}: envios reduzidos à metade até a qualidade voltar."
    ),
    "DOWNGRADE": "A Meta reduziu o limite de conversas do número {n} para {t} destinatários por dia.",
}


def _save(db: Session, channel: Channel, before: NumberHealth, after: NumberHealth, why: str) -> None:
    # Only its own key, merged under the row's lock: keys other writers set meanwhile stay (channel_state).
    channel_state.merge(db, channel, {number_health.KEY: after.as_state()})
    actor = system_actor(None, str(db.info.get("schema", "")))
    record(
        db,
        actor,
        "channel.health",
        "channel",
        channel.id,
        {"level": before.level, "current_limit": before.current_limit, "failure_rate": before.failure_rate},
        {
            "level": after.level,
            "current_limit": after.current_limit,
            "failure_rate": after.failure_rate,
            "sample": after.sample,
            "reason": why,
        },
    )
    log.info("number health: channel=%s %s -> %s (%s)", channel.id, before.level, after.level, why)
    if number_health.worse(before, after):
        alerts.alert_admins(
            db,
            title=f"Saúde do número: {channel.name} — {number_health.LABELS_PT[after.level]}",
            body=why,
            link="/admin/monitoramento",
            channel_id=channel.id or 0,
        )


def _tier_pt(health: NumberHealth) -> str:
    tier = health.meta_tier
    return "ilimitados" if tier is None else f"{tier:,}".replace(",", ".")


def apply_quality(db: Session, channel: Channel, event: QualityEvent) -> NumberHealth:
    """Meta's verdict on the number: FLAGGED slows it and holds its tier, DOWNGRADE lowers the tier,
    UNFLAGGED / UPGRADE restore it (with the tier Meta names)."""
    before = number_health.read(channel.state)
    now = utcnow().isoformat()
    limit = event.current_limit or before.current_limit
    if event.event == "FLAGGED":
        after = NumberHealth(**{**before.as_state(), "quality": "flagged", "current_limit": limit})
    elif event.event in ("UNFLAGGED", "UPGRADE"):
        after = NumberHealth(**{**before.as_state(), "quality": "healthy", "current_limit": limit})
    else:  # DOWNGRADE and events Meta may add: only the tier it names
        after = NumberHealth(**{**before.as_state(), "current_limit": limit})
    after = NumberHealth(**{**after.as_state(), "last_event": event.event[:40], "updated_at": now})
    name = channel.name
    template = _QUALITY_PT.get(event.event)
    if template is not None:
        why = template.format(n=name, t=_tier_pt(after))
    else:
        what = event.event or "uma mudança"
        why = f"A Meta informou {what} para o número {name} (limite {_tier_pt(after)})."
    _save(db, channel, before, after, why)
    return after


def recent_failures(db: Session, channel_id: int, since: datetime, now: datetime) -> tuple[int, int]:
    """(sends, failed) among the number's last RECENT_SENDS outcomes since `since` (sent, or failed at
    send time or later by a status webhook), read backwards from now through
    `ix_messages_channel_outcome`: the cost is bounded by RECENT_SENDS, not by the history."""
    schema = str(db.info.get("schema", ""))
    row = db.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE status = 'failed' "
            "AND coalesce(error_code, '') <> ALL(:excluded)) "
            f"FROM (SELECT status, error_code FROM {schema}.messages WHERE channel_id = :c "
            f"AND direction = 'out' AND {_AT} >= :since AND {_AT} <= :now "
            f"ORDER BY {_AT} DESC LIMIT :n) recent"
        ),
        {"c": channel_id, "since": since, "now": now, "n": RECENT_SENDS, "excluded": sorted(NOT_HEALTH)},
    ).one()
    return int(row[0]), int(row[1])


def _pct(share: float) -> str:
    return f"{share * 100:.1f}".replace(".", ",") + " %"


def check_failures(db: Session, channel: Channel, now: datetime | None = None) -> NumberHealth:
    """Slow the number whose recent failed share passes SLOW_AT, pause it past PAUSE_AT, and lift the
    slowdown once the share is back under SLOW_AT. A pause is lifted only by an admin's resume."""
    now = now or utcnow()
    before = number_health.read(channel.state)
    since = now - WINDOW
    if before.counted_from:
        # An admin resumed the number: only sends after that count towards a new verdict.
        since = max(since, datetime.fromisoformat(before.counted_from))
    sends, failed = recent_failures(db, channel.id or 0, since, now)
    if sends < MIN_SAMPLE or before.failures == "paused":
        return before
    share = failed / sends
    level = "paused" if share >= PAUSE_AT else "slowed" if share >= SLOW_AT else "ok"
    if level == before.failures:
        return before
    after = NumberHealth(
        **{
            **before.as_state(),
            "failures": level,
            "failure_rate": round(share, 4),
            "sample": sends,
            "updated_at": now.isoformat(),
        }
    )
    last = f"{failed} de {sends} envios da última hora falharam ({_pct(share)})"
    if level == "paused":
        why = f"Número pausado: {last}. Revise a lista e as campanhas antes de retomar."
        config = WhatsAppCloudConfig.model_construct(**(channel.config or {}))
        identity = limits.identity_for(str(db.info.get("schema", "")), channel.id or 0, config)
        get_governor().pause(identity, f"failure rate {share:.3f} over {sends} sends")
        before_status = channel.status
        channel.status, channel.status_detail, channel.status_at = "paused", why[:500], utcnow()
        record(
            db,
            system_actor(None, str(db.info.get("schema", ""))),
            "channel.pause",
            "channel",
            channel.id,
            {"status": before_status},
            {"status": "paused", "reason": why},
        )
    elif level == "slowed":
        why = f"Envios reduzidos à metade: {last}."
    else:
        why = f"Envios normalizados: {last}."
    _save(db, channel, before, after, why)
    return after


def clear_failures(db: Session, channel: Channel) -> bool:
    """An admin resumed the number: its failure verdict starts over (Meta's own verdict stays)."""
    before = number_health.read(channel.state)
    if before.failures == "ok":
        return False
    cleared = {
        **before.as_state(),
        "failures": "ok",
        "failure_rate": 0.0,
        "sample": 0,
        "counted_from": utcnow().isoformat(),
    }
    channel_state.merge(db, channel, {number_health.KEY: cleared})
    return True
