"""Outbox delivery: `deliver` (kicked after the commit that queued a message) and the sweep.

`messaging.deliver(schema)` sends what is due in one tenant's outbox until nothing is left; kicks
overlap harmlessly (reservations use SKIP LOCKED). `messaging.sweep` (taskiq scheduler, every minute)
reaps expired leases and kicks `deliver` for every active tenant with due messages (retries whose
backoff ended, messages whose kick was lost). Without Redis, `outbox_loop` does the same in the app's
backend every few seconds, and kicks run in-process.
"""

import asyncio
import logging

from taskiq import TaskiqEvents, TaskiqState

from app.messaging import inbound_media, outbox
from tasks.broker import broker
from tasks.notifications import active_schemas
from tasks.tenancy import inactive

log = logging.getLogger(__name__)

SWEEP_CRON = "* * * * *"
LOOP_SECONDS = 5.0


# Deliveries of one tenant running at once in this process. Each keeps going until nothing is due, so
# more kicks add nothing but in-flight claims (what a killed process leaves uncertain).
MAX_DELIVERIES_PER_TENANT = 2
_running: dict[str, int] = {}


@broker.task(task_name=outbox.DELIVER_TASK)
async def deliver(schema: str) -> int:
    """Send the due messages of one tenant; returns how many were sent."""
    if inactive(schema, outbox.DELIVER_TASK):
        return 0
    if _running.get(schema, 0) >= MAX_DELIVERIES_PER_TENANT:
        return 0  # the running ones will reach what this kick was for
    _running[schema] = _running.get(schema, 0) + 1
    try:
        report = await outbox.deliver(schema)
    finally:
        _running[schema] -= 1
    return report.sent


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def _close_adapters(_state: TaskiqState) -> None:
    # The HTTP clients and SMTP connections the outbox keeps per channel (app.messaging.adapters.pool).
    await outbox.close_adapters()


@broker.task(task_name=inbound_media.FETCH_TASK)
async def fetch_media(schema: str, message_id: int) -> int:
    """Download the images/documents of one inbound WhatsApp message into storage (never in the webhook)."""
    if inactive(schema, inbound_media.FETCH_TASK):
        return 0
    return await inbound_media.fetch(schema, message_id)


async def _sweep_tenant(schema: str, *, inline: bool) -> None:
    await asyncio.to_thread(outbox.reap, schema)
    for message_id in await asyncio.to_thread(inbound_media.stale, schema):
        # A media fetch whose kick was lost; a duplicate kick finds nothing pending.
        if inline:
            await inbound_media.fetch(schema, message_id)
        else:
            await fetch_media.kiq(schema, message_id)
    if await asyncio.to_thread(outbox.due_count, schema):
        if inline:
            await outbox.deliver(schema)
        else:
            await deliver.kiq(schema)


@broker.task(
    task_name="messaging.sweep",
    schedule=[{"cron": SWEEP_CRON, "schedule_id": "outbox-every-minute"}],
)
async def sweep() -> int:
    """Reap expired leases and kick delivery where messages are due, per active tenant."""
    schemas = await asyncio.to_thread(active_schemas)
    for schema in schemas:
        try:
            await _sweep_tenant(schema, inline=False)
        except Exception:
            log.exception("outbox sweep failed in %s", schema)
    return len(schemas)


async def outbox_loop(interval: float = LOOP_SECONDS) -> None:
    """Embedded mode (no worker, no scheduler): the app reaps and delivers itself every few seconds."""
    log.info("outbox sweep running in-process every %ss (no REDIS_URL)", interval)
    while True:
        try:
            for schema in await asyncio.to_thread(active_schemas):
                try:
                    await _sweep_tenant(schema, inline=True)
                except Exception:
                    log.exception("outbox sweep failed in %s", schema)
        except Exception:  # the database may be restarting; try again next round
            log.exception("outbox sweep failed")
        await asyncio.sleep(interval)
