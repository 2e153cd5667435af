"""The task queue: the Taskiq broker (Redis when REDIS_URL is set, in-process otherwise: embedded mode,
tests) and its depth for the superadmin screen.

The broker lives here, below the domain, so services can queue work after a commit
(`app.after_commit.enqueue_after_commit`) without importing `tasks/`, which imports the services.
Task modules register on it through `tasks.broker` (the worker's entry point).
"""

from dataclasses import dataclass

from taskiq import AsyncBroker, InMemoryBroker

from app.settings import get_settings

QUEUE_NAME = "crm:tasks"


def _make_broker() -> AsyncBroker:
    url = get_settings().redis_url
    if url:
        from taskiq_redis import (  # function-level: only with REDIS_URL
            ListQueueBroker,
            RedisAsyncResultBackend,
        )

        return ListQueueBroker(url=url, queue_name=QUEUE_NAME).with_result_backend(
            RedisAsyncResultBackend(redis_url=url, result_ex_time=3600)
        )
    return InMemoryBroker()


broker: AsyncBroker = _make_broker()


@dataclass(frozen=True)
class QueueStats:
    backend: str
    pending: int | None


def queue_stats() -> QueueStats:
    url = get_settings().redis_url
    if not url:
        return QueueStats("in-process", None)
    import redis  # function-level: only with REDIS_URL

    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        return QueueStats("redis", int(client.llen(QUEUE_NAME)))  # type: ignore[arg-type]  # redis-py types llen as int | Awaitable[int]
    except redis.RedisError:
        return QueueStats("redis (indisponível)", None)


HEARTBEAT_KEY = "crm:workers:"
HEARTBEAT_TTL_S = 30


def heartbeat(worker_id: str, info: str) -> None:
    """A worker says it is alive (every ~10 s; the key expires after HEARTBEAT_TTL_S)."""
    url = get_settings().redis_url
    if not url:
        return
    import redis  # function-level: only with REDIS_URL

    redis.Redis.from_url(url, socket_timeout=1).set(HEARTBEAT_KEY + worker_id, info, ex=HEARTBEAT_TTL_S)


def workers_alive() -> list[dict[str, str]] | None:
    """The workers that sent a heartbeat in the last HEARTBEAT_TTL_S (None in embedded mode or when Redis
    cannot be read)."""
    url = get_settings().redis_url
    if not url:
        return None
    import redis  # function-level: only with REDIS_URL

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, decode_responses=True)
        keys = sorted(client.scan_iter(HEARTBEAT_KEY + "*", count=500))
        values: list[str | None] = list(client.mget(keys)) if keys else []  # type: ignore[arg-type]  # redis-py types mget as list | Awaitable
    except redis.RedisError:
        return None
    return [{"id": k.removeprefix(HEARTBEAT_KEY), "info": v or ""} for k, v in zip(keys, values, strict=True)]
