"""Queue depth for the superadmin screen: Redis list length, or 'in-process' in embedded mode."""

from dataclasses import dataclass

from app.settings import get_settings

QUEUE_NAME = "crm:tasks"


@dataclass(frozen=True)
class QueueStats:
    backend: str
    pending: int | None


def queue_stats() -> QueueStats:
    url = get_settings().redis_url
    if not url:
        return QueueStats("in-process", None)
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        return QueueStats("redis", int(client.llen(QUEUE_NAME)))  # type: ignore[arg-type]
    except redis.RedisError:
        return QueueStats("redis (indisponível)", None)
