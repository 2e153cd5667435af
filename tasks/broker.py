"""The Taskiq broker: Redis when REDIS_URL is set, in-process otherwise (embedded mode, tests).

Tasks take the tenant schema explicitly and open their own tenant session (see tasks/*.py).
"""

from taskiq import AsyncBroker, InMemoryBroker

from app.settings import get_settings
from tenants.queues import QUEUE_NAME


def _make_broker() -> AsyncBroker:
    url = get_settings().redis_url
    if url:
        from taskiq_redis import ListQueueBroker, RedisAsyncResultBackend

        return ListQueueBroker(url=url, queue_name=QUEUE_NAME).with_result_backend(
            RedisAsyncResultBackend(redis_url=url, result_ex_time=3600)
        )
    return InMemoryBroker()


broker: AsyncBroker = _make_broker()
