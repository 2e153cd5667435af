"""The feeder: moves a running campaign's pending recipients into the outbox, a batch per transaction,
within its business hours and daily cap.

Exactly once: one transaction reserves pending recipients (`FOR UPDATE SKIP LOCKED` through the partial
index of pending rows), inserts one outbox message each with the idempotency key
`campaign:<campaign>:<recipient>` (unique), and marks the recipients queued with their message id. A
feeder killed anywhere rolls all of it back; two feeders never take the same recipient; and the outbox's
reservation, lease and reaper carry each message from there. The feeder only runs ahead of the outbox by
`AHEAD` messages, so a pause stops sending within one batch.
"""

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import cast, func, insert, literal, text
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col, select

from app.after_commit import enqueue_after_commit
from app.campaigns import audience, counters, window
from app.crm.templates import render
from models.base import utcnow
from models.tenant import (
    Campaign,
    CampaignRecipient,
    Channel,
    Conversation,
    Customer,
    Interaction,
    Message,
    Template,
)

log = logging.getLogger(__name__)
DELIVER_TASK = "messaging.deliver"  # app.messaging.outbox's task: send what the feeder queued
BATCH = 1000
AHEAD = 5000  # queued-but-unsent messages a campaign may have in the outbox at once
RATE_WINDOW_S = 10.0


@dataclass(frozen=True)
class FeedResult:
    queued: int
    next_at: datetime | None  # when to feed again (None: nothing left to feed)
    state: str  # fed | waiting_window | daily_cap | backlog | not_running | finished


def _day_key(campaign: Campaign, now: datetime) -> str:
    return now.astimezone(ZoneInfo(campaign.time_zone)).date().isoformat()


def _conversations(db: Session, campaign: Campaign, customer_ids: list[int]) -> dict[int, int]:
    """The conversation each customer's campaign message joins (the newest on the medium), created for
    customers who have none, so a reply lands where the message is."""
    newest: dict[int, int] = {
        customer: conv or 0
        for customer, conv in db.exec(
            select(Conversation.customer_id, func.max(Conversation.id))
            .where(col(Conversation.customer_id).in_(customer_ids), Conversation.channel == campaign.medium)
            .group_by(col(Conversation.customer_id))
        ).all()
    }
    missing = [c for c in customer_ids if c not in newest]
    if missing:
        created = db.execute(
            insert(Conversation).returning(col(Conversation.id), sort_by_parameter_order=True),
            [
                {
                    "customer_id": c,
                    "channel": campaign.medium,
                    "status": "open",
                    "channel_id": campaign.channel_ids[0],
                }
                for c in missing
            ],
        ).scalars()
        newest.update(zip(missing, created, strict=True))
    return newest


def _content(db: Session, campaign: Campaign) -> tuple[str, str | None, Template | None]:
    template = db.get(Template, campaign.template_id) if campaign.template_id else None
    body = template.body if template else (campaign.body or "")
    return body, campaign.subject, template


def feed(db: Session, campaign_id: int, now: datetime | None = None, batch: int = BATCH) -> FeedResult:
    now = now or utcnow()
    campaign = db.exec(select(Campaign).where(Campaign.id == campaign_id).with_for_update()).first()
    if campaign is None or campaign.status not in ("running", "scheduled"):
        return FeedResult(0, None, "not_running")
    if campaign.status == "scheduled":
        if campaign.schedule_at and campaign.schedule_at > now:
            return FeedResult(0, campaign.schedule_at, "not_running")
        campaign.status, campaign.started_at = "running", now
    opens = window.next_open(campaign.window, campaign.time_zone, now)
    if opens > now:
        return FeedResult(0, opens, "waiting_window")
    counts = dict(campaign.counts or {})
    day = _day_key(campaign, now)
    fed_today = int(counts.get("_day_n", 0)) if counts.get("_day") == day else 0
    room = batch
    if campaign.daily_cap is not None:
        room = min(room, campaign.daily_cap - fed_today)
        if room <= 0:
            tomorrow = (now.astimezone(ZoneInfo(campaign.time_zone)) + timedelta(days=1)).replace(
                hour=0, minute=0, second=0, microsecond=0
            )
            return FeedResult(0, window.next_open(campaign.window, campaign.time_zone, tomorrow), "daily_cap")
    backlog = int(counts.get("queued", 0) or 0)
    if backlog >= AHEAD:
        return FeedResult(0, now + timedelta(seconds=1), "backlog")
    room = min(room, AHEAD - backlog)
    # Set-based from here: one SELECT, one INSERT per table, one UPDATE (an ORM object per message and
    # timeline entry made the feeder the campaign's bottleneck).
    # The variables come from the customer as it is now (audience.customer_variables), the recipient's
    # own values last; a customer gone since the campaign was created leaves only those.
    values_sql = func.coalesce(
        audience.customer_variables(campaign.variables), cast(literal(campaign.variables, JSONB), JSONB)
    ).op("||")(col(CampaignRecipient.variables))
    recipients = db.execute(
        sa_select(
            col(CampaignRecipient.id),
            col(CampaignRecipient.customer_id),
            col(CampaignRecipient.address),
            col(CampaignRecipient.channel_id),
            values_sql.label("variables"),
            col(CampaignRecipient.generation),
        )
        .select_from(CampaignRecipient)
        .outerjoin(Customer, col(Customer.id) == col(CampaignRecipient.customer_id))
        .where(col(CampaignRecipient.campaign_id) == campaign.id, col(CampaignRecipient.status) == "pending")
        .order_by(col(CampaignRecipient.id))
        .limit(room)
        .with_for_update(skip_locked=True, of=CampaignRecipient)
    ).all()
    if not recipients:
        _finish_if_done(db, campaign, now)
        return FeedResult(0, None, "finished" if campaign.status == "done" else "fed")
    body, subject, template = _content(db, campaign)
    kinds = {
        c.id: c.kind for c in db.exec(select(Channel).where(col(Channel.id).in_(campaign.channel_ids))).all()
    }
    conversations = _conversations(db, campaign, [r.customer_id for r in recipients])
    email = campaign.medium == "email"
    files = list(campaign.attachments or [])  # WhatsApp: the text is the file's caption
    rows = []
    for r in recipients:
        values: dict[str, Any] = r.variables
        kind = "email" if email else str(files[0]["kind"]) if files else "text"
        if template is not None and kinds.get(r.channel_id) == "whatsapp_cloud":
            kind = "template"
        rows.append(
            {
                "conversation_id": conversations[r.customer_id],
                "direction": "out",
                "body": "" if email else render(body, values),
                "html": render(body, values) if email else None,
                "subject": render(subject, values) if subject else None,
                "status": "queued",
                "channel_id": r.channel_id,
                "kind": kind,
                "to_address": r.address,
                "template_id": campaign.template_id,
                "variables": values,
                "idempotency_key": _key(campaign.id or 0, r.id, r.generation),
                "campaign_id": campaign.id,
                "attachments": files,
                "next_attempt_at": now,
            }
        )
    message_ids = list(
        db.execute(insert(Message).returning(col(Message.id), sort_by_parameter_order=True), rows).scalars()
    )
    schema = db.info.get("schema")
    db.execute(
        text(
            f"UPDATE \"{schema}\".campaign_recipients r SET status = 'queued', message_id = v.mid "
            "FROM unnest(CAST(:rids AS bigint[]), CAST(:mids AS bigint[])) AS v(rid, mid) WHERE r.id = v.rid"
        ),
        {"rids": [r.id for r in recipients], "mids": message_ids},
    )
    summary = f"Campanha “{campaign.name}”"[:500]
    db.execute(
        insert(Interaction),
        [
            {
                "customer_id": r.customer_id,
                "kind": "campaign",
                "summary": summary,
                "payload": {"campaign_id": campaign.id, "message_id": mid, "channel": campaign.medium},
                "origin": "system",
                "ref_type": "campaign",
                "ref_id": campaign.id,
                "at": now,
            }
            for r, mid in zip(recipients, message_ids, strict=True)
        ],
    )
    n = len(recipients)
    _mark_rate(counts, now)
    counts.update({"_day": day, "_day_n": fed_today + n})
    campaign.counts = counts
    campaign.updated_at = now
    db.add(campaign)
    db.flush()
    counters.bump(db, campaign.id or 0, Counter({"pending": -n, "queued": n}))
    enqueue_after_commit(db, DELIVER_TASK, db.info.get("schema"))
    return FeedResult(n, now, "fed")


def _key(campaign_id: int, recipient_id: int, generation: int) -> str:
    """The outbox key of a recipient's send; a retry (generation > 0) is a new send with a new key."""
    base = f"campaign:{campaign_id}:{recipient_id}"
    return f"{base}:{generation}" if generation else base


def _mark_rate(counts: dict[str, Any], now: datetime) -> None:
    """The sending rate over the last ~10 s, from the cumulative `sent` counter (read when feeding)."""
    t, sent = float(counts.get("_rate_t", 0) or 0), int(counts.get("_rate_sent", 0) or 0)
    ts, current = now.timestamp(), int(counts.get("sent", 0) or 0)
    if not t:
        counts.update({"_rate_t": ts, "_rate_sent": current})
    elif ts - t >= RATE_WINDOW_S:
        counts.update({"_rate": max(0.0, (current - sent) / (ts - t)), "_rate_t": ts, "_rate_sent": current})


def _finish_if_done(db: Session, campaign: Campaign, now: datetime) -> None:
    counts = counters.read(campaign.counts or {})
    if counts["pending"] == 0 and counts["queued"] == 0 and campaign.status == "running":
        campaign.status, campaign.finished_at, campaign.updated_at = "done", now, now
        db.add(campaign)
