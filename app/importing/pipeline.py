"""The import task: stream the file in batches, normalise, dedupe, write set-based, report.

Per batch (one transaction, committed with the checkpoint, so a crashed worker resumes from the
last committed batch with no row lost or counted twice):
  read block -> normalise in polars -> group rows that share a phone/e-mail (within the batch, with
  earlier batches of the file, with existing customers through the contacts unique index) ->
  COPY the customers to write and their contacts into temp tables -> INSERT new customers,
  UPDATE matched ones (diff computed in SQL, timeline row per updated customer), INSERT contacts
  ON CONFLICT DO NOTHING -> COPY the per-line issues -> checkpoint.

No ORM objects on this path: this runs on its own psycopg connection and commits per batch (the
task path is the one place allowed to commit on its own).

Timeline: a created customer carries `customers.import_id` (the import that created it) and the
timeline derives its "criado pela importação #N" entry from it; an updated customer gets an
`interactions` row kind="import" with the changed fields. Writing 500k interaction rows for creations
would cost seconds the performance target does not have.
"""

import io
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql as psql

from app.errors import DomainError
from app.importing import readers
from app.importing.documents import normalise_documents
from app.importing.emails import normalise_emails
from app.importing.mapping import fold
from app.importing.phones import normalise_phones
from app.importing.recovery import Heartbeat
from app.importing.report import Counters
from app.search import sync as search_sync
from app.search.postgres import name_words_sql
from app.settings import get_settings
from app.storage import Storage, get_storage
from tenants.database import engine
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)

POLICIES = ("keep-first", "keep-last", "merge")
_TEXT_LIMITS = {"name": 300, "plan": 120, "status": 40, "wallet": 120, "owner": 320}


class Cancelled(Exception):
    pass


@dataclass
class Plan:
    """What to read and how: derived once from the import job row."""

    import_id: int
    schema: str
    source: str
    policy: str
    default_ddd: str | None
    mapping: dict[str, str]  # {"c0": "name", "c3": "phone", "c5": "custom:plano_dados"}
    headers: list[str]

    def columns(self, fld: str) -> list[str]:
        return [c for c, f in self.mapping.items() if f == fld]

    def custom_columns(self) -> dict[str, str]:
        return {f.split(":", 1)[1]: c for c, f in self.mapping.items() if f.startswith("custom:")}


_PHONE_NUMBER = pl.when(pl.col("key").str.starts_with("p+")).then(
    pl.col("key").str.slice(2).cast(pl.Int64, strict=False)
)


def _key_hash(key: pl.Expr) -> pl.Expr:
    """A text key's integer in the key map (fixed seed: hashes only ever meet this process's own), signed
    so that PostgreSQL's bigint holds it when the map spills."""
    return key.hash(20_241).reinterpret(signed=True)


# Entries the in-file key map keeps in memory before it moves them to a temporary table on the import's
# own connection, so a file of any size peaks where a 2M-row file does (~3.2M entries, 420-450 MB for the
# whole import) and under the 512 MB budget. Past it, each batch adds two indexed lookups: forced at 1M
# entries, the 2M-row file took 51 s instead of 36 s and peaked at 361 MB instead of 452 MB.
KEYMAP_MEMORY_ENTRIES = 3_500_000
_SPILL_TABLE = "pg_temp.imp_keymap"


@dataclass
class KeyMap:
    """The in-file key map: every phone/e-mail key an earlier batch introduced -> its customer.

    It is the one structure that grows with the file, and each batch scans all of it (a filter probing a
    hash set of the batch's keys), so every entry is scanned as an integer:
    - phones (E.164, at most 15 digits) are their number: 16 bytes an entry instead of ~40 for the string;
    - other keys (e-mails) by a 64-bit hash, kept next to the key, which settles the rare collision in
      the join that follows the scan. Scanned as text, every string of the map was hashed and compared
      per batch: twice the CPU of the integer probe at 2M rows (perf samples, 230 against 112).
    Chunks are only scanned, never compacted (a compaction copies the whole map and doubled the peak
    memory of a 2M-row import). Past KEYMAP_MEMORY_ENTRIES they move to a temporary table on the
    import's connection (`spill_to`), which later lookups probe by index: memory stays bounded for a
    file of any size, at the price of one indexed lookup per kind and batch once it has spilled."""

    phones: list[pl.DataFrame] = field(default_factory=list)  # num (Int64), cid
    others: list[pl.DataFrame] = field(default_factory=list)  # h (Int64), key (String), cid
    # The connection whose temporary table takes the map once it outgrows KEYMAP_MEMORY_ENTRIES (None:
    # memory only). Lookups then also probe that table's indexes, per batch, in one statement per kind.
    spill_to: "Db | None" = None
    spilled: bool = False
    entries: int = 0  # in memory

    def add(self, frame: pl.DataFrame) -> None:
        """Adds (key, cid) rows."""
        split = frame.select("key", "cid", num=_PHONE_NUMBER)
        phones = split.filter(pl.col("num").is_not_null()).select("num", "cid")
        others = split.filter(pl.col("num").is_null()).select(
            h=_key_hash(pl.col("key")), key="key", cid="cid"
        )
        if phones.height:
            self.phones.append(phones)
        if others.height:
            self.others.append(others)
        self.entries += phones.height + others.height
        if self.spill_to is not None and self.entries > KEYMAP_MEMORY_ENTRIES:
            self._spill(self.spill_to)

    def _spill(self, db: "Db") -> None:
        """Moves the in-memory chunks into the temporary table, one COPY per chunk (no second copy of the
        map is ever built in memory); the table's indexes are built after its first load."""
        if not self.spilled:
            # A pooled connection may hold an earlier import's table: reused, emptied.
            db.run("CREATE TEMP TABLE IF NOT EXISTS imp_keymap (num bigint, h bigint, key text, cid bigint)")
            db.run(f"TRUNCATE {_SPILL_TABLE}")
        for chunk in self.phones:
            db.copy_frame(_SPILL_TABLE, chunk)
        for chunk in self.others:
            db.copy_frame(_SPILL_TABLE, chunk)
        if not self.spilled:
            db.run(f"CREATE INDEX IF NOT EXISTS imp_keymap_num ON {_SPILL_TABLE} (num) WHERE num IS NOT NULL")
            db.run(f"CREATE INDEX IF NOT EXISTS imp_keymap_h ON {_SPILL_TABLE} (h) WHERE h IS NOT NULL")
            db.run(f"ANALYZE {_SPILL_TABLE}")
        self.phones, self.others, self.entries, self.spilled = [], [], 0, True
        log.info(
            "import key map moved to a temporary table (%d entries kept in memory at most)",
            KEYMAP_MEMORY_ENTRIES,
        )

    def lookup(self, keys: pl.DataFrame) -> pl.DataFrame:
        """The rows of `keys` whose key the map has, with its customer (column cid)."""
        split = keys.with_columns(num=_PHONE_NUMBER)
        phones = split.filter(pl.col("num").is_not_null())
        others = split.filter(pl.col("num").is_null())
        found = []
        # Each part of the map is filtered by the batch's keys first (a scan probing a small hash set),
        # so the join's hash table has the batch's size, not the file's.
        if self.phones and phones.height:
            seen = pl.concat(self.phones, rechunk=False)
            found.append(
                phones.join(seen.filter(pl.col("num").is_in(phones.get_column("num").implode())), on="num")
            )
        wanted = others.select(_key_hash(pl.col("key"))).to_series().unique()
        if self.others and others.height:
            seen = pl.concat(self.others, rechunk=False)
            found.append(others.join(seen.filter(pl.col("h").is_in(wanted.implode())).drop("h"), on="key"))
        if self.spilled and self.spill_to is not None:
            found += self._lookup_spilled(self.spill_to, phones, others, wanted)
        if not found:
            return split.clear().with_columns(cid=pl.lit(None, pl.Int64)).drop("num")
        return pl.concat(found).drop("num")

    @staticmethod
    def _lookup_spilled(
        db: "Db", phones: pl.DataFrame, others: pl.DataFrame, wanted: pl.Series
    ) -> list[pl.DataFrame]:
        """The probes' customers in the temporary table: index probes, one statement per kind (`wanted`:
        the distinct hashes of the `others` keys)."""
        found = []
        if phones.height:
            rows = db.all(
                f"SELECT m.num, m.cid FROM unnest(%s::bigint[]) AS k(num) "
                f"JOIN {_SPILL_TABLE} m ON m.num = k.num",
                (phones.get_column("num").unique().to_list(),),
            )
            hits = pl.DataFrame(rows, schema={"num": pl.Int64, "cid": pl.Int64}, orient="row")
            found.append(phones.join(hits, on="num"))
        if others.height:
            rows = db.all(
                f"SELECT m.key, m.cid FROM unnest(%s::bigint[]) AS k(h) JOIN {_SPILL_TABLE} m ON m.h = k.h",
                (wanted.to_list(),),
            )
            hits = pl.DataFrame(rows, schema={"key": pl.String, "cid": pl.Int64}, orient="row")
            found.append(others.join(hits, on="key"))
        return found


@dataclass
class State:
    counters: Counters = field(default_factory=Counters)
    seen_keys: KeyMap = field(default_factory=KeyMap)  # key -> cid, earlier batches
    # Customers that existed before this import and a row already pointed at (the ones this import
    # creates are reached through seen_keys): a first import keeps this empty.
    seen_cids: list[pl.Series] = field(default_factory=list)
    seen_rows: int = 0
    batches: int = 0

    def cids(self) -> pl.Series:
        if not self.seen_cids:
            return pl.Series("cid", [], dtype=pl.Int64)
        if len(self.seen_cids) > 8:
            self.seen_cids = [pl.concat(self.seen_cids, rechunk=True).unique()]
        return pl.concat(self.seen_cids, rechunk=False)


# ----------------------------------------------------------------------------------------- normalise


def _text(col: str, limit: int) -> pl.Expr:
    # Whitespace runs become one space. The pattern leaves single plain spaces alone (same result as
    # \s+ -> " "), so most values are not rewritten at all: 2.5x cheaper on a column of names.
    s = pl.col(col).str.replace_all(r"\s\s+|[^\S ]", " ").str.strip_chars().str.slice(0, limit)
    return pl.when(s.str.len_bytes() > 0).then(s).otherwise(None)


def normalise(frame: pl.DataFrame, plan: Plan, owners: dict[str, int] | None = None) -> pl.DataFrame:
    """Adds the normalised columns (n_*) and `valid`/`reason` to a raw batch."""
    data_cols = [c for c in frame.columns if c.startswith("c")]
    exprs: list[pl.Expr] = []
    for fld in ("name", "plan", "status", "wallet", "owner"):
        cols = plan.columns(fld)
        exprs.append(
            _text(cols[0], _TEXT_LIMITS[fld]).alias(f"n_{fld}")
            if cols
            else pl.lit(None, pl.String).alias(f"n_{fld}")
        )
    # Situação is a small vocabulary ("Ativo", "ATIVO", "ativo"): stored lower-case like the default.
    exprs[2] = exprs[2].str.to_lowercase()
    tag_cols = plan.columns("tags")
    if tag_cols:
        joined = pl.concat_str([pl.col(c) for c in tag_cols], separator=",", ignore_nulls=True)
        exprs.append(joined.str.replace_all(r"[;|]", ",").alias("n_tags"))
    else:
        exprs.append(pl.lit(None, pl.String).alias("n_tags"))
    custom = plan.custom_columns()
    if custom:
        # A JSON object of the non-empty cells only (what jsonb_strip_nulls would leave), so new customers
        # can be COPYed as they are: each '"key":"value"' pair is a one-field struct's JSON, braces cut.
        cells = {k: _text(c, 2000) for k, c in custom.items()}
        pairs = [
            pl.when(v.is_not_null()).then(
                pl.struct(v.alias(k)).struct.json_encode().str.slice(1).str.strip_suffix("}")
            )
            for k, v in cells.items()
        ]
        exprs.append(
            (pl.lit("{") + pl.concat_str(pairs, separator=",", ignore_nulls=True) + pl.lit("}")).alias(
                "n_custom"
            )
        )
    else:
        exprs.append(pl.lit(None, pl.String).alias("n_custom"))
    frame = frame.with_columns(exprs)

    doc_cols = plan.columns("document")
    if doc_cols:
        frame = frame.with_columns(n_document=normalise_documents(frame.get_column(doc_cols[0])))
    else:
        frame = frame.with_columns(n_document=pl.lit(None, pl.String))
    phone_cols = plan.columns("phone") + plan.columns("whatsapp")
    if phone_cols:
        # All phone columns in one call: the normaliser's per-call cost is paid once per batch.
        n = frame.height
        stacked = normalise_phones(pl.concat([frame.get_column(c) for c in phone_cols]), plan.default_ddd)
        frame = frame.with_columns(
            [stacked.slice(i * n, n).alias(f"p_{c}") for i, c in enumerate(phone_cols)]
        )
    email_cols = plan.columns("email")
    if email_cols:
        frame = frame.with_columns(n_email=normalise_emails(frame.get_column(email_cols[0])))
    else:
        frame = frame.with_columns(n_email=pl.lit(None, pl.String))

    has_contact = pl.col("n_email").is_not_null()
    any_raw = pl.lit(False)
    for c in phone_cols:
        has_contact = has_contact | pl.col(f"p_{c}").is_not_null()
        any_raw = any_raw | pl.col(c).is_not_null()
    for c in email_cols:
        any_raw = any_raw | pl.col(c).is_not_null()
    row_bytes = pl.sum_horizontal([pl.col(c).str.len_bytes().fill_null(0) for c in data_cols])
    reason = (
        pl.when(row_bytes > readers.MAX_LINE_BYTES)
        .then(pl.lit("linha_longa"))
        .when(has_contact)
        .then(pl.lit(None, pl.String))
        .when(any_raw)
        .then(pl.lit("contato_invalido"))
        .otherwise(pl.lit("sem_contato"))
    )
    frame = frame.with_columns(reason=reason).with_columns(valid=pl.col("reason").is_null())
    if owners:
        owner_map = pl.DataFrame(
            {"owner_key": list(owners.keys()), "owner_id": list(owners.values())},
            schema={"owner_key": pl.String, "owner_id": pl.Int64},
        )
        frame = frame.with_columns(owner_key=pl.col("n_owner").str.to_lowercase()).join(
            owner_map, on="owner_key", how="left", maintain_order="left"
        )
    else:  # no owner column mapped (or no users to match): no join per batch
        frame = frame.with_columns(owner_id=pl.lit(None, pl.Int64))
    # A customer needs a name: fall back to its e-mail or first phone (new customers only).
    fallback = [pl.col("n_email")] + [
        pl.col(f"p_{c}") for c in plan.columns("phone") + plan.columns("whatsapp")
    ]
    return frame.with_columns(
        n_fallback=pl.coalesce(fallback) if fallback else pl.lit(None, pl.String),
        row_hash=_row_hash(plan, phone_cols),
    )


def _row_hash(plan: Plan, phone_cols: list[str]) -> pl.Expr:
    """64-bit fingerprint of everything a row writes (fields, tags, custom values, phones, e-mail) under
    the import's duplicate policy, kept in customers.import_hash: a re-import skips a row whose customer
    was last written by an identical row. Polars' hash is fixed within a polars version; a new version
    only makes the next re-import take the full path once (unequal hashes are never trusted)."""
    parts = [pl.col(f) for f in _APPLY_FIELDS if f != "n_fallback"]
    parts += [pl.col(f"p_{c}") for c in phone_cols] + [pl.col("n_email")]
    return pl.struct(parts).hash(seed=POLICIES.index(plan.policy)).reinterpret(signed=True)


def issues_of(frame: pl.DataFrame, plan: Plan, import_id: int) -> pl.DataFrame:
    """Error rows (with their raw cells) and per-field warnings of valid rows."""
    data_cols = [c for c in frame.columns if c.startswith("c") and c[1:].isdigit()]
    parts: list[pl.DataFrame] = []
    invalid = frame.filter(~pl.col("valid"))
    if invalid.height:
        # Cells are cut before encoding so the stored JSON stays valid for any line length.
        raw = pl.concat_list([pl.col(c).fill_null("").str.slice(0, 10_000) for c in data_cols])
        parts.append(
            invalid.select(
                line=pl.col("_line"),
                severity=pl.lit("error"),
                reason=pl.col("reason"),
                field=pl.lit(None, pl.String),
                value=pl.lit(None, pl.String),
                raw=pl.struct(cells=raw).struct.json_encode(),
            )
        )
    valid = frame.filter(pl.col("valid"))
    checks: list[tuple[str, str, str, str]] = []
    for c in plan.columns("phone") + plan.columns("whatsapp"):
        checks.append((c, f"p_{c}", "telefone_invalido", "phone"))
    for c in plan.columns("email")[:1]:
        checks.append((c, "n_email", "email_invalido", "email"))
    for c in plan.columns("document")[:1]:
        checks.append((c, "n_document", "documento_invalido", "document"))
    for raw_col, norm_col, reason, fld in checks:
        bad = valid.filter(pl.col(raw_col).is_not_null() & pl.col(norm_col).is_null())
        if bad.height:
            parts.append(
                bad.select(
                    line=pl.col("_line"),
                    severity=pl.lit("warning"),
                    reason=pl.lit(reason),
                    field=pl.lit(fld),
                    value=pl.col(raw_col).str.slice(0, 500),
                    raw=pl.lit(None, pl.String),
                )
            )
    if plan.columns("owner"):
        bad = valid.filter(pl.col("n_owner").is_not_null() & pl.col("owner_id").is_null())
        if bad.height:
            parts.append(
                bad.select(
                    line=pl.col("_line"),
                    severity=pl.lit("warning"),
                    reason=pl.lit("responsavel_desconhecido"),
                    field=pl.lit("owner"),
                    value=pl.col("n_owner").str.slice(0, 500),
                    raw=pl.lit(None, pl.String),
                )
            )
    if not parts:
        return empty_issues()
    return pl.concat(parts, how="vertical_relaxed")


ISSUE_SCHEMA = {
    "line": pl.Int64,
    "severity": pl.String,
    "reason": pl.String,
    "field": pl.String,
    "value": pl.String,
    "raw": pl.String,
}


def empty_issues() -> pl.DataFrame:
    return pl.DataFrame(schema=ISSUE_SCHEMA)


_EMAIL_POS = 1000  # the e-mail key's position: after every phone column


def keys_of(valid: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    """One row per (row, normalised phone/e-mail): the dedupe keys, in (row, column) order."""
    parts = []
    phone_cols = plan.columns("phone") + plan.columns("whatsapp")
    for pos, c in enumerate(phone_cols):
        label = "WhatsApp" if plan.mapping[c] == "whatsapp" else plan.headers[int(c[1:])][:60]
        keep = pl.col(f"p_{c}").is_not_null()
        for earlier in phone_cols[:pos]:  # a number an earlier column of the row has is the same key
            keep = keep & pl.col(f"p_{c}").ne_missing(pl.col(f"p_{earlier}"))
        parts.append(
            valid.filter(keep).select(
                row=pl.col("_line"),
                pos=pl.lit(pos, pl.Int32),
                kind=pl.lit("phone"),
                value=pl.col(f"p_{c}"),
                label=pl.lit(label),
            )
        )
    parts.append(  # one e-mail column: no key repeats within a row
        valid.filter(pl.col("n_email").is_not_null()).select(
            row=pl.col("_line"),
            pos=pl.lit(_EMAIL_POS, pl.Int32),
            kind=pl.lit("email"),
            value=pl.col("n_email"),
            label=pl.lit(None, pl.String),
        )
    )
    # One integer sort key instead of a (row, pos) sort and a (row, key) unique: 2.5x cheaper.
    keys = pl.concat(parts).sort(pl.col("row").cast(pl.Int64) * (_EMAIL_POS + 1) + pl.col("pos"))
    return keys.with_columns(key=pl.col("kind").str.slice(0, 1) + pl.col("value"))


def resolve_owners(rows: pl.DataFrame, cands: pl.DataFrame) -> pl.DataFrame:
    """row -> owner: a known customer's id (> 0), or -row for a new customer that row starts (< 0).

    Each row takes its first candidate (by column position); a candidate that is an earlier row of the
    batch resolves to that row's owner, transitively (a dup of a dup points at the first row): pointer
    jumping, each round follows the unresolved rows' `ref` one step (refs always point backwards).
    Integers throughout: the string-tagged owners ("c12", "r7") this replaced cost ~1 s of a 500k import.
    """
    chosen = cands.group_by("row", maintain_order=True).first()
    out = rows.join(chosen.select("row", "ref", "cid"), on="row", how="left").select(
        "row",
        owner=pl.when(pl.col("cid").is_not_null())
        .then(pl.col("cid"))
        .when(pl.col("ref").is_null())
        .then(-pl.col("row")),
        ref=pl.when(pl.col("cid").is_null()).then(pl.col("ref")),
    )
    while True:
        pending = out.filter(pl.col("owner").is_null())
        if pending.height == 0:
            return out.select("row", "owner")
        step = pending.select("row", "ref").join(
            out.select(ref="row", t_owner="owner", t_ref="ref"), on="ref", how="left"
        )
        out = (
            out.join(step.select("row", "t_owner", "t_ref"), on="row", how="left")
            .with_columns(
                owner=pl.coalesce("owner", "t_owner"),
                ref=pl.when(pl.col("owner").is_null() & pl.col("t_owner").is_null())
                .then(pl.col("t_ref"))
                .otherwise(None),
            )
            .drop("t_owner", "t_ref")
            # A chain that led nowhere (cannot happen: refs are rows of this batch) starts a customer
            # rather than looping forever.
            .with_columns(
                owner=pl.when(pl.col("owner").is_null() & pl.col("ref").is_null())
                .then(-pl.col("row"))
                .otherwise(pl.col("owner"))
            )
        )


# ----------------------------------------------------------------------------------------- database


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
def _connection() -> Iterator[psycopg.Connection[Any]]:
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


def _setup_temp(db: Db) -> None:
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
# of 40k keys: cheaper at 500k contacts, but a cost that grows with the tenant on every batch (the
# super-linear 2M-row import), so hash and merge joins are switched off for these statements only.
_INDEX_PROBE = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"


def _lookup_existing(db: Db, keys: pl.DataFrame, import_id: int) -> pl.DataFrame:
    """(key, cid) for keys already owned by a customer: index lookups through uq_contacts_kind_value."""
    wanted = keys.select("kind", "value").unique().sort("value", "kind")  # the key's order (t0011)
    if wanted.height == 0:
        return pl.DataFrame(schema={"key": pl.String, "cid": pl.Int64})
    db.run(_INDEX_PROBE)
    rows = db.all(
        f"SELECT c.kind, c.value, c.customer_id FROM unnest(%s::text[], %s::text[]) AS k(kind, value) "
        f"JOIN {db.s}.contacts c ON c.kind = k.kind AND c.value = k.value",
        (wanted.get_column("kind").to_list(), wanted.get_column("value").to_list()),
    )
    found = pl.DataFrame(rows, schema={"kind": pl.String, "value": pl.String, "cid": pl.Int64}, orient="row")
    return found.select(key=pl.col("kind").str.slice(0, 1) + pl.col("value"), cid=pl.col("cid"))


SOURCE_MAP_SCHEMA = {"n_document": pl.String, "cid": pl.Int64, "hash": pl.Int64}


def load_source_map(db: Db, source: str, import_id: int) -> pl.DataFrame:
    """source key -> (customer, import_hash) of every live customer earlier imports of `source` wrote,
    read once per import by one COPY (~0.3 s and ~40 bytes a customer at 400k): probing the source index
    per row cost 7 us a key, 2.9 s of a 500k re-import. It grows with the source, not with the file.

    A document several customers share (colliding CPFs) resolves to the oldest one."""
    query = psql.SQL(
        "COPY (SELECT source_key, id, import_hash FROM {}.customers WHERE source = {} "
        "AND source_key IS NOT NULL AND deleted_at IS NULL AND import_id IS DISTINCT FROM {} ORDER BY id) "
        "TO STDOUT WITH (FORMAT csv)"
    ).format(psql.Identifier(db.s.strip('"')), psql.Literal(source), psql.Literal(import_id))
    buf = io.BytesIO()
    with db.conn.cursor() as cur, cur.copy(query) as cp:
        for chunk in cp:
            buf.write(chunk)
    if buf.tell() == 0:
        return pl.DataFrame(schema=SOURCE_MAP_SCHEMA)
    buf.seek(0)
    frame = pl.read_csv(buf, has_header=False, new_columns=list(SOURCE_MAP_SCHEMA), schema=SOURCE_MAP_SCHEMA)
    return frame.unique("n_document", keep="first", maintain_order=True)


def reserve_ids(db: Db, table: str, n: int) -> int:
    """The first of `n` consecutive fresh ids of `table` (customers, contacts), taken from the table's
    own identity sequence in one step; commits.

    One nextval per id cost ~0.8 us each: 0.35 s of a 500k-row import's customers on the preparing
    thread, and 0.5 s more of COPY where each contact drew its id from the column default. Instead
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
    # Not waiting for the flush (~2 ms a reservation, two per batch on the preparing thread) loses
    # nothing: WAL is written in order, so any later commit that could use or collide with the block
    # (the batch's own, or another session's insert) flushes this one first.
    db.run("SET LOCAL synchronous_commit = off")
    db.conn.commit()
    return first


# ----------------------------------------------------------------------------------------- batches


@dataclass
class Context:
    db: Db
    plan: Plan
    state: State
    owners: dict[str, int]
    wallets: dict[str, int]
    lookup_db: bool  # the tenant had contacts before this import
    lookup_source: bool  # earlier imports of this source exist
    source_map: pl.DataFrame | None = None  # load_source_map(): n_document, cid, hash
    contacts_unindexed: bool = False  # bulk mode dropped uq_contacts_kind_value (rebuilt at the end)
    # A resume's replay in bulk mode: every contact (key, cid), read once, answers the replayed batches'
    # lookups instead of the dropped dedupe key (each probe would scan contacts).
    replay_contacts: pl.DataFrame | None = None
    tags: dict[str, int] = field(default_factory=dict)  # tag name -> id


def _resolve_names(
    ctx: Context, table: str, extra: tuple[str, str], names: list[str], known: dict[str, int]
) -> None:
    """Creates the `table` rows (wallets, tags) a batch names and learns their ids into `known`, on the
    preparing connection, which commits before the batch is written: two writers inserting one new
    name in their ordered transactions would wait on each other forever."""
    missing = sorted(n for n in names if n not in known)
    if not missing:
        return
    ctx.db.run(
        f"INSERT INTO {ctx.db.s}.{table} (name, {extra[0]}) SELECT unnest(%s::text[]), %s "
        "ON CONFLICT (name) DO NOTHING",
        (missing, extra[1]),
    )
    for rid, name in ctx.db.all(f"SELECT id, name FROM {ctx.db.s}.{table} WHERE name = ANY(%s)", (missing,)):
        known[name] = rid


def _resolve_wallets(ctx: Context, names: list[str]) -> None:
    _resolve_names(ctx, "wallets", ("description", ""), names, ctx.wallets)


def _resolve_tags(ctx: Context, names: list[str]) -> None:
    _resolve_names(ctx, "tags", ("color", "purple"), names, ctx.tags)


def _tag_pairs(ctx: Context, apply: pl.DataFrame) -> pl.DataFrame:
    """(cid, is_new, tag_id) of the customers a batch writes, from their comma-separated tag names
    (cut like tags.name: spaces trimmed, 60 characters)."""
    names = (
        apply.filter(pl.col("tags").is_not_null())
        .select("cid", "is_new", name=pl.col("tags").str.split(","))
        .explode("name")
        .with_columns(pl.col("name").str.strip_chars(" ").str.slice(0, 60))
        .filter(pl.col("name").str.len_bytes() > 0)
    )
    _resolve_tags(ctx, names.get_column("name").unique().to_list())
    ids = pl.DataFrame(
        {"name": list(ctx.tags), "tag_id": list(ctx.tags.values())},
        schema={"name": pl.String, "tag_id": pl.Int64},
    )
    return names.join(ids, on="name").select("cid", "is_new", "tag_id").unique(["cid", "tag_id"])


@dataclass
class Prepared:
    """One batch, normalised and grouped, ready for a writer connection."""

    index: int
    n_read: int
    n_valid: int
    issues: pl.DataFrame
    conflicts: list[int]
    rows: pl.DataFrame | None = None  # row, cid, outcome (dup | created | matched)
    apply: pl.DataFrame | None = None
    contacts: pl.DataFrame | None = None
    depends: bool = False  # touches customers an earlier (maybe uncommitted) batch wrote
    plain_insert: bool = False  # bulk mode dropped the contacts unique index: no ON CONFLICT
    tags: pl.DataFrame | None = None  # cid, is_new, tag_id
    resume: int = 0
    next_line: int = 0
    bytes_read: int = 0


def _line_error_frame(line_errors: list[readers.LineError]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "line": [e.line for e in line_errors],
            "severity": ["error"] * len(line_errors),
            "reason": [e.reason for e in line_errors],
            "field": [None] * len(line_errors),
            "value": [e.raw[:500] for e in line_errors],
            "raw": [None] * len(line_errors),
        },
        schema=ISSUE_SCHEMA,
    )


@dataclass
class Looked:
    """The part of a batch's preparation that needs no in-file state: normalised rows, their keys, and
    what the database already knows about those keys. Computed one batch ahead, on its own thread and
    connection, while the main thread groups the previous batch (the lookups are the largest cost of a
    re-import, and they wait on PostgreSQL, not on Python)."""

    valid: pl.DataFrame | None
    issues: pl.DataFrame
    keys: pl.DataFrame | None = None
    existing: pl.DataFrame | None = None  # key, cid: contacts in the database (keys of unsettled rows)
    by_source: pl.DataFrame | None = None  # n_document, cid: customers of earlier imports of the source
    # Rows identical to the row that last wrote their source-key customer: nothing to look up or write.
    settled: pl.Series | None = None


def look_up(
    ctx: Context,
    db: Db,
    frame: pl.DataFrame,
    line_errors: list[readers.LineError],
    dry: bool,
    side: tuple[ThreadPoolExecutor, Db] | None = None,
) -> Looked:
    """`side` (a thread and a second connection) runs the e-mail lookups while `db` looks up the phones.
    On a re-import, rows that did not change since the source's previous version (same source key, same
    row hash) are settled first: their keys are not looked up at all."""
    plan = ctx.plan
    norm = normalise(frame, plan, ctx.owners) if frame.height else None
    issues = issues_of(norm, plan, plan.import_id) if norm is not None and not dry else empty_issues()
    if line_errors and not dry:
        issues = pl.concat([issues, _line_error_frame(line_errors)])
    valid = norm.filter(pl.col("valid")) if norm is not None else None
    looked = Looked(valid, issues)
    if valid is None or valid.height == 0:
        return looked
    keys = looked.keys = keys_of(valid, plan)
    # Only what grouping and writing read from here on: a batch waiting in the look-ahead queue then
    # holds a third of its normalised width (raw cells and per-column phones are gone).
    valid = looked.valid = valid.select("_line", *_APPLY_FIELDS, "row_hash")
    probe = keys
    if ctx.source_map is not None:
        matched = valid.select("_line", "n_document", "row_hash").join(ctx.source_map, on="n_document")
        looked.by_source = matched.select("n_document", "cid").unique("n_document")
        looked.settled = matched.filter(pl.col("hash") == pl.col("row_hash")).get_column("_line")
        probe = keys.filter(~pl.col("row").is_in(looked.settled.implode()))

    if dry and ctx.replay_contacts is not None:
        looked.existing = probe.select("key").unique().join(ctx.replay_contacts, on="key")
        return looked

    def email_lookups(on: Db) -> pl.DataFrame | None:
        emails = None
        if ctx.lookup_db or dry:
            emails = _lookup_existing(on, probe.filter(pl.col("kind") == "email"), plan.import_id)
        on.conn.commit()  # lookups only: keep no transaction (nor its SET LOCALs) open between batches
        return emails

    pending = side[0].submit(email_lookups, side[1]) if side else None
    phones = None
    if ctx.lookup_db or dry:
        phones = _lookup_existing(db, probe.filter(pl.col("kind") != "email"), plan.import_id)
    db.conn.commit()
    emails = pending.result() if pending else email_lookups(db)
    if phones is not None and emails is not None:
        looked.existing = pl.concat([phones, emails])
    return looked


def prepare_batch(
    ctx: Context,
    frame: pl.DataFrame,
    line_errors: list[readers.LineError],
    dry: bool,
    index: int = 0,
    looked: Looked | None = None,
) -> Prepared:
    """Normalise and group one batch and advance the in-file dedupe state (no customer writes).

    `dry` replays an already committed batch after a crash: only the dedupe state is rebuilt.
    `looked` is the batch's look_up() when it was computed ahead.
    """
    plan, st = ctx.plan, ctx.state
    if looked is None:
        looked = look_up(ctx, ctx.db, frame, line_errors, dry)
    valid, issues = looked.valid, looked.issues
    n_read = frame.height + len(line_errors)
    prep = Prepared(index, n_read, valid.height if valid is not None else 0, issues, [])
    if valid is None or valid.height == 0 or looked.keys is None:
        return prep
    keys = looked.keys
    # Candidate owners of each row, in the row's column order: a customer already known (a key of an
    # earlier batch, an existing contact, the source key of an earlier import) or an earlier row of
    # this batch that introduced one of its keys. Later rows never reach back to earlier ones.
    # One lookup in the (large) in-file key map per batch; everything else joins small frames.
    in_seen = st.seen_keys.lookup(keys)
    cand = [in_seen.select("row", "pos", "cid")]
    known_keys = in_seen.select("key").unique()
    in_db: pl.DataFrame | None = None  # keys some customer already has in the database
    if looked.existing is not None:
        # A key the file introduced earlier resolves through the in-file map (the same customer the
        # database has for it once that batch committed); the database answers for the rest.
        rest = keys.join(known_keys, on="key", how="anti")
        cand.append(rest.join(looked.existing, on="key").select("row", "pos", "cid"))
        in_db = looked.existing.select("key")
    if looked.by_source is not None:
        docs = valid.filter(pl.col("n_document").is_not_null()).select("_line", "n_document")
        cand.append(
            docs.join(looked.by_source, on="n_document").select(
                row=pl.col("_line"), pos=pl.lit(-1, pl.Int32), cid=pl.col("cid")
            )
        )
    known = pl.concat(cand).select("row", "pos", ref=pl.lit(None, pl.Int64), cid="cid")
    first = keys.group_by("key").agg(first=pl.col("row").min())
    earlier = (
        keys.join(first, on="key")
        .filter(pl.col("first") < pl.col("row"))
        .select("row", "pos", ref=pl.col("first"), cid=pl.lit(None, pl.Int64))
    )
    # Stable: at the same (row, column) a customer the key already belongs to comes before an earlier row
    # of this batch with that key (which may itself have gone elsewhere through a conflict). Unstable,
    # the same file re-imported flipped a row between "updated" and "duplicate" from run to run.
    cands = pl.concat([known, earlier]).sort("row", "pos", maintain_order=True)
    owners = resolve_owners(keys.select("row").unique(), cands)
    # Conflict: the row's keys belong to more than one customer; it goes to the first, nothing is merged.
    finals = cands.join(owners.select(ref="row", ref_owner="owner"), on="ref", how="left").select(
        "row", owner=pl.coalesce("cid", "ref_owner")
    )
    prep.conflicts = (
        finals.group_by("row").agg(n=pl.col("owner").n_unique()).filter(pl.col("n") > 1)["row"].to_list()
    )
    # New customers get their ids in file order (owner = -row).
    roots = owners.filter(pl.col("owner") < 0).select("owner").unique().sort("owner", descending=True)
    if dry:
        new_ids = roots.with_columns(new_cid=pl.lit(None, pl.Int64))
    else:
        first_id = reserve_ids(ctx.db, "customers", roots.height)
        new_ids = roots.with_columns(new_cid=pl.int_range(first_id, first_id + roots.height, dtype=pl.Int64))
    rows = (
        owners.join(new_ids, on="owner", how="left")
        .with_columns(
            is_new=pl.col("owner") < 0,
            cid=pl.coalesce("new_cid", pl.when(pl.col("owner") > 0).then(pl.col("owner"))),
        )
        .filter(pl.col("cid").is_not_null())
        .select("row", "cid", "is_new")
    )
    cands = finals.filter(pl.col("owner") > 0).select(cid="owner")
    # Touched by an earlier batch: a customer reached through the in-file key map, or an existing
    # customer an earlier row pointed at.
    rows = rows.with_columns(
        was_seen=pl.col("cid").is_in(in_seen.get_column("cid").implode())
        | pl.col("cid").is_in(st.cids().implode())
    )
    # A settled row counts as it would (unchanged, or a duplicate) but writes nothing.
    settled = looked.settled if looked.settled is not None else pl.Series("row", [], dtype=pl.Int64)
    rows = rows.with_columns(settled=pl.col("row").is_in(settled.implode()))
    rows = rows.with_columns(
        lead=pl.col("row").min().over("cid"), last=pl.col("row").max().over("cid")
    ).with_columns(
        outcome=pl.when(pl.col("was_seen") | (pl.col("row") != pl.col("lead")))
        .then(pl.lit("dup"))
        .when(pl.col("is_new"))
        .then(pl.lit("created"))
        .otherwise(pl.lit("matched"))
    )
    if not dry:
        prep.rows = rows.select("row", "cid", "outcome")
        prep.apply = _apply_values(ctx, valid, rows)
        if prep.apply.height and plan.columns("wallet"):
            _resolve_wallets(ctx, prep.apply.get_column("wallet").drop_nulls().unique().to_list())
        prep.apply = prep.apply.with_columns(
            wallet_id=pl.col("wallet").replace_strict(ctx.wallets, default=None, return_dtype=pl.Int64)
            if ctx.wallets
            else pl.lit(None, pl.Int64)
        )
        if prep.apply.height and plan.columns("tags"):
            prep.tags = _tag_pairs(ctx, prep.apply)
        # A contact the database already has would be a no-op ON CONFLICT insert (a re-import is
        # mostly those): not sent. New customers never have one (their keys matched nobody).
        new_keys = keys if in_db is None else keys.join(in_db, on="key", how="anti")
        if plan.policy != "keep-last":
            # A key an earlier batch introduced was written then (merge writes every row's keys), or
            # belongs to rows that are never written (keep-first skips duplicates): never resent, so
            # each key reaches the contacts insert at most once per import (bulk mode relies on it).
            # keep-last may write it later, with the customer's last row: it keeps ON CONFLICT.
            new_keys = new_keys.join(known_keys, on="key", how="anti")
        prep.contacts = _contacts_to_add(ctx, new_keys, rows)
        prep.plain_insert = ctx.contacts_unindexed
        if prep.plain_insert:  # ids drawn here in one block, not by COPY one nextval at a time
            first_id = reserve_ids(ctx.db, "contacts", prep.contacts.height)
            prep.contacts = prep.contacts.with_columns(
                id=pl.int_range(first_id, first_id + prep.contacts.height, dtype=pl.Int64)
            )
        # keep-first never writes to a customer an earlier batch touched; the other policies may, and
        # then this batch waits for the earlier ones to commit (a row must see the row it updates).
        prep.depends = plan.policy != "keep-first" and bool(rows.get_column("was_seen").any())
    # Every key of every valid row now points at the customer its row was folded into.
    # keys come in (row, pos) order (keys_of) and the anti join keeps it: first occurrence = first row.
    fresh = keys.join(known_keys, on="key", how="anti", maintain_order="left").filter(
        pl.col("key").is_first_distinct()
    )
    st.seen_keys.add(fresh.join(rows.select("row", "cid"), on="row").select("key", "cid"))
    # Customers a row pointed at (conflict losers too) are in this version of the source: not missing.
    existing = pl.concat([rows.filter(~pl.col("is_new")).get_column("cid"), cands.get_column("cid")])
    if existing.len():
        st.seen_cids.append(existing.unique())
    return prep


def issue_rows(prep: Prepared) -> pl.DataFrame:
    """The batch's rows for import_issues: per-line errors and warnings, plus one per conflict."""
    if not prep.conflicts:
        return prep.issues
    n = len(prep.conflicts)
    conflict_rows = pl.DataFrame(
        {"line": prep.conflicts, "severity": ["warning"] * n, "reason": ["conflito"] * n},
        schema={"line": pl.Int64, "severity": pl.String, "reason": pl.String},
    ).with_columns(field=pl.lit(None, pl.String), value=pl.lit(None, pl.String), raw=pl.lit(None, pl.String))
    return pl.concat([prep.issues, conflict_rows.select(list(ISSUE_SCHEMA))])


def account_batch(
    ctx: Context, prep: Prepared, updated: list[tuple[int, list[str]]], issues: pl.DataFrame
) -> None:
    """Adds a written batch (`issues`: its issue_rows) to the counters."""
    c = ctx.state.counters
    c.read += prep.n_read
    c.valid += prep.n_valid
    c.invalid += prep.n_read - prep.n_valid
    if prep.rows is not None:
        lead_matched = set(prep.rows.filter(pl.col("outcome") == "matched").get_column("cid").to_list())
        changed = []
        for cid, fields in updated:
            if cid in lead_matched:
                changed.append(cid)
                c.changed_fields.update(fields)
        outcomes = prep.rows.select(
            outcome=pl.when(
                (pl.col("outcome") == "matched") & pl.col("cid").is_in(pl.Series(changed).implode())
            )
            .then(pl.lit("updated"))
            .when(pl.col("outcome") == "matched")
            .then(pl.lit("unchanged"))
            .otherwise(pl.col("outcome")),
        )
        counts = dict(outcomes.group_by("outcome").len().iter_rows())
        c.created += counts.get("created", 0)
        c.updated += counts.get("updated", 0)
        c.unchanged += counts.get("unchanged", 0)
        c.duplicates += counts.get("dup", 0)
    if prep.conflicts:
        c.conflicts += len(prep.conflicts)
        c.warnings["conflito"] += len(prep.conflicts)
    if issues.height:
        for sev, reason, n in issues.group_by("severity", "reason").len().iter_rows():
            if sev == "error":
                c.errors[reason] += n
            elif reason != "conflito":
                c.warnings[reason] += n
        for line, reason, value, raw in (
            issues.sort("line")
            .group_by("reason", maintain_order=True)
            .head(5)
            .select("line", "reason", "value", "raw")
            .iter_rows()
        ):
            sample = value
            if sample is None and raw:
                sample = ";".join(json.loads(raw)["cells"])[:200]
            c.sample(reason, line, sample)
    c.check()


# A new customer needs a name: the file's, else its first e-mail/phone, so the list never shows a blank.
_NEW_NAME = pl.coalesce("name", "fallback", pl.lit("Sem nome"))

_APPLY_FIELDS = (
    "n_name",
    "n_document",
    "n_plan",
    "n_status",
    "n_wallet",
    "owner_id",
    "n_tags",
    "n_custom",
    "n_fallback",
)


def _apply_values(ctx: Context, valid: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The field values each touched customer gets, by the duplicate policy."""
    policy = ctx.plan.policy
    fields = list(_APPLY_FIELDS)
    data = (
        rows.filter(~pl.col("settled"))
        .join(valid.select("_line", *fields, "row_hash"), left_on="row", right_on="_line")
        .sort("row")
    )
    if policy == "keep-first":
        picked = data.filter((pl.col("row") == pl.col("lead")) & ~pl.col("was_seen"))
    elif policy == "keep-last":
        picked = data.filter(pl.col("row") == pl.col("last"))
    else:  # merge: first non-empty value of each field, tags of every row
        picked = (
            data.group_by("cid", maintain_order=True)
            .agg(
                pl.col("is_new").first(),
                pl.col("was_seen").first(),
                *[pl.col(f).drop_nulls().first() for f in fields if f != "n_tags"],
                pl.col("n_tags").drop_nulls().str.join(",").alias("n_tags"),
                # The row whose document became the source key is the one a re-import compares.
                pl.col("row_hash").filter(pl.col("n_document").is_not_null()).first(),
            )
            .with_columns(
                pl.when(pl.col("n_tags") == "").then(None).otherwise(pl.col("n_tags")).alias("n_tags")
            )
        )
    doc = pl.col("n_document")
    return picked.select(
        "cid",
        "is_new",
        name=pl.col("n_name"),
        document=doc,
        kind=pl.when(doc.str.len_bytes() == 14).then(pl.lit("PJ")).when(doc.is_not_null()).then(pl.lit("PF")),
        plan=pl.col("n_plan"),
        status=pl.col("n_status"),
        wallet=pl.col("n_wallet"),
        owner_id=pl.col("owner_id"),
        tags=pl.col("n_tags"),
        custom=pl.col("n_custom"),
        source_key=doc,
        fallback=pl.col("n_fallback"),
        row_hash=pl.col("row_hash"),
    )


def _contacts_to_add(ctx: Context, keys: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    policy = ctx.plan.policy
    data = keys.join(
        rows.filter(~pl.col("settled")).select("row", "cid", "lead", "last", "was_seen", "is_new"),
        on="row",
        maintain_order="left",  # keys are in (row, pos) order: the first occurrence of a key wins
    )
    if policy == "keep-first":
        data = data.filter((pl.col("row") == pl.col("lead")) & ~pl.col("was_seen"))
    elif policy == "keep-last":
        data = data.filter(pl.col("row") == pl.col("last"))
    data = data.filter(pl.col("key").is_first_distinct())
    first_of_kind = pl.struct("cid", "kind").is_first_distinct()
    return data.select("cid", "kind", "value", "label", is_primary=pl.col("is_new") & first_of_kind)


def write_batch(db: Db, plan: Plan, prep: Prepared) -> list[tuple[int, list[str]]]:
    """Set-based writes of one batch on a writer connection; returns (id, changed fields) of updates."""
    if prep.apply is None or prep.contacts is None:
        return []
    new = prep.apply.filter(pl.col("is_new"))
    # New customers go straight into the table by COPY (ids allocated at prepare time); only matched ones
    # pass through imp_apply for the update statement.
    db.copy_frame(
        f"{db.s}.customers",
        new.select(
            id="cid",
            name=_NEW_NAME,
            document="document",
            kind=pl.col("kind").fill_null("PF"),
            plan="plan",
            status=pl.col("status").fill_null("ativo"),
            wallet_id="wallet_id",
            owner_id="owner_id",
            custom=pl.col("custom").fill_null("{}"),
            source=pl.lit(plan.source),
            source_key="source_key",
            import_id=pl.lit(plan.import_id, pl.Int64),
            import_hash="row_hash",
        ),
    )
    db.copy_frame("imp_apply", prep.apply.filter(~pl.col("is_new")))
    # Tags live in customer_tags (t0005), never on the customers row. The (customer, tag) pairs were
    # resolved to ids at prepare time: new customers' pairs are unique and cannot exist yet, so they go
    # in by COPY; matched customers' tags are compared with what they have (_write_matched_tags).
    if prep.tags is not None and prep.tags.height:
        new_tags = prep.tags.filter(pl.col("is_new")).select(customer_id="cid", tag_id="tag_id")
        db.copy_frame(f"{db.s}.customer_tags", new_tags)
        _write_matched_tags(db, prep.tags.filter(~pl.col("is_new")), plan.policy == "merge")
    if not prep.apply.select((~pl.col("is_new")).any()).item():
        _insert_contacts(db, plan, prep)
        return []
    merge = plan.policy == "merge"

    def upd(col: str, new: str) -> str:
        # keep-first/keep-last: the file's non-empty value wins; merge: only fill what is empty.
        if merge:
            return f"COALESCE(NULLIF(c.{col}::text, '')::{_TYPES[col]}, {new})"
        return f"COALESCE({new}, c.{col})"

    custom_new = "COALESCE(jsonb_strip_nulls(a.custom::jsonb), '{}'::jsonb)"
    custom_expr = f"c.custom || {custom_new}" if not merge else f"{custom_new} || c.custom"
    cols = {
        "name": upd("name", "a.name"),
        "document": upd("document", "a.document"),
        "kind": upd("kind", "a.kind"),
        "plan": upd("plan", "a.plan"),
        "status": upd("status", "a.status"),
        "wallet_id": upd("wallet_id", "a.wallet_id"),
        "owner_id": upd("owner_id", "a.owner_id"),
        "custom": custom_expr,
    }
    calc_cols = ",\n".join(f"{expr} AS {col}" for col, expr in cols.items())
    changed = ", ".join(
        f"CASE WHEN n.{col} IS DISTINCT FROM c.{col} THEN '{col}' END" for col in cols if col != "kind"
    )
    set_cols = ", ".join(f"{col} = n.{col}" for col in cols)
    # A tags-only change (imp_tags, written above) counts as a change ('tags' in the timeline row and the
    # report) but does not rewrite the customers row nor bump its updated_at.
    summary = f"Atualizado pela importação #{plan.import_id} ({plan.source})"[:500]
    updated = db.all(
        f"""
        WITH n AS (
            SELECT c.id, a.row_hash, {calc_cols}
            FROM imp_apply a JOIN {db.s}.customers c ON c.id = a.cid
            WHERE NOT a.is_new
        ), tc AS (
            SELECT DISTINCT cid AS customer_id FROM imp_tags
        ), d AS (
            SELECT n.*, array_remove(
                ARRAY[{changed}, CASE WHEN tc.customer_id IS NOT NULL THEN 'tags' END], NULL
            ) AS changed
            FROM n JOIN {db.s}.customers c ON c.id = n.id LEFT JOIN tc ON tc.customer_id = n.id
        ), u AS (
            -- The row's hash is kept on customers of this source, changed or not, so the next version
            -- of the file can skip the row if it is the same again.
            UPDATE {db.s}.customers c SET {set_cols},
                   import_hash = CASE WHEN c.source = %(source)s THEN n.row_hash ELSE c.import_hash END,
                   updated_at = CASE WHEN cardinality(array_remove(n.changed, 'tags')) > 0
                                     THEN now() ELSE c.updated_at END
            FROM d n WHERE c.id = n.id AND (
                cardinality(array_remove(n.changed, 'tags')) > 0
                OR (c.source = %(source)s AND c.import_hash IS DISTINCT FROM n.row_hash))
        ), t AS (
            INSERT INTO {db.s}.interactions (customer_id, kind, summary, payload, origin, ref_type, ref_id)
            SELECT d.id, 'import', %(summary)s,
                   jsonb_build_object('import_id', %(import_id)s::bigint, 'fields', to_jsonb(d.changed)),
                   'system', 'import', %(import_id)s
            FROM d WHERE cardinality(d.changed) > 0
        )
        SELECT id, changed FROM d WHERE cardinality(changed) > 0
        """,
        {"summary": summary, "import_id": plan.import_id, "source": plan.source},
    )
    _insert_contacts(db, plan, prep)
    return [(cid, list(fields)) for cid, fields in updated]


def _write_matched_tags(db: Db, want: pl.DataFrame, merge: bool) -> None:
    """Tags of customers that existed before the batch: merge adds the file's tags; keep-first/keep-last
    make them the file's tags (the file names some for these customers). The difference is computed
    here against what the customers have (one index probe per customer), so a re-import that changes
    nothing writes nothing; imp_tags keeps the changed pairs for the update statement."""
    if want.height == 0:
        return
    cids = want.get_column("cid").unique().sort().to_list()
    db.run(_INDEX_PROBE)
    have = pl.DataFrame(
        db.all(
            f"SELECT ct.customer_id, ct.tag_id FROM unnest(%s::bigint[]) AS m(cid) "
            f"JOIN {db.s}.customer_tags ct ON ct.customer_id = m.cid",
            (cids,),
        ),
        schema={"cid": pl.Int64, "tag_id": pl.Int64},
        orient="row",
    )
    want = want.select("cid", "tag_id")
    ops = [want.join(have, on=["cid", "tag_id"], how="anti").with_columns(op=pl.lit("a"))]
    if not merge:
        ops.append(have.join(want, on=["cid", "tag_id"], how="anti").with_columns(op=pl.lit("d")))
    changes = pl.concat(ops)
    if changes.height:
        db.copy_frame("imp_tags", changes)
        db.run(
            f"INSERT INTO {db.s}.customer_tags (customer_id, tag_id) SELECT cid, tag_id FROM imp_tags "
            "WHERE op = 'a' ON CONFLICT DO NOTHING"
        )
        db.run(
            f"DELETE FROM {db.s}.customer_tags ct USING imp_tags t "
            "WHERE t.op = 'd' AND ct.customer_id = t.cid AND ct.tag_id = t.tag_id"
        )
    # The update statement joins on its own terms.
    db.run("SET LOCAL enable_hashjoin = on; SET LOCAL enable_mergejoin = on")


def _insert_contacts(db: Db, plan: Plan, prep: Prepared) -> None:
    if prep.plain_insert:  # bulk mode: no unique index to respect, every key arrives once
        db.copy_frame(
            f"{db.s}.contacts",
            prep.contacts.select(
                "id",
                customer_id="cid",
                kind="kind",
                value="value",
                label="label",
                is_primary=pl.col("is_primary").fill_null(False),
                import_id=pl.lit(plan.import_id, pl.Int64),
            ),
        )
        return
    db.copy_frame("imp_contacts", prep.contacts)
    # In key order: consecutive inserts land on neighbouring pages of the (value, kind) index.
    db.run(
        f"""
        INSERT INTO {db.s}.contacts (customer_id, kind, value, label, is_primary, import_id)
        SELECT cid, kind, value, label, COALESCE(is_primary, false), %s FROM imp_contacts
        ORDER BY value, kind
        ON CONFLICT (kind, value) DO NOTHING
        """,
        (plan.import_id,),
    )


_TYPES = {
    "name": "text",
    "document": "text",
    "kind": "text",
    "plan": "text",
    "status": "text",
    "wallet_id": "bigint",
    "owner_id": "bigint",
}


# ----------------------------------------------------------------------------------------- writers

# Two writers: the main thread prepares batch N+2 (polars, lookups) while batches N and N+1 are written
# on their own connections. search_words is no longer upserted by a trigger on every statement (which
# made concurrent batches wait on each other's word locks while one waited for its commit turn): each
# batch records its words in its ordered commit section (Writers._commit).
WRITERS = 2


class _Aborted(Exception):
    """An earlier batch failed: this one must not commit."""


class Writers:
    """Writes prepared batches on their own connections, in parallel, committing strictly in order.

    Each batch's rows, issues and checkpoint commit in one transaction, and batch N commits only after
    N-1: the checkpoint never gets ahead of a batch that might still roll back, so a crashed worker
    resumes with no row lost or counted twice.
    """

    def __init__(
        self,
        ctx: Context,
        schema: str,
        n: int,
        timing: tuple[float, float, int],
        on_progress: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.ctx, self.schema, self.n, self.timing, self.on_progress = ctx, schema, n, timing, on_progress
        self.cond = threading.Condition()
        self.committed = -1
        self.submitted = -1
        self.error: BaseException | None = None
        self.free: queue.Queue[Db] = queue.Queue()
        self.stack = ExitStack()
        self.pool: ThreadPoolExecutor | None = None
        self.futures: list[Future[None]] = []

    def __enter__(self) -> "Writers":
        for _ in range(self.n):
            conn = self.stack.enter_context(_connection())
            db = Db(conn, self.schema)
            _setup_temp(db)
            conn.commit()
            self.free.put(db)
        self.pool = ThreadPoolExecutor(self.n, thread_name_prefix="import-writer")
        return self

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            if self.error is None and exc[0] is not None:
                self.error = _Aborted()
            self.cond.notify_all()
        if self.pool:
            self.pool.shutdown(wait=True)
        self.stack.close()

    def raise_if_failed(self) -> None:
        with self.cond:
            if self.error is not None and not isinstance(self.error, _Aborted):
                raise self.error

    def submit(self, prep: Prepared) -> None:
        assert self.pool is not None
        with self.cond:
            # Bounded: at most n batches in flight keeps memory flat.
            self.cond.wait_for(lambda: self.error is not None or self.submitted - self.committed < self.n)
        self.raise_if_failed()
        self.submitted = prep.index
        self.futures.append(self.pool.submit(self._write, prep))

    def drain(self) -> None:
        """Waits for every submitted batch (writers never raise: failures land in self.error)."""
        wait(self.futures)
        self.futures.clear()
        self.raise_if_failed()

    def _wait_turn(self, index: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.error is not None or self.committed >= index - 1)
            if self.error is not None:
                raise _Aborted()

    def _write(self, prep: Prepared) -> None:
        db = self.free.get()
        try:
            if prep.depends:
                self._wait_turn(prep.index)
            updated = write_batch(db, self.ctx.plan, prep)
            # The batch's issue rows go in before its turn: they depend on nothing another batch does,
            # and the ordered section is the one part of the write path that runs one batch at a time.
            issues = issue_rows(prep)
            if issues.height:
                db.copy_frame(
                    f"{db.s}.import_issues",
                    issues.with_columns(import_id=pl.lit(self.ctx.plan.import_id, pl.Int64)),
                )
            self._wait_turn(prep.index)
            # Our turn is exclusive by construction (batch N+1 waits for `committed` to reach N), so the
            # section runs without the condition's lock: the main thread's submit and the other writer
            # never wait for a commit in progress.
            progress = self._commit(db, prep, updated, issues)
            with self.cond:
                self.committed = prep.index
                self.cond.notify_all()
            if self.on_progress:
                self.on_progress(progress)
        except BaseException as exc:
            db.conn.rollback()
            with self.cond:
                if self.error is None or (isinstance(self.error, _Aborted) and not isinstance(exc, _Aborted)):
                    self.error = exc
                self.cond.notify_all()
        finally:
            self.free.put(db)

    def _commit(
        self, db: Db, prep: Prepared, updated: list[tuple[int, list[str]]], issues: pl.DataFrame
    ) -> dict[str, Any]:
        ctx = self.ctx
        if prep.apply is not None and prep.apply.height:
            # Typo-correction dictionary: the words of the names this batch created or changed. Here, in
            # the ordered commit section, so concurrent writers never wait on each other's words.
            renamed = [cid for cid, fields in updated if "name" in fields]
            # New customers' names as their distinct space-separated pieces (a few thousand per batch).
            pieces = (
                prep.apply.filter(pl.col("is_new"))
                .select(p=_NEW_NAME.str.split(" "))
                .explode("p")
                .get_column("p")
                .unique()
                .to_list()
            )
            if renamed:
                names = (
                    "SELECT unnest(%s::text[]) "
                    f"UNION ALL SELECT c.name FROM {db.s}.customers c WHERE c.id = ANY(%s)"
                )
                db.run(name_words_sql(self.schema, names), (pieces, renamed))
            else:  # no customers lookup: in bulk mode customers has no primary key to find them by
                db.run(name_words_sql(self.schema, "SELECT unnest(%s::text[])"), (pieces,))
        account_batch(ctx, prep, updated, issues)
        started, elapsed_before, size = self.timing
        elapsed = elapsed_before + time.monotonic() - started
        counters = ctx.state.counters
        progress = _progress(counters, prep.bytes_read, size, elapsed)
        checkpoint = {
            "resume": prep.resume,
            "next_line": prep.next_line,
            "counters": counters.to_dict(),
            "elapsed": elapsed,
        }
        db.run(
            f"UPDATE {db.s}.import_jobs SET rows_read = %s, bytes_read = %s, "
            "checkpoint = checkpoint || %s::jsonb, report = %s, updated_at = now() WHERE id = %s",
            (
                counters.read,
                prep.bytes_read,
                json.dumps(checkpoint),
                json.dumps({**counters.to_dict(), **progress}),
                ctx.plan.import_id,
            ),
        )
        # The commit does not wait for its WAL to reach the disk: batches commit strictly in order, so a
        # database crash can only lose a suffix of them, each with its own checkpoint, and the resume
        # redoes exactly those. Waiting for the flush in this one-at-a-time section cost ~35 ms a batch.
        db.run("SET LOCAL synchronous_commit = off")
        db.conn.commit()
        ctx.state.batches += 1
        return progress


# ----------------------------------------------------------------------------------------- bulk mode

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
# Primary keys dropped too: customer_tags' (customer_id, tag_id) took 0.78 s of COPY for 413k pairs when
# maintained row by row, 0.13 s + 0.20 s to re-add after a plain COPY. Every pair an import writes is
# unique (new customers only, in bulk mode); a pair another writer adds meanwhile is deduplicated before
# the key comes back (_drop_duplicate_tags).
_BULK_PK_TABLES = ("customer_tags",)
# With keep-first an import only ever inserts customers and contacts (no row of the file updates one
# an earlier batch wrote), so their primary keys can go as well: each row's btree insert, WAL record
# included, was ~40% of the COPY (0.5 s of 1.15 s for 413k customers, 0.45 s for 770k contacts), and
# the ids are presorted, so each key is re-added in ~0.2 s. Their ids come from the tables' sequences
# (reserve_ids, and nextval for anyone else's insert), so none can repeat meanwhile. Every foreign key
# that references them (interactions, notes, deals, ...) is dropped with them and re-added once the key
# is back; the tables were empty of references (no customer existed when bulk mode began).
_BULK_PK_TABLES_INSERT_ONLY = ("customers", "contacts", "customer_tags")


def _bulk_pk_tables(policy: str) -> tuple[str, ...]:
    return _BULK_PK_TABLES_INSERT_ONLY if policy == "keep-first" else _BULK_PK_TABLES


_ADD_FK = re.compile(r"^ALTER TABLE (\S+) ADD CONSTRAINT ")
# The contacts dedupe key is dropped too when every key reaches the insert at most once (see
# prepare_batch): maintaining it row by row was the largest single cost of a first import (600k random
# inserts into a btree, ~2x the cost of the rest of the contact insert). It is rebuilt first at the end.
_CONTACTS_UNIQUE = "uq_contacts_kind_value"


def _bulk_unique(policy: str) -> tuple[str, ...]:
    return () if policy == "keep-last" else (_CONTACTS_UNIQUE,)


_NOT_NULL_PREDICATE = re.compile(r" WHERE \((\w+) IS NOT NULL\)$")


def _null_columns(plan: Plan) -> set[str]:
    """customers columns this import leaves NULL on every row it creates."""
    out = set()
    if not plan.columns("owner"):
        out.add("owner_id")
    if not plan.columns("wallet"):
        out.add("wallet_id")
    if not plan.columns("document"):
        out |= {"document", "source_key"}
    return out


def _enter_bulk_mode(
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
            # and the wallet one: ~0.8 s of a 500k rebuild).
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
_MAINTENANCE = {"contacts": "VACUUM (ANALYZE) {t}", "customers": "ANALYZE {t}"}


def maintain_tables(db: Db, tables: tuple[str, ...] = tuple(_MAINTENANCE)) -> None:
    db.conn.commit()
    db.conn.autocommit = True
    try:
        for table in tables:
            db.run(_MAINTENANCE[table].format(t=f"{db.s}.{table}"))
    finally:
        db.conn.autocommit = False


# Two builds run side by side; each gets parallel workers only for cores beyond those two. On two cores a
# build's workers would only split its sort three ways, pass the runs through shared memory and merge
# them again in the leader: 6-8 % more CPU for the whole rebuild, at 500k and at 2M rows (measured).
_BUILD_HELPERS = max(0, (os.cpu_count() or 2) // 2 - 1)


def _restore_indexes(db: Db, import_id: int, defs: list[list[str]], maintain: bool = False) -> None:
    """Rebuilds the dropped indexes and re-adds the dropped foreign keys (validated in one pass each),
    two tasks at a time on connections of their own, then forgets them.

    A table is finished (its foreign keys validated, with `maintain` its statistics refreshed) once its
    own indexes are built and no build is left to start: those statements lock out index builds on
    their own table only, so they run beside the last builds and beside each other, filling the
    rebuild's tail two at a time instead of one after another (0.6-1 s of a 500k import)."""
    if not defs:
        return

    def build(name: str, ddl: str) -> None:
        ddl = ddl.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
        ddl = ddl.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX IF NOT EXISTS ", 1)
        key = _is_constraint(ddl)  # a primary key: ADD CONSTRAINT builds its index
        started = time.monotonic()
        with _connection() as conn:
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

    def finish(table: str) -> None:
        with _connection() as conn:
            side = Db(conn, db.s.strip('"'))
            for name, ddl in defs:
                if _is_foreign_key(ddl) and _table_of(ddl) == table:
                    _validate_foreign_key(side, import_id, name, ddl)
            if maintain and table in _MAINTENANCE:
                maintain_tables(side, (table,))

    # The primary keys that dropped foreign keys reference (customers, contacts) come back first, side by
    # side; then every foreign key, NOT VALID: enforced for new rows at once, and added now because
    # ADD FOREIGN KEY locks the referenced table against index builds (SHARE ROW EXCLUSIVE), so later it
    # would queue behind a long build and hold up the builds queued behind it. Its validation, the costly
    # part, locks the referenced table only in ROW SHARE mode and runs in finish() below.
    referenced = {m.group(1) for _, ddl in defs if _is_foreign_key(ddl) and (m := _REFERENCES.search(ddl))}
    keys = [d for d in defs if _is_primary_key(d[1]) and _table_of(d[1]) in referenced]
    with ThreadPoolExecutor(2, thread_name_prefix="import-index") as pool:
        for future in [pool.submit(build, name, ddl) for name, ddl in keys]:
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
            d[0] != _CONTACTS_UNIQUE,
            d[0],
        ),
    )
    tables = sorted({_table_of(ddl) for _, ddl in defs} | (set(_MAINTENANCE) if maintain else set()))
    left = {t: sum(1 for _, ddl in builds if _table_of(ddl) == t) for t in tables}
    ready = [t for t in tables if left[t] == 0]
    running: dict[Future[None], str | None] = {}
    with ThreadPoolExecutor(2, thread_name_prefix="import-index") as pool:

        def launch() -> None:
            # Builds before finishes: the finishes (0.3-0.8 s each at 500k) then run side by side at the
            # end, and the one that must come last (customers' ANALYZE, after its last build) has the
            # others beside it instead of running alone.
            while len(running) < 2 and (ready or builds):
                if builds:
                    name, ddl = builds.pop(0)
                    running[pool.submit(build, name, ddl)] = _table_of(ddl)
                else:
                    running[pool.submit(finish, ready.pop(0))] = None

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
    db.run(
        f"UPDATE {db.s}.import_jobs SET checkpoint = checkpoint - 'dropped_indexes' WHERE id = %s",
        (import_id,),
    )
    db.conn.commit()


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


def _validate_foreign_key(db: Db, import_id: int, name: str, ddl: str) -> None:
    """Validated by one join (added NOT VALID first if it is not back yet). Rows come only from this
    import's own customers; a failed validation (an orphan from a concurrent hard delete) leaves the key
    enforced-but-unvalidated and is logged, not raised."""
    _add_foreign_key(db, name, ddl)
    try:
        # The validation is one anti join of the referencing column against the referenced key. Both
        # sides have their btree by now (referenced keys are rebuilt first, a table is finished after its
        # own builds), so a merge join reads two indexes in order. The planner's default, a hash join,
        # hashed 1.65M customer ids in batches and probed them at random: 1.8-2.2 s per key at 2M rows
        # against 0.3 s at 500k, the one part of the rebuild that grew 7x for 4x the rows; merged,
        # 0.7-1.0 s. One process each: the finishes already run two at a time.
        db.run("SET LOCAL enable_hashjoin = off")
        db.run("SET LOCAL max_parallel_workers_per_gather = 0")
        db.run(f'ALTER TABLE {_fk_table(ddl)} VALIDATE CONSTRAINT "{name}"')
        db.conn.commit()
    except psycopg.errors.ForeignKeyViolation:
        db.conn.rollback()
        log.exception("import %s: foreign key %s left NOT VALID", import_id, name)


# ----------------------------------------------------------------------------------------- run


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
            out.setdefault(fold(name), uid)
    return out


def run(
    schema: str,
    import_id: int,
    storage: Storage | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) import `import_id` of tenant `schema` to completion; returns the report."""
    storage = storage or get_storage()
    with _connection() as conn:
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
        db.run(f"DROP TABLE IF EXISTS {_SPILL_TABLE}")
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


def _restore_for_dead_imports(db: Db, schema: str, import_id: int) -> None:
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
            _restore_indexes(db, other, _saved_definitions(row[0] if row else None))
        finally:
            db.conn.rollback()
            db.run("SELECT pg_advisory_unlock(hashtext(%s), %s)", (schema, other))
            db.conn.commit()


def _saved_definitions(checkpoint: Any) -> list[list[str]]:
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


def _contacts_snapshot(db: Db) -> pl.DataFrame:
    """Every contact as (key, cid), read by one COPY: the replay's lookups while the dedupe key is down."""
    query = psql.SQL(
        "COPY (SELECT kind, value, customer_id FROM {}.contacts) TO STDOUT WITH (FORMAT csv)"
    ).format(psql.Identifier(db.s.strip('"')))
    buf = io.BytesIO()
    with db.conn.cursor() as cur, cur.copy(query) as cp:
        for chunk in cp:
            buf.write(chunk)
    empty = pl.DataFrame(schema={"key": pl.String, "cid": pl.Int64})
    if buf.tell() == 0:
        return empty
    buf.seek(0)
    frame = pl.read_csv(
        buf,
        has_header=False,
        new_columns=["kind", "value", "cid"],
        schema={"kind": pl.String, "value": pl.String, "cid": pl.Int64},
    )
    return frame.select(key=pl.col("kind").str.slice(0, 1) + pl.col("value"), cid="cid")


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
    dropped: list[list[str]] = _saved_definitions(row[1])
    if row[0] in ("done", "failed", "cancelled"):
        db.conn.rollback()
        _restore_indexes(db, import_id, dropped)
        return dict(db.one(f"SELECT report FROM {db.s}.import_jobs WHERE id = %s", (import_id,))[0] or {})
    db.run(
        f"UPDATE {db.s}.import_jobs SET state = 'running', started_at = COALESCE(started_at, now()), "
        "updated_at = now(), error = NULL WHERE id = %s",
        (import_id,),
    )
    db.conn.commit()
    started = time.monotonic()
    try:
        _restore_for_dead_imports(db, schema, import_id)
        plan, job = _load_plan(db, schema, import_id)
        checkpoint = _check_checkpoint(job["checkpoint"])
        elapsed_before = float(checkpoint.get("elapsed", 0.0))
        resume = checkpoint.get("resume")
        rebuilding = checkpoint.get("phase") == "rebuild"  # every batch committed before the crash
        if resume is None and not rebuilding and not dropped:
            dropped = _enter_bulk_mode(
                db, schema, import_id, int(job["file_size"] or 0), plan.policy, _null_columns(plan)
            )
        _setup_temp(db)
        lookup_db = bool(
            db.one(
                f"SELECT EXISTS (SELECT 1 FROM {db.s}.contacts WHERE import_id IS DISTINCT FROM %s)",
                (import_id,),
            )[0]
        )
        db.conn.commit()
        if dropped and not rebuilding and lookup_db:
            # Someone wrote contacts while the keys were down: the remaining batches must look keys up in
            # the database, which without the dedupe key is a scan per batch. Keys and indexes come back
            # first (duplicates reconciled), and the import goes on in normal mode.
            log.warning("import %s in %s: resuming in normal mode, keys restored first", import_id, schema)
            _restore_indexes(db, import_id, dropped)
            dropped = []
        ctx = Context(
            db=db,
            plan=plan,
            state=State(
                counters=Counters.from_dict(checkpoint.get("counters", {})), seen_keys=KeyMap(spill_to=db)
            ),
            owners=_owners(db, schema) if plan.columns("owner") else {},
            wallets={},
            lookup_db=lookup_db,
            contacts_unindexed=any(name == _CONTACTS_UNIQUE for name, _ in dropped),
            lookup_source=bool(
                db.one(
                    f"SELECT EXISTS (SELECT 1 FROM {db.s}.customers WHERE source = %s "
                    "AND import_id IS DISTINCT FROM %s)",
                    (plan.source, import_id),
                )[0]
            ),
        )
        if not rebuilding:
            _read_and_write(ctx, schema, storage, job, checkpoint, (started, elapsed_before), on_progress)
        maintained = bool(dropped)
        _restore_indexes(db, import_id, dropped, maintain=True)
        dropped = []
        counters = ctx.state.counters
        # A re-import that created and changed nothing (the usual weekly export) leaves the statistics
        # and the visibility map as they were: ~0.4 s of VACUUM/ANALYZE for nothing at 500k.
        if not maintained and (counters.created or counters.updated):
            maintain_tables(db)
        report = ctx.state.counters.to_dict()
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
    except Cancelled:
        db.conn.rollback()
        _restore_indexes(db, import_id, dropped)
        return _stop(db, import_id, "cancelled", None)
    except DomainError as exc:
        # Nothing to resume from (file gone, checkpoint corrupt): the tenant gets its keys back now, the
        # duplicates written meanwhile reconciled, and the job fails with the reason.
        db.conn.rollback()
        _restore_indexes(db, import_id, dropped)
        return _stop(db, import_id, "failed", exc.message)
    except Exception:
        db.conn.rollback()
        try:
            _restore_indexes(db, import_id, dropped)
        except Exception:  # the original error matters more; the next run restores them
            db.conn.rollback()
            log.exception("import %s in %s: index rebuild after failure failed", import_id, schema)
        log.exception("import %s in %s failed", import_id, schema)
        _stop(
            db, import_id, "failed", "Falha inesperada na importação; as partes já gravadas foram mantidas."
        )
        raise


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
        ctx.source_map = load_source_map(db, plan.source, import_id)
    db.conn.commit()
    started, elapsed_before = timing
    with storage.open_local(job["storage_key"]) as path:
        info = readers.info_from_options(path, job["options"])
        resume = checkpoint.get("resume")
        if resume is not None:
            if ctx.contacts_unindexed:
                ctx.replay_contacts = _contacts_snapshot(db)
                db.conn.commit()
            _replay(ctx, path, info, int(resume))
            ctx.replay_contacts = None
        batches = readers.iter_batches(path, info, resume, checkpoint.get("next_line"))
        with (
            Writers(ctx, schema, WRITERS, (started, elapsed_before, info.size), on_progress) as writers,
            _ahead(ctx, schema, batches) as looked_batches,
        ):
            for index, (batch, looked) in enumerate(looked_batches):
                writers.raise_if_failed()
                if db.one(f"SELECT cancel_requested FROM {db.s}.import_jobs WHERE id = %s", (import_id,))[0]:
                    writers.drain()
                    raise Cancelled()
                prep = prepare_batch(ctx, batch.frame, batch.errors, dry=False, index=index, looked=looked)
                db.conn.commit()  # lookups and id allocation only: keep no transaction open
                prep.resume, prep.next_line, prep.bytes_read = (
                    batch.resume,
                    batch.next_line,
                    batch.bytes_read,
                )
                writers.submit(prep)
            writers.drain()
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
    ctx: Context, schema: str, batches: Iterator[readers.Batch]
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
                _connection() as conn,
                _connection() as side_conn,
                ThreadPoolExecutor(1, thread_name_prefix="import-lookup") as pool,
            ):
                db, side = Db(conn, schema), (pool, Db(side_conn, schema))
                for batch in batches:
                    if not put((batch, look_up(ctx, db, batch.frame, batch.errors, dry=False, side=side))):
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


def _progress(c: Counters, done: int, total: int, elapsed: float) -> dict[str, Any]:
    rate = c.read / elapsed if elapsed > 0 else 0.0
    frac = min(done / total, 1.0) if total else 1.0
    eta = elapsed * (1 - frac) / frac if frac > 0 else None
    return {
        "rows_read": c.read,
        "rate": round(rate, 1),
        "eta_s": None if eta is None else round(eta, 1),
        "progress": round(frac, 4),
        "elapsed_s": round(elapsed, 2),
    }


def _replay(ctx: Context, path: Path, info: readers.FileInfo, resume: int) -> None:
    """Rebuilds the in-file dedupe state for the part committed before a crash (no writes)."""
    for batch in readers.iter_batches(path, info, None, None):
        if batch.frame.height:
            frame = batch.frame
            prepare_batch(ctx, frame, [], dry=True)
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
