"""Bulk mode: a tenant's first big import loads without most indexes and keys of the tables it fills
and rebuilds them at the end; what was dropped is saved in the job's checkpoint first, so a crash,
a failure or the next import of the tenant always brings it back."""

import json
import logging
import os
import re
import time
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import psycopg

from app.importing.pipeline.database import Db, connection
from app.importing.pipeline.plan import Plan
from app.search.word_order import order_words_sql
from app.settings import get_settings

log = logging.getLogger(__name__)

# A tenant's first big import (customers table empty) loads without the secondary indexes of
# customers/contacts and rebuilds them at the end: a sorted build costs a fraction of maintaining a
# dozen btree/GIN/trigram indexes row by row. Unique indexes (primary keys, the contacts dedupe key)
# stay; the contacts -> customers foreign key is dropped too and re-added NOT VALID + validated at the
# end (every contact written references a customer this import just wrote). The dropped definitions
# are committed in the job's checkpoint before anything is dropped: a crashed run is finished (and the
# indexes rebuilt) by the resume, and any other ending rebuilds them on the spot.
BULK_MIN_BYTES: int | None = None  # None: settings.import_bulk_min_bytes (32 MiB)
_BULK_TABLES = ("customers", "contacts", "customer_tags")
# Foreign keys checked row by row on the write path: contacts -> customers, customer_tags -> customers
# and -> tags (every imported tag row key-share-locks one of a handful of tags rows from two writer
# transactions at once, which turns each lock into a multixact update).
_BULK_FK_TABLES = ("contacts", "customer_tags")
# Primary keys dropped too: customer_tags' (customer_id, tag_id) costs far more maintained row by row
# during the COPY than re-added after it (docs/benchmarks.md, "pipeline design figures"). Every pair an
# import writes is unique (new customers only, in bulk mode); a pair another writer adds meanwhile is
# deduplicated before the key comes back (_drop_duplicate_tags).
_BULK_PK_TABLES = ("customer_tags",)
# With keep-first an import only ever inserts customers and contacts (no row of the file updates one
# an earlier batch wrote), so their primary keys can go as well: each row's btree insert, WAL record
# included, is a large share of the COPY, and the ids are presorted, so each key is re-added quickly
# (docs/benchmarks.md, "pipeline design figures"). Their ids come from the tables' sequences
# (reserve_ids, and nextval for anyone else's insert), so none can repeat meanwhile. Every foreign key
# that references them (interactions, notes, deals, ...) is dropped with them and re-added once the key
# is back; the tables were empty of references (no customer existed when bulk mode began).
_BULK_PK_TABLES_INSERT_ONLY = ("customers", "contacts", "customer_tags")


def _bulk_pk_tables(policy: str) -> tuple[str, ...]:
    return _BULK_PK_TABLES_INSERT_ONLY if policy == "keep-first" else _BULK_PK_TABLES


_ADD_FK = re.compile(r"^ALTER TABLE (\S+) ADD CONSTRAINT ")
# The contacts dedupe key is dropped too when every key reaches the insert at most once (see
# prepare_batch): maintaining it row by row was the largest single cost of a first import (random inserts
# into a btree, more than the rest of the contact insert). It is rebuilt first at the end.
CONTACTS_UNIQUE = "uq_contacts_kind_value"


def _bulk_unique(policy: str) -> tuple[str, ...]:
    return () if policy == "keep-last" else (CONTACTS_UNIQUE,)


_NOT_NULL_PREDICATE = re.compile(r" WHERE \((\w+) IS NOT NULL\)$")


def null_columns(plan: Plan) -> set[str]:
    """customers columns this import leaves NULL on every row it creates."""
    out = set()
    if not plan.columns("owner"):
        out.add("owner_id")
    if not plan.columns("wallet"):
        out.add("wallet_id")
    if not plan.columns("document"):
        out |= {"document", "source_key"}
    return out


def enter_bulk_mode(
    db: Db,
    schema: str,
    import_id: int,
    size: int,
    policy: str,
    null_columns: Collection[str] = (),
) -> list[list[str]]:
    if size < (BULK_MIN_BYTES if BULK_MIN_BYTES is not None else get_settings().import_bulk_min_bytes):
        return []
    try:
        db.run("SET LOCAL lock_timeout = '3s'")
        db.run(f"LOCK TABLE {db.s}.customers IN SHARE ROW EXCLUSIVE MODE")
        if db.one(f"SELECT EXISTS (SELECT 1 FROM {db.s}.customers)")[0]:
            db.conn.rollback()
            return []
        defs = [
            [name, ddl]
            for name, ddl in db.all(
                """
                SELECT c.relname, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                JOIN pg_class c ON c.oid = i.indexrelid
                JOIN pg_class t ON t.oid = i.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = %s AND t.relname = ANY(%s) AND NOT i.indisprimary
                  AND (NOT i.indisunique OR c.relname = ANY(%s))
                ORDER BY c.relname
                """,
                (schema, list(_BULK_TABLES), list(_bulk_unique(policy))),
            )
            # A partial index on "<column> IS NOT NULL" stays when the import leaves that column NULL
            # (owner_id without an owner column, wallet_id without a wallet column): no row enters it,
            # and a rebuild would still scan the whole table for nothing (the five owner list indexes
            # and the wallet one).
            if not ((m := _NOT_NULL_PREDICATE.search(ddl)) and m.group(1) in null_columns)
        ]
        # The foreign keys too: the per-row check (a key-share lock on the referenced row) cost as much
        # as the rest of the contact insert; they are re-added and validated in one pass each. Then the
        # primary keys of _bulk_pk_tables(), with every foreign key that references them (after the
        # foreign keys, in the saved order).
        pk_tables = list(_bulk_pk_tables(policy))
        defs += [
            [name, f'ALTER TABLE {db.s}."{table}" ADD CONSTRAINT "{name}" {definition}']
            for table, name, definition in db.all(
                """
                SELECT t.relname, k.conname, pg_get_constraintdef(k.oid)
                FROM pg_constraint k
                JOIN pg_class t ON t.oid = k.conrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                LEFT JOIN pg_class r ON r.oid = k.confrelid
                WHERE n.nspname = %s AND (
                    (k.contype = 'f' AND t.relname = ANY(%s) AND r.relname = ANY(%s))
                    OR (k.contype = 'f' AND r.relname = ANY(%s))
                    OR (k.contype = 'p' AND t.relname = ANY(%s)))
                ORDER BY k.contype = 'p', t.relname, k.conname
                """,
                (schema, list(_BULK_FK_TABLES), [*_BULK_TABLES, "tags"], pk_tables, pk_tables),
            )
        ]
        db.run(
            f"UPDATE {db.s}.import_jobs SET checkpoint = checkpoint || %s::jsonb WHERE id = %s",
            (json.dumps({"dropped_indexes": defs}), import_id),
        )
        for name, ddl in defs:
            if _is_constraint(ddl):
                db.run(f'ALTER TABLE {_fk_table(ddl)} DROP CONSTRAINT "{name}"')
            else:
                db.run(f'DROP INDEX {db.s}."{name}"')
        db.conn.commit()
    except psycopg.errors.LockNotAvailable:
        db.conn.rollback()
        return []
    log.info(
        "import %s in %s: bulk mode, %d secondary indexes rebuilt at the end", import_id, schema, len(defs)
    )
    return defs


def _drop_duplicate_contacts(conn: psycopg.Connection[Any], s: str, import_id: int) -> None:
    """Another writer added a phone/e-mail this import also wrote while the unique index was down (the
    import's own keys are unique): the other customer keeps it, this import's copy goes, and the log
    says so."""
    with conn.cursor() as cur:
        cur.execute(
            f"""
            DELETE FROM {s}.contacts c USING {s}.contacts o
            WHERE c.import_id = %s AND o.kind = c.kind AND o.value = c.value AND o.id <> c.id
              AND (o.import_id IS DISTINCT FROM %s OR o.id < c.id)
            """,
            (import_id, import_id),
        )
        log.warning(
            "import %s: %d contacts written concurrently elsewhere kept there", import_id, cur.rowcount
        )


def _is_constraint(ddl: str) -> bool:
    return ddl.startswith("ALTER TABLE ")


def _is_foreign_key(ddl: str) -> bool:
    return _is_constraint(ddl) and " FOREIGN KEY " in ddl


def _is_primary_key(ddl: str) -> bool:
    return _is_constraint(ddl) and " PRIMARY KEY " in ddl


def _drop_duplicate_tags(conn: psycopg.Connection[Any], s: str, import_id: int) -> None:
    """A (customer, tag) pair written twice while customer_tags' key was down (the import writes each
    pair once; a user may have tagged an imported customer meanwhile): one copy stays."""
    with conn.cursor() as cur:
        cur.execute(
            f"DELETE FROM {s}.customer_tags a USING {s}.customer_tags b "
            "WHERE a.customer_id = b.customer_id AND a.tag_id = b.tag_id AND a.ctid > b.ctid"
        )
        log.warning("import %s: %d tag pairs written twice meanwhile, one copy kept", import_id, cur.rowcount)


def _fk_table(ddl: str) -> str:
    """The (quoted, schema-qualified) table of a saved ADD CONSTRAINT statement."""
    match = _ADD_FK.match(ddl)
    if match is None:
        raise ValueError(f"not a saved foreign key: {ddl[:80]!r}")
    return match.group(1)


_INDEX_TABLE = re.compile(r" ON (?:ONLY )?(\S+) USING ")


def _table_of(ddl: str) -> str:
    """The bare table name a saved CREATE INDEX / ADD CONSTRAINT statement is about."""
    match = _INDEX_TABLE.search(ddl) if not _is_constraint(ddl) else _ADD_FK.match(ddl)
    if match is None:
        raise ValueError(f"not a saved index or foreign key: {ddl[:80]!r}")
    return match.group(1).rsplit(".", 1)[-1].strip('"')


# Statistics (and, for contacts, the visibility map) refreshed once a table is complete: fresh statistics
# keep the next import's lookups on the index, and a set visibility map makes the contact lookups
# index-only scans on the dedupe key (it carries customer_id, t0009), ~35% cheaper per probe.
# After customers' statistics, the words they now count as frequent get their name-ordered rows
# (`app.search.word_order`).
_MAINTENANCE = {"contacts": "VACUUM (ANALYZE) {t}", "customers": "ANALYZE {t}"}


def maintain_tables(db: Db, tables: tuple[str, ...] = tuple(_MAINTENANCE)) -> None:
    db.conn.commit()
    db.conn.autocommit = True
    try:
        for table in tables:
            db.run(_MAINTENANCE[table].format(t=f"{db.s}.{table}"))
            if table == "customers":
                db.run(order_words_sql(db.s.strip('"')))
    finally:
        db.conn.autocommit = False


# Two builds run side by side; each gets parallel workers only for cores beyond those two. On two cores a
# build's workers would only split its sort three ways, pass the runs through shared memory and merge
# them again in the leader: more CPU for the whole rebuild, at 500k and at 2M rows (measured).
_BUILD_HELPERS = max(0, (os.cpu_count() or 2) // 2 - 1)


def restore_indexes(db: Db, import_id: int, defs: list[list[str]], maintain: bool = False) -> None:
    """Rebuilds the dropped indexes and re-adds the dropped foreign keys (validated in one pass each),
    two tasks at a time on connections of their own, then forgets them.

    A table is finished (its foreign keys validated, with `maintain` its statistics refreshed) once its
    own indexes are built and no build is left to start: those statements lock out index builds on
    their own table only, so they run beside the last builds and beside each other, filling the
    rebuild's tail two at a time instead of one after another."""
    if not defs:
        return
    # The primary keys that dropped foreign keys reference (customers, contacts) come back first, side by
    # side; then every foreign key, NOT VALID: enforced for new rows at once, and added now because
    # ADD FOREIGN KEY locks the referenced table against index builds (SHARE ROW EXCLUSIVE), so later it
    # would queue behind a long build and hold up the builds queued behind it. Its validation, the costly
    # part, locks the referenced table only in ROW SHARE mode and runs in _finish_table().
    referenced = {m.group(1) for _, ddl in defs if _is_foreign_key(ddl) and (m := _REFERENCES.search(ddl))}
    keys = [d for d in defs if _is_primary_key(d[1]) and _table_of(d[1]) in referenced]
    with ThreadPoolExecutor(2, thread_name_prefix="import-index") as pool:
        for future in [pool.submit(_build, db, import_id, name, ddl) for name, ddl in keys]:
            future.result()
    for name, ddl in defs:
        if _is_foreign_key(ddl):
            _add_foreign_key(db, name, ddl)
    # Then the builds, the longest first (GIN, then the contacts indexes), the rest.
    builds = sorted(
        (d for d in defs if not _is_foreign_key(d[1]) and d not in keys),
        key=lambda d: (
            " USING gin " not in d[1],
            _table_of(d[1]) != "contacts",
            d[0] != CONTACTS_UNIQUE,
            d[0],
        ),
    )
    _build_then_finish(db, import_id, defs, builds, maintain)
    db.run(
        f"UPDATE {db.s}.import_jobs SET checkpoint = checkpoint - 'dropped_indexes' WHERE id = %s",
        (import_id,),
    )
    db.conn.commit()


def _build_then_finish(
    db: Db, import_id: int, defs: list[list[str]], builds: list[list[str]], maintain: bool
) -> None:
    """Runs `builds` two at a time and finishes each table as soon as its last build is done."""
    tables = sorted({_table_of(ddl) for _, ddl in defs} | (set(_MAINTENANCE) if maintain else set()))
    left = {t: sum(1 for _, ddl in builds if _table_of(ddl) == t) for t in tables}
    ready = [t for t in tables if left[t] == 0]
    running: dict[Future[None], str | None] = {}
    with ThreadPoolExecutor(2, thread_name_prefix="import-index") as pool:

        def launch() -> None:
            # Builds before finishes: the finishes then run side by side at the end, and the one that
            # must come last (customers' ANALYZE, after its last build) has the others beside it instead
            # of running alone.
            while len(running) < 2 and (ready or builds):
                if builds:
                    name, ddl = builds.pop(0)
                    running[pool.submit(_build, db, import_id, name, ddl)] = _table_of(ddl)
                else:
                    running[pool.submit(_finish_table, db, import_id, defs, maintain, ready.pop(0))] = None

        launch()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                table = running.pop(future)
                future.result()
                if table is not None:
                    left[table] -= 1
                    if left[table] == 0:
                        ready.append(table)
            launch()


def _build(db: Db, import_id: int, name: str, ddl: str) -> None:
    """One saved index or primary key, rebuilt on a connection of its own (idempotent for a resume)."""
    ddl = ddl.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
    ddl = ddl.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1)
    key = _is_constraint(ddl)  # a primary key: ADD CONSTRAINT builds its index
    started = time.monotonic()
    with connection() as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(f"SET max_parallel_maintenance_workers = {_BUILD_HELPERS}")
        if key and _constraint_exists(conn, _fk_table(ddl), name):  # a resume after it was added
            return
        try:
            conn.execute(ddl)
        except psycopg.errors.UniqueViolation:
            # Only keys that outsiders can duplicate while they are down: tag pairs, contacts. The
            # customers/contacts ids come from their sequences and never repeat.
            if key and _table_of(ddl) != "customer_tags":
                raise
            conn.rollback()
            (_drop_duplicate_tags if key else _drop_duplicate_contacts)(conn, db.s, import_id)
            conn.execute(ddl)
        conn.commit()
    log.info("import %s: index %s rebuilt in %.2fs", import_id, name, time.monotonic() - started)


def _finish_table(db: Db, import_id: int, defs: list[list[str]], maintain: bool, table: str) -> None:
    """Validates `table`'s re-added foreign keys and, with `maintain`, refreshes its statistics."""
    with connection() as conn:
        side = Db(conn, db.s.strip('"'))
        for name, ddl in defs:
            if _is_foreign_key(ddl) and _table_of(ddl) == table:
                validate_foreign_key(side, import_id, name, ddl)
        if maintain and table in _MAINTENANCE:
            maintain_tables(side, (table,))


def _constraint_exists(conn: psycopg.Connection[Any], table: str, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid "
        "WHERE t.oid = %s::regclass AND k.conname = %s",
        (table, name),
    ).fetchone()
    return row is not None


_REFERENCES = re.compile(r' REFERENCES (?:\S+\.)?"?(\w+)"?\(')


def _add_foreign_key(db: Db, name: str, ddl: str) -> None:
    """Re-adds a dropped foreign key NOT VALID (enforced for new rows; idempotent for a resume)."""
    if not _constraint_exists(db.conn, _fk_table(ddl), name):
        db.run(ddl + " NOT VALID")
    db.conn.commit()


def validate_foreign_key(db: Db, import_id: int, name: str, ddl: str) -> None:
    """Validated by one join (added NOT VALID first if it is not back yet). Rows come only from this
    import's own customers; a failed validation (an orphan from a concurrent hard delete) leaves the key
    enforced-but-unvalidated and is logged, not raised."""
    _add_foreign_key(db, name, ddl)
    try:
        # The validation is one anti join of the referencing column against the referenced key. Both
        # sides have their btree by now (referenced keys are rebuilt first, a table is finished after its
        # own builds), so a merge join reads two indexes in order. The planner's default, a hash join,
        # hashed the customer ids in batches and probed them at random: the one part of the rebuild
        # that grew much faster than the rows. One process each: the finishes already run two at a time.
        db.run("SET LOCAL enable_hashjoin = off")
        db.run("SET LOCAL max_parallel_workers_per_gather = 0")
        db.run(f'ALTER TABLE {_fk_table(ddl)} VALIDATE CONSTRAINT "{name}"')
        db.conn.commit()
    except psycopg.errors.ForeignKeyViolation:
        db.conn.rollback()
        log.exception("import %s: foreign key %s left NOT VALID", import_id, name)


def restore_for_dead_imports(db: Db, schema: str, import_id: int) -> None:
    """Gives the tenant back the keys and indexes a dead bulk import of it still has down, before this
    import runs: it would otherwise look its keys up without them (a scan per batch). The dead import,
    resumed later, goes on in normal mode (its checkpoint no longer lists anything dropped)."""
    others = db.all(
        f"SELECT id FROM {db.s}.import_jobs WHERE id <> %s AND checkpoint ? 'dropped_indexes' ORDER BY id",
        (import_id,),
    )
    db.conn.commit()
    for (other,) in others:
        if not db.one("SELECT pg_try_advisory_lock(hashtext(%s), %s)", (schema, other))[0]:
            db.conn.commit()
            continue  # alive (waiting for this tenant's slot): it restores them itself
        try:
            row = db.one(f"SELECT checkpoint FROM {db.s}.import_jobs WHERE id = %s", (other,))
            db.conn.commit()
            log.warning(
                "import %s in %s: restoring the keys dead import %s left down", import_id, schema, other
            )
            restore_indexes(db, other, saved_definitions(row[0] if row else None))
        finally:
            db.conn.rollback()
            db.run("SELECT pg_advisory_unlock(hashtext(%s), %s)", (schema, other))
            db.conn.commit()


def saved_definitions(checkpoint: Any) -> list[list[str]]:
    """What bulk mode dropped, as saved in the checkpoint (well-formed entries only)."""
    saved = checkpoint.get("dropped_indexes") if isinstance(checkpoint, dict) else None
    if not isinstance(saved, list):
        return []
    defs = [
        [item[0], item[1]]
        for item in saved
        if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
    ]
    if len(defs) != len(saved):
        log.error(
            "import checkpoint: %d of %d dropped definitions unreadable", len(saved) - len(defs), len(saved)
        )
    return defs
