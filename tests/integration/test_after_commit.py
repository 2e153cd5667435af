"""enqueue_after_commit: the task is queued only once the Session really commits, never after a
rollback, and the same way from async code, the server's thread pool and a plain thread (CLI)."""

import asyncio
import os
import threading

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from taskiq import InMemoryBroker

from app.after_commit import enqueue_after_commit, pending_kicks
from tenants.queues import QUEUE_NAME, broker

ran: list[tuple[str, int]] = []
done = threading.Event()


@broker.task(task_name="tests.after_commit_probe")
async def probe(label: str, n: int) -> None:
    ran.append((label, n))
    done.set()


@pytest.fixture(autouse=True)
def _clean() -> None:
    assert isinstance(broker, InMemoryBroker), "these tests run without REDIS_URL"
    ran.clear()
    done.clear()


def _session() -> Session:
    # The helper hooks every Session; a throw-away SQLite one keeps the test about the hook alone.
    return Session(create_engine("sqlite://"))


async def test_queued_only_after_commit() -> None:
    with _session() as db:
        db.exec(text("select 1"))
        enqueue_after_commit(db, probe, "a", 1)
        assert pending_kicks(db) == [("tests.after_commit_probe", ("a", 1), {})]
        db.flush()
        await asyncio.sleep(0.05)
        assert ran == []  # a flush is not a commit
        db.commit()
        assert pending_kicks(db) == []
    await asyncio.sleep(0.05)
    await broker.wait_all()
    assert ran == [("a", 1)]


async def test_dropped_after_rollback() -> None:
    with _session() as db:
        db.exec(text("select 1"))
        enqueue_after_commit(db, probe, "b", 2)
        db.rollback()
        assert pending_kicks(db) == []
        db.commit()  # a later commit does not resurrect it
    await asyncio.sleep(0.05)
    await broker.wait_all()
    assert ran == []


async def test_by_name_and_from_the_thread_pool() -> None:
    def write() -> None:
        with _session() as db:
            db.exec(text("select 1"))
            enqueue_after_commit(db, "tests.after_commit_probe", "c", 3)
            db.commit()

    await run_in_threadpool(write)
    await asyncio.sleep(0.05)
    await broker.wait_all()
    assert ran == [("c", 3)]


def test_from_a_plain_thread() -> None:
    # No event loop at all (the CLI): the job runs on a thread of its own.
    with _session() as db:
        db.exec(text("select 1"))
        enqueue_after_commit(db, probe, "d", 4)
        db.commit()
    assert done.wait(10)
    assert ran == [("d", 4)]


def test_kicks_from_a_plain_process_reach_redis_every_time(database_url: str, redis_url: str) -> None:
    """The CLI commits many times with REDIS_URL set: every kick must reach Redis, not only the first
    (a loop per kick bound the broker's pool to the first loop: "attached to a different loop")."""
    import json
    import subprocess
    import sys
    import uuid

    import redis

    marker = uuid.uuid4().hex
    script = f"""
import time
from sqlalchemy import text
from app.after_commit import _thread_kicks, enqueue_after_commit
from tenants.database import platform_session

for i in range(3):
    with platform_session() as db:
        db.exec(text("select 1"))
        enqueue_after_commit(db, "test.probe_by_name", "{marker}", i)
        db.commit()
    time.sleep(0.2)
deadline = time.monotonic() + 10
while _thread_kicks and time.monotonic() < deadline:
    time.sleep(0.05)
"""
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "could not queue" not in done.stderr, done.stderr
    r = redis.Redis.from_url(redis_url)
    ours = [raw for raw in r.lrange(QUEUE_NAME, 0, -1) if marker.encode() in raw]
    for raw in ours:
        r.lrem(QUEUE_NAME, 0, raw)
    assert sorted(json.loads(raw)["args"][1] for raw in ours) == [0, 1, 2]
