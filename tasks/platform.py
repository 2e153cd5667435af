"""Platform maintenance tasks: purge public sign-ups whose e-mail was never confirmed."""

import asyncio

from app.platform import admin
from tasks.broker import broker
from tasks.periodic import every
from tenants.database import platform_session, unit_of_work

PURGE_CRON = "41 3 * * *"  # daily, off the hour
PURGE_SECONDS = 24 * 3600


def purge_unconfirmed_now() -> list[str]:
    """Unconfirmed sign-ups older than SIGNUP_CONFIRM_DAYS, removed in one transaction."""

    with platform_session() as db, unit_of_work(db):
        return admin.purge_unconfirmed(db, None)


@broker.task(
    task_name="platform.purge_unconfirmed",
    schedule=[{"cron": PURGE_CRON, "schedule_id": "signup-purge-daily"}],
)
async def purge_unconfirmed() -> list[str]:
    return await asyncio.to_thread(purge_unconfirmed_now)


async def purge_unconfirmed_loop(interval: float = PURGE_SECONDS) -> None:
    """Embedded mode (no taskiq scheduler): the app purges unconfirmed sign-ups itself, daily."""
    await every(interval, purge_unconfirmed_now, "unconfirmed sign-up purge")
