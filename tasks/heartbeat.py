"""Workers' heartbeat: every worker process writes a Redis key every 10 s (expiring after 30 s), so the
Monitoramento page and /metrics count the live ones."""

import asyncio
import logging
import os
import socket
import time

from taskiq import TaskiqEvents, TaskiqState

from tasks.broker import broker
from tenants.queues import heartbeat

log = logging.getLogger(__name__)
INTERVAL_S = 10.0
_tasks: set[asyncio.Task[None]] = set()


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def start_heartbeat(state: TaskiqState) -> None:
    if not broker.is_worker_process:
        return
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    async def beat() -> None:
        while True:
            try:
                await asyncio.to_thread(heartbeat, worker_id, f"desde {started}")
            except Exception as exc:  # Redis restarting: the next beat comes
                log.warning("worker heartbeat failed: %s", type(exc).__name__)
            await asyncio.sleep(INTERVAL_S)

    task = asyncio.create_task(beat())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
