"""The raw-SQL helper: the pipeline's own psycopg connections (no ORM on this path), schema-qualified
statements, COPY of polars frames, the per-connection temporary tables and id reservation."""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
import psycopg

from tenants.database import engine
from tenants.naming import is_tenant_schema


class Db:
    """The pipeline's own psycopg connection, with schema-qualified SQL."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        if not is_tenant_schema(schema):
            raise ValueError(f"not a tenant schema: {schema!r}")
        self.conn = conn
        self.s = f'"{schema}"'
        self._sequences: dict[str, str] = {}

    def sequence(self, table: str) -> str:
        """The (quoted, qualified) identity sequence of `table`'s id, resolved once per connection."""
        if table not in self._sequences:
            name = self.one("SELECT pg_get_serial_sequence(%s, 'id')", (f"{self.s}.{table}",))[0]
            if name is None:
                raise LookupError(f"{self.s}.{table}.id has no sequence")
            self._sequences[table] = name
        return self._sequences[table]

    def one(self, sql: str, params: Any = None) -> Any:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def all(self, sql: str, params: Any = None) -> list[Any]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def run(self, sql: str, params: Any = None) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)

    def copy_frame(self, table: str, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        buf = io.BytesIO()
        frame.write_csv(buf, include_header=False, null_value="")
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)") as cp:
            view = buf.getbuffer()
            for start in range(0, len(view), 1 << 20):
                cp.write(view[start : start + (1 << 20)])


@contextmanager
def connection() -> Iterator[psycopg.Connection[Any]]:
    raw = engine().raw_connection()
    try:
        conn = raw.driver_connection
        assert isinstance(conn, psycopg.Connection)
        conn.rollback()
        # A killed import's statements in flight (an index build, a validation) would otherwise run to
        # their end before their backend notices the client is gone, holding the locks its resume needs.
        conn.execute("SET client_connection_check_interval = '1s'")
        conn.commit()
        yield conn
    finally:
        raw.close()


def setup_temp(db: Db) -> None:
    db.run(
        """
        CREATE TEMP TABLE IF NOT EXISTS imp_apply (
            cid bigint, is_new boolean, name text, document text, kind text, plan text, status text,
            wallet text, owner_id bigint, tags text, custom text, source_key text, fallback text,
            row_hash bigint, wallet_id bigint
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS imp_contacts (
            cid bigint, kind text, value text, label text, is_primary boolean
        ) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS imp_seen (id bigint) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS imp_tags (cid bigint, tag_id bigint, op text) ON COMMIT DELETE ROWS;
        """
    )


# Lookups probe the unique/btree indexes once per key, in key order (neighbouring keys share index
# pages). Left to itself the planner prefers hashing a sequential scan of the whole table for a batch
# of keys: cheaper for a small tenant, but a cost that grows with the tenant on every batch (the
# super-linear 2M-row import), so hash and merge joins are switched off for these statements only.
INDEX_PROBE = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"


def reserve_ids(db: Db, table: str, n: int) -> int:
    """The first of `n` consecutive fresh ids of `table` (customers, contacts), taken from the table's
    own identity sequence in one step; commits.

    One nextval per id, on the preparing thread, and one more per contact in COPY where each contact
    drew its id from the column default, added up over a large import. Instead
    ALTER SEQUENCE locks the sequence (an INSERT elsewhere that needs a value waits a few ms for the
    commit below; nobody gets a value twice), nextval takes the block's first value and setval moves
    past the block. ALTER SEQUENCE also makes these two transactional, so the block is handed out only
    once this transaction has committed, and nothing uses it before."""
    if n <= 0:
        return 0
    seq = db.sequence(table)
    db.run(f"ALTER SEQUENCE {seq} INCREMENT BY 1")  # the lock; identity sequences step by 1
    first = int(db.one(f"SELECT nextval('{seq}'::regclass)")[0])
    db.run(f"SELECT setval('{seq}'::regclass, %s)", (first + n - 1,))
    # Not waiting for the flush (two reservations per batch on the preparing thread) loses
    # nothing: WAL is written in order, so any later commit that could use or collide with the block
    # (the batch's own, or another session's insert) flushes this one first.
    db.run("SET LOCAL synchronous_commit = off")
    db.conn.commit()
    return first
