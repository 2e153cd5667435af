"""Scheduled messages: `scheduled.sweep` (taskiq scheduler, every minute) sends every due occurrence of
every active tenant through app.messaging.scheduling.run_due; embedded mode runs the same sweep in the
app (`sweep_loop`). Two sweeps at once are harmless: rows are taken with FOR UPDATE SKIP LOCKED.
"""

import asyncio
import logging

import tasks.messaging  # noqa: F401  (registers the deliver task the outbox kicks after each commit)
from app.messaging import scheduling
from tasks.broker import broker
from tasks.notifications import active_schemas
from tasks.periodic import every

log = logging.getLogger(__name__)
SWEEP_SECONDS = 30


def sweep_sync() -> dict[str, int]:
    totals = {"queued": 0, "skipped": 0, "failed": 0}
    for schema in active_schemas():
        try:
            counts = scheduling.run_due(schema)
        except Exception:
            log.exception("scheduled messages sweep failed in %s", schema)
            continue
        for k, v in counts.items():
            totals[k] += v
    return totals


@broker.task(
    task_name="scheduled.sweep",
    schedule=[{"cron": "* * * * *", "schedule_id": "scheduled-messages-every-minute"}],
)
async def sweep() -> dict[str, int]:
    return await asyncio.to_thread(sweep_sync)


async def sweep_loop(interval: float = SWEEP_SECONDS) -> None:
    await every(interval, sweep_sync, "scheduled messages sweep")
