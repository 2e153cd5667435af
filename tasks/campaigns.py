"""Campaign feeding: `campaigns.feed` moves a running campaign's pending recipients into the outbox in
batches (app.campaigns.feeder) for up to `BUDGET_S`, then queues itself again while there is work; the
minute sweep (`campaigns.sweep`, taskiq scheduler) starts scheduled campaigns and resumes those waiting
for their business hours, daily cap or a lost kick. Embedded mode runs the sweep in the app (`sweep_loop`).
"""

import asyncio
import logging
import time

from sqlmodel import col, select

from app.campaigns import feeder
from models.tenant import Campaign
from tasks.broker import broker
from tasks.notifications import active_schemas
from tasks.periodic import every
from tasks.tenancy import inactive
from tenants.database import session

log = logging.getLogger(__name__)
BUDGET_S = 20.0
SWEEP_SECONDS = 15


BACKLOG_PAUSE_S = 0.5


def _feed_once(schema: str, campaign_id: int) -> feeder.FeedResult:
    with session(schema) as db:
        result = feeder.feed(db, campaign_id)
        db.commit()
    return result


# Campaigns being fed by this process. A second kick of the same campaign (every sweep kicks each running
# one) returns at once: each run waiting out the outbox's backlog held a thread of the default pool, and
# with the sweep kicked every second they took all of them, so the deliveries' claims queued behind them
# until their leases expired and nothing was ever sent (the 10,000-recipient crash test, docs/benchmarks.md).
_feeding: set[tuple[str, int]] = set()


@broker.task(task_name="campaigns.feed")
async def feed_campaign(schema: str, campaign_id: int) -> str:
    if inactive(schema, "campaigns.feed"):
        return "inactive"
    key = (schema, campaign_id)
    if key in _feeding:
        return "busy"
    _feeding.add(key)
    try:
        state = await _feed(schema, campaign_id)
    finally:
        _feeding.discard(key)
    if state == "again":
        await feed_campaign.kiq(schema, campaign_id)
    return state


async def _feed(schema: str, campaign_id: int, budget_s: float = BUDGET_S) -> str:
    """Feed batches, one transaction each (in a thread), until nothing is left to feed now or the budget is
    spent; the backlog pauses asleep on the event loop, not in a pool thread. Returns the last state;
    "again" means work is left and the caller should queue another run."""
    deadline = time.monotonic() + budget_s
    state = "not_running"
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(_feed_once, schema, campaign_id)
        state = result.state
        if state == "backlog":
            await asyncio.sleep(BACKLOG_PAUSE_S)
            continue
        if state != "fed" or result.queued == 0:
            return state
    return "again"


def due_campaigns(schema: str) -> list[int]:
    with session(schema) as db:
        return [
            c
            for c in db.exec(
                select(Campaign.id).where(col(Campaign.status).in_(("running", "scheduled")))
            ).all()
            if c is not None
        ]


@broker.task(
    task_name="campaigns.sweep", schedule=[{"cron": "* * * * *", "schedule_id": "campaigns-every-minute"}]
)
async def sweep() -> int:
    n = 0
    for schema in await asyncio.to_thread(active_schemas):
        for campaign_id in await asyncio.to_thread(due_campaigns, schema):
            await feed_campaign.kiq(schema, campaign_id)
            n += 1
    return n


async def sweep_in_process() -> int:
    """Embedded mode's sweep: every due campaign fed for a few seconds, through the workers' loop."""
    n = 0
    for schema in await asyncio.to_thread(active_schemas):
        for campaign_id in await asyncio.to_thread(due_campaigns, schema):
            try:
                await _feed(schema, campaign_id, budget_s=5)
                n += 1
            except Exception:
                log.exception("campaign %s feed failed in %s", campaign_id, schema)
    return n


async def sweep_loop(interval: float = SWEEP_SECONDS) -> None:
    await every(interval, sweep_in_process, "campaign sweep")
