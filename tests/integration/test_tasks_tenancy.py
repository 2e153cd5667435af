import pytest

from app.platform import admin
from tasks.tenancy import TenantInactive, require_active
from tenants.database import platform_session
from tenants.queues import queue_stats


def test_tasks_refuse_suspended_or_unknown_tenants(tenant) -> None:
    assert require_active(tenant.schema).slug == tenant.slug
    with platform_session() as db:
        admin.set_status(db, None, tenant.slug, "suspended")
        db.commit()
    with pytest.raises(TenantInactive):
        require_active(tenant.schema)
    with pytest.raises(TenantInactive):
        require_active("t_zzzzzz")
    with pytest.raises(TenantInactive):
        require_active("public")


def test_queue_stats_reads_redis(monkeypatch, redis_url) -> None:
    import redis

    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "redis_url", redis_url)
    client = redis.Redis.from_url(redis_url)
    client.delete("crm:tasks")
    client.rpush("crm:tasks", "a", "b")
    try:
        stats = queue_stats()
        assert (stats.backend, stats.pending) == ("redis", 2)
    finally:
        client.delete("crm:tasks")
    monkeypatch.setattr(get_settings(), "redis_url", None)
    assert queue_stats().backend == "in-process"


async def test_task_wrappers_skip_suspended_tenants(tenant) -> None:
    from tasks.crm import reindex_search, run_bulk
    from tasks.imports import run_import

    with platform_session() as db:
        admin.set_status(db, None, tenant.slug, "suspended")
        db.commit()
    assert await run_bulk.original_func(tenant.schema, 1) == {"state": "skipped"}
    assert await reindex_search.original_func(tenant.schema) == 0
    assert await run_import.original_func(tenant.schema, 1) == {"state": "skipped"}
