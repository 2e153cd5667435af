"""Orchestration: run (or resume) one import under its locks, from the checkpoint to the report.

Per batch (one transaction, committed with the checkpoint, so a crashed worker resumes from the
last committed batch with no row lost or counted twice): read a block, look it up one batch ahead
(batches.look_up), prepare it (batches.prepare_batch), hand it to the ordered writers; at the end
rebuild what bulk mode dropped and record the report.
"""

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from app.errors import DomainError
from app.importing import readers
from app.importing.pipeline import batches, bulk, writers
from app.importing.pipeline.batches import Context, Looked
from app.importing.pipeline.database import Db, connection, setup_temp
from app.importing.pipeline.keymap import SPILL_TABLE, KeyMap, State
from app.importing.pipeline.plan import Plan
from app.importing.recovery import Heartbeat
from app.importing.report import Counters
from app.search import sync as search_sync
from app.storage import Storage, get_storage
from app.text import fold_words

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """The user asked the import to stop: raised between batches, committed batches stay."""


def _load_plan(db: Db, schema: str, import_id: int) -> tuple[Plan, dict[str, Any]]:
    row = db.one(
        f"SELECT source, mapping, options, state, checkpoint, storage_key, file_size, filename "
        f"FROM {db.s}.import_jobs WHERE id = %s",
        (import_id,),
    )
    if row is None:
        raise LookupError(f"import {import_id} not found in {schema}")
    source, mapping, options, state, checkpoint, storage_key, file_size, filename = row
    headers = list(options["headers"])
    by_index = {
        f"c{headers.index(col)}": fld for col, fld in mapping.items() if fld != "ignore" and col in headers
    }
    plan = Plan(
        import_id=import_id,
        schema=schema,
        source=source,
        policy=options.get("dedupe", "keep-first"),
        default_ddd=options.get("default_ddd") or None,
        mapping=by_index,
        headers=headers,
    )
    return plan, {
        "state": state,
        "checkpoint": checkpoint or {},
        "options": options,
        "storage_key": storage_key,
        "file_size": file_size,
        "filename": filename,
    }


def _owners(db: Db, schema: str) -> dict[str, int]:
    rows = db.all(
        "SELECT u.id, lower(u.email), u.name FROM platform.users u "
        "JOIN platform.tenants t ON t.id = u.tenant_id WHERE t.schema_name = %s",
        (schema,),
    )
    out: dict[str, int] = {}
    for uid, email, name in rows:
        out[email] = uid
        if name:
            out.setdefault(name.lower(), uid)
            out.setdefault(fold_words(name), uid)
    return out


def run(
    schema: str,
    import_id: int,
    storage: Storage | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) import `import_id` of tenant `schema` to completion; returns the report."""
    storage = storage or get_storage()
    with connection() as conn:
        db = Db(conn, schema)
        lock = db.one("SELECT pg_try_advisory_lock(hashtext(%s), %s)", (schema, import_id))[0]
        conn.commit()
        if not lock:
            log.info("import %s in %s is already running elsewhere", import_id, schema)
            return {}
        try:
            with Heartbeat(schema, import_id):
                report = _run_with_slot(db, schema, import_id, storage, on_progress)
        finally:
            conn.rollback()
            db.run("SELECT pg_advisory_unlock(hashtext(%s), %s)", (schema, import_id))
            conn.commit()
    # The pipeline writes with raw SQL, outside any Session: rebuild the external index (if any).
    if (report.get("created") or report.get("updated")) and search_sync.external_index_enabled():
        search_sync.dispatch(schema, None)
    return report


def _run_with_slot(
    db: Db,
    schema: str,
    import_id: int,
    storage: Storage,
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    """The import under the tenant's import slot (one import per tenant at a time)."""
    if not _take_tenant_slot(db, schema, import_id):
        return _stop(db, import_id, "cancelled", None)
    try:
        return _run_locked(db, schema, import_id, storage, on_progress)
    finally:
        db.conn.rollback()
        # The key map's temporary table (if it spilled) would outlive the import on this pooled
        # connection, with the tenant's keys in it.
        db.run(f"DROP TABLE IF EXISTS {SPILL_TABLE}")
        db.run("SELECT pg_advisory_unlock(hashtext(%s), %s)", (schema, _TENANT_SLOT))
        db.conn.commit()


# Imports of one tenant run one at a time. Two at once would each miss the other's uncommitted keys
# (a phone both files have ends up on one customer, the other customer without it), and a first big
# import runs in bulk mode, without the contacts dedupe key and the primary keys the other import's
# lookups and ON CONFLICT need. The slot is a session advisory lock (key 0: import ids start at 1), so
# a crashed worker's slot is freed with its connection; a waiting import stays queued and can be
# cancelled.
_TENANT_SLOT = 0
SLOT_POLL_S = 1.0


def _take_tenant_slot(db: Db, schema: str, import_id: int) -> bool:
    """Waits for the tenant's import slot; False when the import was cancelled while it waited."""
    waited = False
    while True:
        got = db.one("SELECT pg_try_advisory_lock(hashtext(%s), %s)", (schema, _TENANT_SLOT))[0]
        cancel = db.one(f"SELECT cancel_requested FROM {db.s}.import_jobs WHERE id = %s", (import_id,))
        db.conn.commit()
        if got:
            return True
        if cancel is None or cancel[0]:
            return False
        if not waited:
            log.info("import %s in %s waits for the tenant's running import", import_id, schema)
            waited = True
        time.sleep(SLOT_POLL_S)


_CORRUPT_CHECKPOINT = "O ponto de retomada da importação está corrompido."


def _check_checkpoint(checkpoint: Any) -> dict[str, Any]:
    """The checkpoint a resume starts from, or DomainError (pt-BR) when it cannot be trusted."""
    if not isinstance(checkpoint, dict):
        raise DomainError(_CORRUPT_CHECKPOINT)
    for key in ("resume", "next_line"):
        value = checkpoint.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise DomainError(_CORRUPT_CHECKPOINT)
    if not isinstance(checkpoint.get("elapsed", 0.0), int | float):
        raise DomainError(_CORRUPT_CHECKPOINT)
    if checkpoint.get("phase") not in (None, "rebuild"):
        raise DomainError(_CORRUPT_CHECKPOINT)
    try:
        Counters.from_dict(checkpoint.get("counters", {}))
    except (TypeError, ValueError, AttributeError) as exc:
        raise DomainError(_CORRUPT_CHECKPOINT) from exc
    return checkpoint


def _run_locked(
    db: Db,
    schema: str,
    import_id: int,
    storage: Storage,
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    row = db.one(f"SELECT state, checkpoint FROM {db.s}.import_jobs WHERE id = %s", (import_id,))
    if row is None:
        raise LookupError(f"import {import_id} not found in {schema}")
    # Read before anything else can fail: whatever happens next, what bulk mode dropped comes back.
    # Kept up to date in place by the steps below, so each ending restores what is down at that moment.
    dropped: list[list[str]] = bulk.saved_definitions(row[1])
    if row[0] in ("done", "failed", "cancelled"):
        db.conn.rollback()
        bulk.restore_indexes(db, import_id, dropped)
        return dict(db.one(f"SELECT report FROM {db.s}.import_jobs WHERE id = %s", (import_id,))[0] or {})
    db.run(
        f"UPDATE {db.s}.import_jobs SET state = 'running', started_at = COALESCE(started_at, now()), "
        "updated_at = now(), error = NULL WHERE id = %s",
        (import_id,),
    )
    db.conn.commit()
    try:
        return _run_from_checkpoint(db, schema, import_id, storage, on_progress, dropped)
    except Cancelled:
        db.conn.rollback()
        bulk.restore_indexes(db, import_id, dropped)
        return _stop(db, import_id, "cancelled", None)
    except DomainError as exc:
        # Nothing to resume from (file gone, checkpoint corrupt): the tenant gets its keys back now, the
        # duplicates written meanwhile reconciled, and the job fails with the reason.
        db.conn.rollback()
        bulk.restore_indexes(db, import_id, dropped)
        return _stop(db, import_id, "failed", exc.message)
    except Exception:
        db.conn.rollback()
        try:
            bulk.restore_indexes(db, import_id, dropped)
        except Exception:  # the original error matters more; the next run restores them
            db.conn.rollback()
            log.exception("import %s in %s: index rebuild after failure failed", import_id, schema)
        log.exception("import %s in %s failed", import_id, schema)
        _stop(
            db, import_id, "failed", "Falha inesperada na importação; as partes já gravadas foram mantidas."
        )
        raise


def _run_from_checkpoint(
    db: Db,
    schema: str,
    import_id: int,
    storage: Storage,
    on_progress: Callable[[dict[str, Any]], None] | None,
    dropped: list[list[str]],
) -> dict[str, Any]:
    """The running import from its checkpoint (none: the start) to its report; `dropped` is updated in
    place as bulk mode drops and restores."""
    started = time.monotonic()
    bulk.restore_for_dead_imports(db, schema, import_id)
    plan, job = _load_plan(db, schema, import_id)
    checkpoint = _check_checkpoint(job["checkpoint"])
    elapsed_before = float(checkpoint.get("elapsed", 0.0))
    rebuilding = checkpoint.get("phase") == "rebuild"  # every batch committed before the crash
    if checkpoint.get("resume") is None and not rebuilding and not dropped:
        dropped[:] = bulk.enter_bulk_mode(
            db, schema, import_id, int(job["file_size"] or 0), plan.policy, bulk.null_columns(plan)
        )
    ctx = _context(db, plan, checkpoint, dropped, rebuilding)
    if not rebuilding:
        _read_and_write(ctx, schema, storage, job, checkpoint, (started, elapsed_before), on_progress)
    maintained = bool(dropped)
    bulk.restore_indexes(db, import_id, dropped, maintain=True)
    dropped.clear()
    counters = ctx.state.counters
    # A re-import that created and changed nothing (the usual weekly export) leaves the statistics
    # and the visibility map as they were: no VACUUM/ANALYZE for nothing.
    if not maintained and (counters.created or counters.updated):
        bulk.maintain_tables(db)
    report = counters.to_dict()
    report["duration_s"] = round(elapsed_before + time.monotonic() - started, 3)
    report["progress"] = 1.0
    db.run(
        f"UPDATE {db.s}.import_jobs SET state = 'done', report = %s, bytes_read = file_size, "
        "finished_at = now(), updated_at = now() WHERE id = %s",
        (json.dumps(report), import_id),
    )
    db.conn.commit()
    log.info(
        "import %s in %s done: %s rows in %.1fs", import_id, schema, report["read"], report["duration_s"]
    )
    return report


def _context(
    db: Db, plan: Plan, checkpoint: dict[str, Any], dropped: list[list[str]], rebuilding: bool
) -> Context:
    """What every batch of the run shares: the plan, the dedupe state from the checkpoint, the tenant's
    users and what the database already holds."""
    import_id, schema = plan.import_id, plan.schema
    setup_temp(db)
    # Contacts or documents the tenant had before this import: the batches must look their keys up.
    lookup_db = bool(
        db.one(
            f"SELECT EXISTS (SELECT 1 FROM {db.s}.contacts WHERE import_id IS DISTINCT FROM %s) "
            f"OR EXISTS (SELECT 1 FROM {db.s}.customers WHERE document IS NOT NULL "
            "AND import_id IS DISTINCT FROM %s)",
            (import_id, import_id),
        )[0]
    )
    db.conn.commit()
    if dropped and not rebuilding and lookup_db:
        # Someone wrote contacts while the keys were down: the remaining batches must look keys up in
        # the database, which without the dedupe key is a scan per batch. Keys and indexes come back
        # first (duplicates reconciled), and the import goes on in normal mode.
        log.warning("import %s in %s: resuming in normal mode, keys restored first", import_id, schema)
        bulk.restore_indexes(db, import_id, dropped)
        dropped.clear()
    return Context(
        db=db,
        plan=plan,
        state=State(
            counters=Counters.from_dict(checkpoint.get("counters", {})), seen_keys=KeyMap(spill_to=db)
        ),
        owners=_owners(db, schema) if plan.columns("owner") else {},
        wallets={},
        lookup_db=lookup_db,
        contacts_unindexed=any(name == bulk.CONTACTS_UNIQUE for name, _ in dropped),
        bulk_mode=bool(dropped),
        lookup_source=bool(
            db.one(
                f"SELECT EXISTS (SELECT 1 FROM {db.s}.customers WHERE source = %s "
                "AND import_id IS DISTINCT FROM %s)",
                (plan.source, import_id),
            )[0]
        ),
    )


def _read_and_write(
    ctx: Context,
    schema: str,
    storage: Storage,
    job: dict[str, Any],
    checkpoint: dict[str, Any],
    timing: tuple[float, float],
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Reads the file from the checkpoint on, writes every batch, then records the rebuild phase."""
    db, plan, import_id = ctx.db, ctx.plan, ctx.plan.import_id
    if ctx.lookup_source and plan.columns("document"):
        ctx.source_map = batches.load_source_map(db, plan.source, import_id)
    db.conn.commit()
    started, elapsed_before = timing
    with storage.open_local(job["storage_key"]) as path:
        info = readers.info_from_options(path, job["options"])
        resume = checkpoint.get("resume")
        if resume is not None:
            if ctx.contacts_unindexed:
                ctx.replay_contacts = batches.contacts_snapshot(db)
            if ctx.bulk_mode:
                ctx.replay_documents = batches.documents_snapshot(db)
            db.conn.commit()
            _replay(ctx, path, info, int(resume))
            ctx.replay_contacts = ctx.replay_documents = None
        in_file = readers.iter_batches(path, info, resume, checkpoint.get("next_line"))
        timing_of_file = (started, elapsed_before, info.size)
        with (
            writers.Writers(ctx, schema, writers.WRITERS, timing_of_file, on_progress) as writing,
            _ahead(ctx, schema, in_file) as looked_batches,
        ):
            for index, (batch, looked) in enumerate(looked_batches):
                writing.raise_if_failed()
                if db.one(f"SELECT cancel_requested FROM {db.s}.import_jobs WHERE id = %s", (import_id,))[0]:
                    writing.drain()
                    raise Cancelled()
                prep = batches.prepare_batch(
                    ctx, batch.frame, batch.errors, dry=False, index=index, looked=looked
                )
                db.conn.commit()  # lookups and id allocation only: keep no transaction open
                prep.resume, prep.next_line, prep.bytes_read = (
                    batch.resume,
                    batch.next_line,
                    batch.bytes_read,
                )
                writing.submit(prep)
            writing.drain()
        _finish_missing(ctx)
    # Every row is written: a crash from here on (index rebuild, key validation, VACUUM/ANALYZE) resumes
    # straight at the rebuild, without reading the file again.
    db.run(
        f"UPDATE {db.s}.import_jobs SET checkpoint = checkpoint || %s::jsonb WHERE id = %s",
        (
            json.dumps(
                {
                    "phase": "rebuild",
                    "counters": ctx.state.counters.to_dict(),
                    "elapsed": elapsed_before + time.monotonic() - started,
                }
            ),
            import_id,
        ),
    )
    db.conn.commit()


@contextmanager
def _ahead(
    ctx: Context, schema: str, in_file: Iterator[readers.Batch]
) -> Iterator[Iterator[tuple[readers.Batch, Looked]]]:
    """Reads and looks up the next batch on a thread of its own (own connection) while the caller
    prepares the current one. At most one batch waits ready: memory stays flat. Errors of the reader
    or the lookups come out of the iteration; leaving the block stops the thread."""
    ready: queue.Queue[tuple[readers.Batch, Looked] | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: tuple[readers.Batch, Looked] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with (
                connection() as conn,
                connection() as side_conn,
                ThreadPoolExecutor(1, thread_name_prefix="import-lookup") as pool,
            ):
                db, side = Db(conn, schema), (pool, Db(side_conn, schema))
                for batch in in_file:
                    if not put(
                        (batch, batches.look_up(ctx, db, batch.frame, batch.errors, dry=False, side=side))
                    ):
                        return
            put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)

    def consume() -> Iterator[tuple[readers.Batch, Looked]]:
        while True:
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    thread = threading.Thread(target=produce, name="import-lookahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


def _stop(db: Db, import_id: int, state: str, error: str | None) -> dict[str, Any]:
    db.run(
        f"UPDATE {db.s}.import_jobs SET state = %s, error = %s, finished_at = now(), updated_at = now(), "
        "report = report || jsonb_build_object('state', %s::text) WHERE id = %s",
        (state, error, state, import_id),
    )
    db.conn.commit()
    return dict(db.one(f"SELECT report FROM {db.s}.import_jobs WHERE id = %s", (import_id,))[0] or {})


def _replay(ctx: Context, path: Path, info: readers.FileInfo, resume: int) -> None:
    """Rebuilds the in-file dedupe state for the part committed before a crash (no writes)."""
    for batch in readers.iter_batches(path, info, None, None):
        if batch.frame.height:
            frame = batch.frame
            batches.prepare_batch(ctx, frame, [], dry=True)
        if batch.resume >= resume:
            break


def _finish_missing(ctx: Context) -> None:
    """Customers of this source that this version of the file no longer has (reported, never deleted)."""
    if not ctx.lookup_source:
        return
    db = ctx.db
    cids = ctx.state.cids()
    db.copy_frame("imp_seen", pl.DataFrame({"id": cids.unique()}))
    rows = db.all(
        f"""
        SELECT c.id, c.name FROM {db.s}.customers c
        WHERE c.source = %s AND c.deleted_at IS NULL AND c.import_id IS DISTINCT FROM %s
          AND NOT EXISTS (SELECT 1 FROM imp_seen s WHERE s.id = c.id)
        ORDER BY c.id
        """,
        (ctx.plan.source, ctx.plan.import_id),
    )
    ctx.state.counters.missing = len(rows)
    ctx.state.counters.missing_sample = [{"id": i, "name": n} for i, n in rows[:20]]
    db.conn.commit()
