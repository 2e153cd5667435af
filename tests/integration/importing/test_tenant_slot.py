"""Imports of one tenant run one at a time: a second one waits, queued, for the first (which may be in
bulk mode, without the keys the second one's lookups need), and can be cancelled while it waits."""

import threading
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from app.importing import jobs, pipeline
from app.importing.pipeline import orchestration
from models.tenant import Customer, ImportJob
from tenants.database import session
from tests.integration.importing.conftest import queue_import

CSV = "Nome;Telefone 1\n" + "".join(f"C{i};1198765{i:04d}\n" for i in range(20))


@pytest.fixture
def queued_job(tenant, storage, tmp_path) -> int:
    path = tmp_path / "clientes.csv"
    path.write_text(CSV)
    return queue_import(tenant, storage, path)


def _state(schema: str, import_id: int) -> str:
    with session(schema) as db:
        job = db.get(ImportJob, import_id)
        assert job is not None
        return job.state


def _customers(schema: str) -> int:
    with session(schema) as db:
        return int(db.exec(select(func.count()).select_from(Customer)).one())


def _run_in_thread(schema: str, import_id: int, storage: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.update(pipeline.run(schema, import_id, storage=storage)))
    thread.start()
    return thread, out


def test_a_second_import_waits_for_the_tenants_running_one(tenant, storage, queued_job, monkeypatch) -> None:
    monkeypatch.setattr(orchestration, "SLOT_POLL_S", 0.05)
    with pipeline.connection() as other:  # another import of the tenant holds the slot
        other.execute("SELECT pg_advisory_lock(hashtext(%s), 0)", (tenant.schema,))
        thread, report = _run_in_thread(tenant.schema, queued_job, storage)
        thread.join(1.0)
        assert thread.is_alive()
        assert _state(tenant.schema, queued_job) == "queued" and _customers(tenant.schema) == 0
        other.execute("SELECT pg_advisory_unlock(hashtext(%s), 0)", (tenant.schema,))
        other.commit()
    thread.join(30)
    assert report["created"] == 20 and _state(tenant.schema, queued_job) == "done"


def test_a_waiting_import_can_be_cancelled(tenant, storage, queued_job, monkeypatch) -> None:
    monkeypatch.setattr(orchestration, "SLOT_POLL_S", 0.05)
    with pipeline.connection() as other:
        other.execute("SELECT pg_advisory_lock(hashtext(%s), 0)", (tenant.schema,))
        thread, _ = _run_in_thread(tenant.schema, queued_job, storage)
        thread.join(0.5)
        with session(tenant.schema) as db:
            jobs.cancel(db, tenant.actor("admin"), queued_job)
            db.commit()
        thread.join(30)
        assert not thread.is_alive()
        other.rollback()
    assert _state(tenant.schema, queued_job) == "cancelled" and _customers(tenant.schema) == 0
