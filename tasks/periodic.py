"""Embedded mode's scheduler: a job run every `interval` seconds for the life of the app (no REDIS_URL
means no taskiq scheduler process); a blocking job runs in a thread, a coroutine function on the loop."""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


async def every(interval: float, job: Callable[[], Any], what: str) -> None:
    log.info("%s running in-process every %ss (no REDIS_URL: no taskiq scheduler)", what, interval)
    while True:
        started = time.monotonic()
        try:
            if asyncio.iscoroutinefunction(job):
                await job()
            else:
                await asyncio.to_thread(job)
        except Exception:  # the database or storage may be restarting; try again next round
            log.exception("%s failed", what)
        await asyncio.sleep(max(1.0, interval - (time.monotonic() - started)))
