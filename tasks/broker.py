"""The Taskiq broker every task module registers on (`taskiq worker tasks.broker:broker ...`).

It is built in `tenants.queues` (Redis when REDIS_URL is set, in-process otherwise), so that code
below `tasks/` can queue work by task name. Tasks take the tenant schema explicitly and open their own
tenant session (see tasks/*.py).
"""

from tenants.queues import broker

__all__ = ["broker"]
