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
