"""Reminder sweep: every minute, turn due appointment reminders into notifications, per active tenant.

`sweep_reminders` is scheduled by `tasks/scheduler.py` (taskiq scheduler, cron every minute) and fans
out one `send_reminders` task per active tenant, so workers share the tenants and a failing tenant does
not hold up the others. Without Redis (embedded `crm run`) there is no worker or scheduler process:
`reminder_loop` runs the same sweep inside the app's backend (started in app/app.py).
The claim in `appointments.claim_due_reminders` makes overlapping sweeps harmless.
"""

import asyncio
import logging

from sqlmodel import col, select

from app.auth.actor import system_actor
from app.crm import notifications
from models.platform import Tenant
from tasks.broker import broker
from tasks.periodic import every
from tasks.tenancy import inactive, require_active
from tenants.database import platform_session, session

log = logging.getLogger(__name__)

SWEEP_CRON = "* * * * *"
SWEEP_SECONDS = 60


def send_reminders_sync(schema: str) -> int:
    """Create the due reminders of one tenant and commit them; returns how many were created."""
    tenant = require_active(schema)
    with session(schema) as db:
        created = notifications.create_reminders(db, system_actor(tenant.id, schema))
        db.commit()
    if created:
        log.info("reminders: %s notification(s) in %s", len(created), schema)
    return len(created)


@broker.task(task_name="notifications.send_reminders")
async def send_reminders(schema: str) -> int:
    if inactive(schema, "notifications.send_reminders"):
        return 0
    return await asyncio.to_thread(send_reminders_sync, schema)


def active_schemas() -> list[str]:
    with platform_session() as db:
        rows = db.exec(
            select(Tenant.schema_name).where(Tenant.status == "active", col(Tenant.schema_name).is_not(None))
        ).all()
    return [s for s in rows if s]


@broker.task(
    task_name="notifications.sweep_reminders",
    schedule=[{"cron": SWEEP_CRON, "schedule_id": "reminders-every-minute"}],
)
async def sweep_reminders() -> int:
    """Queue one send_reminders per active tenant (suspended tenants are skipped)."""
    schemas = await asyncio.to_thread(active_schemas)
    for schema in schemas:
        await send_reminders.kiq(schema)
    return len(schemas)


def sweep_all_sync() -> int:
    """The sweep in this process, tenant after tenant; one tenant's failure is logged and skipped."""
    total = 0
    for schema in active_schemas():
        try:
            total += send_reminders_sync(schema)
        except Exception:
            log.exception("reminders failed in %s", schema)
    return total


async def reminder_loop(interval: float = SWEEP_SECONDS) -> None:
    """Embedded mode's scheduler: run the sweep about once a minute for the life of the app."""
    await every(interval, sweep_all_sync, "reminder sweep")
