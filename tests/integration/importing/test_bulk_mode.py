"""First big import into an empty tenant: secondary indexes and the contacts foreign key dropped,
restored identical (and validated) at the end, also after a failure, and by the resume after a worker
that died without cleaning up."""

import pytest
from sqlalchemy import text

from app.importing import jobs, pipeline, readers
from models.tenant import ImportJob
from tenants.database import session

HEAD = "Nome;Telefone 1;E-mail\n"


def index_defs(schema: str) -> list[str]:
    """Index definitions of customers/contacts, then the contacts foreign keys (with their validation)."""
    with session(schema) as db:
        rows = db.exec(
            text(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = :s "
                "AND tablename IN ('customers', 'contacts') ORDER BY indexname"
            ),
            params={"s": schema},
        ).all()
        fks = db.exec(
            text(
                "SELECT k.conname || ' ' || pg_get_constraintdef(k.oid) || ' valid=' || k.convalidated "
                "FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE n.nspname = :s AND t.relname = 'contacts' AND k.contype = 'f' ORDER BY k.conname"
            ),
            params={"s": schema},
        ).all()
    return [r[0] for r in rows] + [r[0] for r in fks]


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in the pipeline may catch it."""


def _job(tenant, storage, rows: int) -> int:  # type: ignore[no-untyped-def]
    path = storage.root / "bulk.csv"
    path.write_text(HEAD + "".join(f"C{i};119{i:08d};c{i}@x.com\n" for i in range(1, rows + 1)))
    with session(tenant.schema) as db:
        job = jobs.create_import(
            db, tenant.actor("admin"), jobs.ImportOptions(), local_path=path, storage=storage
        )
        db.commit()
        assert job.id is not None
        return job.id


def test_bulk_mode_rebuilds_the_same_indexes(tenant, storage, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pipeline, "BULK_MIN_BYTES", 0)
    before = index_defs(tenant.schema)
    import_id = _job(tenant, storage, 300)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert report["created"] == 300
    assert index_defs(tenant.schema) == before
    with session(tenant.schema) as db:
        job = db.get(ImportJob, import_id)
        assert job is not None and "dropped_indexes" not in job.checkpoint
    # A second import into the now non-empty tenant keeps its indexes.
    import_id2 = _job(tenant, storage, 10)
    assert pipeline.run(tenant.schema, import_id2, storage=storage)["unchanged"] == 10


def test_killed_worker_in_bulk_mode_is_finished_by_the_resume(tenant, storage, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pipeline, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)
    before = index_defs(tenant.schema)
    import_id = _job(tenant, storage, 400)
    real = pipeline.write_batch
    calls = {"n": 0}

    def dies(db, plan, prep):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise WorkerKilled()
        return real(db, plan, prep)

    monkeypatch.setattr(pipeline, "write_batch", dies)
    with pytest.raises(WorkerKilled):
        pipeline.run(tenant.schema, import_id, storage=storage)
    assert len(index_defs(tenant.schema)) < len(before)  # still dropped: nobody cleaned up
    monkeypatch.setattr(pipeline, "write_batch", real)
    report = pipeline.run(tenant.schema, import_id, storage=storage)  # the task is delivered again
    assert (report["read"], report["created"]) == (400, 400)
    assert index_defs(tenant.schema) == before


def test_failure_in_bulk_mode_restores_indexes(tenant, storage, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pipeline, "BULK_MIN_BYTES", 0)
    before = index_defs(tenant.schema)
    import_id = _job(tenant, storage, 50)

    def broken(db, plan, prep):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "write_batch", broken)
    with pytest.raises(RuntimeError):
        pipeline.run(tenant.schema, import_id, storage=storage)
    assert index_defs(tenant.schema) == before
