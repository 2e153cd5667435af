"""Shared by the crash tests: real `taskiq worker` processes, kicks by task name on the workers' Redis
queue, and the campaign's counters and message statuses read straight from PostgreSQL."""

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from tenants.queues import QUEUE_NAME

ROOT = Path(__file__).resolve().parents[3]


def kick(redis_url: str, *tasks: tuple[str, tuple[Any, ...]]) -> None:
    """Queue tasks by name on the workers' Redis queue (this process runs the in-process broker)."""
    from taskiq.kicker import AsyncKicker
    from taskiq_redis import ListQueueBroker

    async def go() -> None:
        broker = ListQueueBroker(url=redis_url, queue_name=QUEUE_NAME)
        await broker.startup()
        try:
            for name, args in tasks:
                await AsyncKicker(task_name=name, broker=broker, labels={}).kiq(*args)
        finally:
            await broker.shutdown()

    asyncio.run(go())


def worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskiq",
            "worker",
            "tasks.broker:broker",
            "tasks.campaigns",
            "tasks.messaging",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )


def counts(url: str, schema: str, campaign_id: int) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            f'SELECT counts FROM "{schema}".campaigns WHERE id = %s', (campaign_id,)
        ).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row[0].items() if not k.startswith("_") and isinstance(v, int | float)}


def statuses(url: str, schema: str, campaign_id: int) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return dict(
            conn.execute(
                f'SELECT to_address, status FROM "{schema}".messages WHERE campaign_id = %s', (campaign_id,)
            ).fetchall()
        )
