"""Dead imports (their run's lock free, or their heartbeat stale) are taken over and resumed; a resume
goes on in bulk mode only when it can do so efficiently, skips the file once every batch is written, and
when it cannot continue at all it gives the tenant its keys back and fails with a pt-BR reason.

The real processes killed with SIGKILL are in test_crash.py; here the kill is simulated in-process."""

from types import ModuleType

import psycopg
import pytest
from sqlalchemy import text

from app.importing import pipeline, readers, recovery
from app.importing.pipeline import batches, bulk, orchestration, writers
from models.tenant import ImportJob
from tenants.database import session
from tests.integration.importing.conftest import queue_import
from tests.integration.importing.test_bulk_mode import WorkerKilled, index_defs

HEAD = "Nome;Telefone 1;E-mail\n"


def _file(storage, rows: int, name: str = "bulk.csv"):
    path = storage.root / name
    path.write_text(HEAD + "".join(f"C{i};119{i:08d};c{i}@x.com\n" for i in range(1, rows + 1)))
    return path


def _set(schema: str, import_id: int, sql: str) -> None:
    with session(schema) as db:
        db.exec(
            text(f'UPDATE "{schema}".import_jobs SET {sql} WHERE id = :id'),
            params={"id": import_id},
        )
        db.commit()


PHONE_1 = "+5511900000001"  # row 1's phone


def _outsider(schema: str, kind: str, value: str) -> int:
    """A customer someone else creates meanwhile, with one contact; returns its id."""
    with session(schema) as db:
        insert = f"INSERT INTO \"{schema}\".customers (name, kind, status) VALUES ('Outro', 'PF', 'ativo')"
        cid = db.exec(text(insert + " RETURNING id")).one()[0]
        db.exec(
            text(f'INSERT INTO "{schema}".contacts (customer_id, kind, value) VALUES (:c, :k, :v)'),
            params={"c": cid, "k": kind, "v": value},
        )
        db.commit()
        return int(cid)


def _job(schema: str, import_id: int) -> ImportJob:
    with session(schema) as db:
        job = db.get(ImportJob, import_id)
        assert job is not None
        return job


def _holder(database_url: str, schema: str, import_id: int) -> psycopg.Connection:
    """A connection holding the import's lock, as a live run does."""
    conn = psycopg.connect(database_url, autocommit=True)
    conn.execute("SELECT pg_advisory_lock(hashtext(%s), %s)", (schema, import_id))
    return conn


def _kill_at(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, call: int = 1):
    """`module`.`name` raises WorkerKilled (SIGKILL: nothing may catch it) on its `call`-th call."""
    real = getattr(module, name)
    calls = {"n": 0}

    def dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise WorkerKilled()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, dies)
    return real


def test_dead_running_import_is_taken_over_and_says_so(tenant, storage, client, auth_headers) -> None:
    headers = auth_headers(tenant)
    import_id = queue_import(tenant, storage, _file(storage, 20))
    _set(tenant.schema, import_id, "state = 'running'")  # its process died: nobody holds the lock
    assert recovery.recover_tenant(tenant.schema) == [import_id]
    status = client.get(f"/api/imports/{import_id}/status", headers=headers).json()
    assert status["recovering"] is True
    assert status["state_label"] == "retomando após falha"
    assert (status["state"], status["recoveries"]) == ("queued", 1)
    # Taken over once: the fresh heartbeat keeps the next pass (another reaper) off it.
    assert recovery.recover_tenant(tenant.schema) == []
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert report["created"] == 20
    status = client.get(f"/api/imports/{import_id}/status", headers=headers).json()
    assert (status["state"], status["recovering"], status["state_label"]) == ("done", False, None)


def test_live_import_is_left_alone_until_its_heartbeat_stops(tenant, storage, database_url: str) -> None:
    import_id = queue_import(tenant, storage, _file(storage, 5))
    _set(tenant.schema, import_id, "state = 'running', heartbeat_at = now()")
    holder = _holder(database_url, tenant.schema, import_id)
    try:
        assert recovery.recover_tenant(tenant.schema) == []
        # Hung: the lock is held but the heartbeat stopped. Its backend is terminated, then taken over.
        _set(tenant.schema, import_id, "heartbeat_at = now() - interval '1 hour'")
        assert recovery.recover_tenant(tenant.schema) == []
        with pytest.raises(psycopg.OperationalError):
            holder.execute("SELECT 1")
        assert recovery.recover_tenant(tenant.schema) == [import_id]
    finally:
        holder.close()


def test_queued_import_waits_for_its_message_until_stale(tenant, storage) -> None:
    import_id = queue_import(tenant, storage, _file(storage, 5))
    assert recovery.recover_tenant(tenant.schema) == []  # its message may still be in the queue
    # At the embedded app's start nothing is in the in-process queue any more.
    assert recovery.recover_tenant(tenant.schema, queued_stale_s=0) == [import_id]
    # Taken over once: it is fresh again (every tenant's pass, as the scheduler runs it).
    assert (tenant.schema, import_id) not in recovery.recover_all()


def test_running_import_keeps_a_heartbeat(tenant, storage, monkeypatch) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 200)
    import_id = queue_import(tenant, storage, _file(storage, 50))
    seen = []
    real = writers.write_batch

    def spy(db, plan, prep):
        seen.append(_job(tenant.schema, import_id).heartbeat_at)
        return real(db, plan, prep)

    monkeypatch.setattr(writers, "write_batch", spy)
    pipeline.run(tenant.schema, import_id, storage=storage)
    assert seen and all(beat is not None for beat in seen)


@pytest.mark.parametrize("stage", ["validate_foreign_key", "maintain_tables"])
def test_resume_after_the_last_batch_goes_straight_to_the_rebuild(
    tenant, storage, monkeypatch, stage
) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    before = index_defs(tenant.schema)
    import_id = queue_import(tenant, storage, _file(storage, 300))
    real = _kill_at(monkeypatch, bulk, stage)
    with pytest.raises(WorkerKilled):
        pipeline.run(tenant.schema, import_id, storage=storage)
    assert _job(tenant.schema, import_id).checkpoint["phase"] == "rebuild"
    monkeypatch.setattr(bulk, stage, real)

    def no_reading(*args, **kwargs):
        raise AssertionError("the file is read again")

    monkeypatch.setattr(readers, "iter_batches", no_reading)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert (report["read"], report["created"]) == (300, 300)
    assert index_defs(tenant.schema) == before


def test_bulk_resume_replays_without_probing_the_dropped_key(
    tenant, make_tenant, storage, monkeypatch
) -> None:
    """The replay's lookups come from one read of the contacts, not from a probe per batch (a scan of
    contacts each, with the dedupe key down); the import goes on in bulk mode."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)
    before = index_defs(tenant.schema)
    path = storage.root / "dups.csv"
    # Every 7th row repeats an earlier row's phone: the replay must find those customers again.
    path.write_text(
        HEAD + "".join(f"C{i};119{(i if i % 7 else i // 7):08d};c{i}@x.com\n" for i in range(1, 401))
    )
    other = make_tenant()
    reference = pipeline.run(other.schema, queue_import(other, storage, path), storage=storage)
    import_id = queue_import(tenant, storage, path)
    real = _kill_at(monkeypatch, writers, "write_batch", 4)
    with pytest.raises(WorkerKilled):
        pipeline.run(tenant.schema, import_id, storage=storage)
    monkeypatch.setattr(writers, "write_batch", real)

    def no_probe(*args, **kwargs):
        raise AssertionError("contacts probed without their unique key")

    monkeypatch.setattr(batches, "lookup_existing", no_probe)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    timing = ("duration_s", "elapsed_s", "rate", "eta_s", "progress", "rows_read")
    assert {k: v for k, v in report.items() if k not in timing} == {
        k: v for k, v in reference.items() if k not in timing
    }
    assert (report["read"], report["created"], report["duplicates"]) == (400, 351, 49)
    assert index_defs(tenant.schema) == before

    def contacts(schema: str) -> list[tuple[str, str, str]]:
        with session(schema) as db:
            return db.exec(
                text(
                    f'SELECT c.name, k.kind, k.value FROM "{schema}".contacts k '
                    f'JOIN "{schema}".customers c ON c.id = k.customer_id ORDER BY 1, 2, 3'
                )
            ).all()

    assert contacts(tenant.schema) == contacts(other.schema)


def test_contacts_written_meanwhile_resume_in_normal_mode(tenant, storage, monkeypatch) -> None:
    """Someone added a contact while the keys were down: the resume restores keys and indexes first
    (looking keys up without them would scan contacts per batch) and goes on in normal mode."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)
    before = index_defs(tenant.schema)
    import_id = queue_import(tenant, storage, _file(storage, 400))
    real = _kill_at(monkeypatch, writers, "write_batch", 3)
    with pytest.raises(WorkerKilled):
        pipeline.run(tenant.schema, import_id, storage=storage)
    monkeypatch.setattr(writers, "write_batch", real)
    s = tenant.schema
    _outsider(s, "email", "x@y.com")
    seen: list[bool] = []
    real_prepare = batches.prepare_batch

    def spy(ctx, *args, **kwargs):
        seen.append(ctx.contacts_unindexed)
        return real_prepare(ctx, *args, **kwargs)

    monkeypatch.setattr(batches, "prepare_batch", spy)
    report = pipeline.run(tenant.schema, import_id, storage=storage)
    assert (report["read"], report["created"]) == (400, 400)
    assert seen and not any(seen)
    assert index_defs(tenant.schema) == before


@pytest.mark.parametrize("why", ["file gone", "corrupt checkpoint"])
def test_impossible_resume_restores_the_keys_and_fails(tenant, storage, monkeypatch, why) -> None:
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)
    before = index_defs(tenant.schema)
    import_id = queue_import(tenant, storage, _file(storage, 400))
    _kill_at(monkeypatch, writers, "write_batch", 3)
    with pytest.raises(WorkerKilled):
        pipeline.run(tenant.schema, import_id, storage=storage)
    s = tenant.schema
    # Meanwhile, with the dedupe key down, someone gave another customer a phone the import wrote.
    cid = _outsider(s, "phone", PHONE_1)
    job = _job(s, import_id)
    if why == "file gone":
        storage.delete(job.storage_key)
    else:
        _set(s, import_id, 'checkpoint = checkpoint || \'{"resume": "abc"}\'::jsonb')
    assert recovery.recover_tenant(s) == [import_id]
    pipeline.run(s, import_id, storage=storage)
    job = _job(s, import_id)
    assert job.state == "failed"
    assert job.error == (
        "Arquivo não encontrado no armazenamento."
        if why == "file gone"
        else "O ponto de retomada da importação está corrompido."
    )
    assert index_defs(tenant.schema) == before
    with session(s) as db:
        owners = db.exec(
            text(f"SELECT customer_id FROM \"{s}\".contacts WHERE kind = 'phone' AND value = :v"),
            params={"v": PHONE_1},
        ).all()
    assert owners == [(cid,)]  # reconciled: the other customer keeps it, the import's copy went


def test_next_import_restores_the_keys_a_dead_one_left_down(tenant, storage, monkeypatch) -> None:
    """Another import of the tenant, started before the dead one was resumed, gets the keys back first
    (it would look its keys up without them); the dead one then resumes in normal mode."""
    monkeypatch.setattr(bulk, "BULK_MIN_BYTES", 0)
    monkeypatch.setattr(readers, "BLOCK_BYTES", 1500)
    before = index_defs(tenant.schema)
    dead = queue_import(tenant, storage, _file(storage, 400))
    real = _kill_at(monkeypatch, writers, "write_batch", 3)
    with pytest.raises(WorkerKilled):
        pipeline.run(tenant.schema, dead, storage=storage)
    monkeypatch.setattr(writers, "write_batch", real)
    assert index_defs(tenant.schema) != before
    seen: list[list[str]] = []
    real_lookup = batches.lookup_existing

    def spy(db, keys, import_id):
        seen.append(index_defs(tenant.schema))
        return real_lookup(db, keys, import_id)

    monkeypatch.setattr(batches, "lookup_existing", spy)
    second = queue_import(tenant, storage, _file(storage, 30, "second.csv"), source="outra")
    assert pipeline.run(tenant.schema, second, storage=storage)["unchanged"] == 30
    assert seen and all(defs == before for defs in seen)
    assert "dropped_indexes" not in _job(tenant.schema, dead).checkpoint
    report = pipeline.run(tenant.schema, dead, storage=storage)
    assert (report["read"], report["created"], report["duplicates"]) == (400, 400, 0)
    assert index_defs(tenant.schema) == before


def test_embedded_app_resumes_dead_imports_at_start(tenant, storage, monkeypatch) -> None:
    """No worker, no scheduler: the app's own loop (tasks.imports.recover_loop) takes over, at its start,
    the imports that died with the previous process, queued ones included, and runs them in-process."""
    import asyncio

    from tasks.imports import recover_loop

    monkeypatch.setattr(orchestration, "get_storage", lambda: storage)
    running = queue_import(tenant, storage, _file(storage, 20))
    _set(tenant.schema, running, "state = 'running'")
    queued = queue_import(tenant, storage, _file(storage, 10, "other.csv"), source="outra")

    async def start_app() -> None:
        loop = asyncio.create_task(recover_loop(interval=3600))
        for _ in range(300):
            await asyncio.sleep(0.1)
            if {_job(tenant.schema, i).state for i in (running, queued)} == {"done"}:
                break
        loop.cancel()

    asyncio.run(start_app())
    assert _job(tenant.schema, running).state == "done"
    assert _job(tenant.schema, queued).state == "done"
    # Both ran (one after the other, in either order: the tenant's import slot): every row read.
    assert (_job(tenant.schema, running).report["read"], _job(tenant.schema, queued).report["read"]) == (
        20,
        10,
    )
