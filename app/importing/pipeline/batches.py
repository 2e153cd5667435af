"""Batch preparation: look a batch's keys up (in the database, in earlier imports of the source),
group its rows into customers against the in-file key map, allocate new ids, pick the values each
customer gets under the duplicate policy, and count what a written batch did. No customer writes."""

import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
from psycopg import sql as psql

from app.importing import readers
from app.importing.pipeline import identity
from app.importing.pipeline.database import INDEX_PROBE, Db, reserve_ids
from app.importing.pipeline.keymap import State, doc_number
from app.importing.pipeline.normalise import (
    APPLY_FIELDS,
    ISSUE_SCHEMA,
    document_keys,
    empty_issues,
    issues_of,
    keys_of,
    normalise,
)
from app.importing.pipeline.plan import Plan
from app.importing.report import CONFLICT_REASONS

EXISTING_SCHEMA = {"key": pl.String, "cid": pl.Int64, "doc": pl.String}

# A customer's document as the lookups report it: not for customers this import created, whose
# documents the file itself decides (a resume's replay must not see a document a later batch gave them).
_OWNER_DOC = "CASE WHEN cu.import_id IS DISTINCT FROM %s THEN cu.document END"


def lookup_existing(db: Db, keys: pl.DataFrame, import_id: int) -> pl.DataFrame:
    """(key, cid, doc) for keys already owned by a customer (doc: that customer's document): index
    lookups through uq_contacts_kind_value."""
    wanted = keys.select("kind", "value").unique().sort("value", "kind")  # the key's order (t0011)
    if wanted.height == 0:
        return pl.DataFrame(schema=EXISTING_SCHEMA)
    db.run(INDEX_PROBE)
    rows = db.all(
        f"SELECT c.kind, c.value, c.customer_id, {_OWNER_DOC} "
        f"FROM unnest(%s::text[], %s::text[]) AS k(kind, value) "
        f"JOIN {db.s}.contacts c ON c.kind = k.kind AND c.value = k.value "
        f"LEFT JOIN {db.s}.customers cu ON cu.id = c.customer_id",
        (import_id, wanted.get_column("kind").to_list(), wanted.get_column("value").to_list()),
    )
    found = pl.DataFrame(
        rows, schema={"kind": pl.String, "value": pl.String, "cid": pl.Int64, "doc": pl.String}, orient="row"
    )
    return found.select(key=pl.col("kind").str.slice(0, 1) + pl.col("value"), cid="cid", doc="doc")


def lookup_documents(db: Db, doc_keys: pl.DataFrame, import_id: int) -> pl.DataFrame:
    """(key, cid, doc) for document keys a live customer already has (the oldest, when several share
    it): index probes through ix_customers_document."""
    wanted = doc_keys.select(pl.col("key").str.slice(1)).unique().sort("key").get_column("key")
    if wanted.len() == 0:
        return pl.DataFrame(schema=EXISTING_SCHEMA)
    db.run(INDEX_PROBE)
    rows = db.all(
        f"SELECT DISTINCT ON (cu.document) cu.document, cu.id, {_OWNER_DOC} "
        f"FROM unnest(%s::text[]) AS k(document) JOIN {db.s}.customers cu ON cu.document = k.document "
        "WHERE cu.deleted_at IS NULL ORDER BY cu.document, cu.id",
        (import_id, wanted.to_list()),
    )
    found = pl.DataFrame(
        rows, schema={"document": pl.String, "cid": pl.Int64, "doc": pl.String}, orient="row"
    )
    return found.select(key=pl.lit("d") + pl.col("document"), cid="cid", doc="doc")


SOURCE_MAP_SCHEMA = {"n_document": pl.String, "cid": pl.Int64, "hash": pl.Int64}


def load_source_map(db: Db, source: str, import_id: int) -> pl.DataFrame:
    """source key -> (customer, import_hash) of every live customer earlier imports of `source` wrote,
    read once per import by one COPY: probing the source index per row cost far more on a re-import
    (docs/benchmarks.md). It grows with the source, not with the file.

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
    bulk_mode: bool = False  # bulk mode dropped secondary indexes (ix_customers_document among them)
    # A resume's replay in bulk mode: every contact (key, cid) and every document (key, cid), read once,
    # answer the replayed batches' lookups instead of the dropped indexes (each probe would scan).
    replay_contacts: pl.DataFrame | None = None
    replay_documents: pl.DataFrame | None = None
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
    # import_issues rows of the grouping: duplicates, rows that met an existing customer, conflicts
    dedupe: pl.DataFrame | None = None
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
    doc_keys: pl.DataFrame | None = None  # row, pos (-1), key ("d" + CPF/CNPJ)
    # key, cid, doc: contacts and documents in the database (keys of unsettled rows), with the document
    # of their customer
    existing: pl.DataFrame | None = None
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
    doc_keys = looked.doc_keys = document_keys(valid)
    # Only what grouping and writing read from here on: a batch waiting in the look-ahead queue then
    # holds a third of its normalised width (raw cells and per-column phones are gone).
    valid = looked.valid = valid.select("_line", *APPLY_FIELDS, "row_hash")
    probe, doc_probe = keys, doc_keys
    if ctx.source_map is not None:
        matched = valid.select("_line", "n_document", "row_hash").join(ctx.source_map, on="n_document")
        looked.by_source = matched.select("n_document", "cid").unique("n_document")
        looked.settled = matched.filter(pl.col("hash") == pl.col("row_hash")).get_column("_line")
        probe = keys.filter(~pl.col("row").is_in(looked.settled.implode()))
        doc_probe = doc_keys.filter(~pl.col("row").is_in(looked.settled.implode()))

    if dry and ctx.replay_contacts is not None:
        # Bulk mode began on an empty tenant: every customer is this import's, none has a document the
        # lookups would report (_OWNER_DOC).
        found = [probe.select("key").unique().join(ctx.replay_contacts, on="key")]
        if ctx.replay_documents is not None:
            found.append(doc_probe.select("key").unique().join(ctx.replay_documents, on="key"))
        looked.existing = pl.concat(found).with_columns(doc=pl.lit(None, pl.String))
        return looked

    def email_lookups(on: Db) -> pl.DataFrame | None:
        emails = None
        if ctx.lookup_db or dry:
            emails = lookup_existing(on, probe.filter(pl.col("kind") == "email"), plan.import_id)
        on.conn.commit()  # lookups only: keep no transaction (nor its SET LOCALs) open between batches
        return emails

    pending = side[0].submit(email_lookups, side[1]) if side else None
    phones = docs = None
    if ctx.lookup_db or dry:
        phones = lookup_existing(db, probe.filter(pl.col("kind") != "email"), plan.import_id)
        if dry and ctx.replay_documents is not None:  # bulk mode: ix_customers_document is down
            docs = (
                doc_probe.select("key")
                .unique()
                .join(ctx.replay_documents, on="key")
                .with_columns(doc=pl.lit(None, pl.String))
            )
        else:
            docs = lookup_documents(db, doc_probe, plan.import_id)
    db.conn.commit()
    emails = pending.result() if pending else email_lookups(db)
    if phones is not None and emails is not None and docs is not None:
        looked.existing = pl.concat([phones, emails, docs])
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
    st = ctx.state
    if looked is None:
        looked = look_up(ctx, ctx.db, frame, line_errors, dry)
    valid, issues = looked.valid, looked.issues
    n_read = frame.height + len(line_errors)
    prep = Prepared(index, n_read, valid.height if valid is not None else 0, issues)
    if valid is None or valid.height == 0 or looked.keys is None or looked.doc_keys is None:
        return prep
    keys = looked.keys
    all_keys = pl.concat([looked.doc_keys, keys.select("row", "pos", "key")])
    # One lookup in the (large) in-file key map per batch; everything else joins small frames.
    in_seen = st.seen_keys.lookup(all_keys)
    known_keys = in_seen.select("key").unique()
    cands = _candidates(looked, valid, all_keys, in_seen, known_keys)
    row_docs = valid.filter(pl.col("n_document").is_not_null()).select(
        row=pl.col("_line").cast(pl.Int64), doc=doc_number(pl.col("n_document"))
    )
    known_docs = _known_docs(st, looked, cands)
    # Every valid row has a contact, so a key: the valid rows are the rows to place.
    res = identity.resolve(valid.select(row=pl.col("_line").cast(pl.Int64)), cands, row_docs, known_docs)
    rows = _outcomes(ctx, _customers_of(ctx, res.owners, dry), in_seen.get_column("cid"), looked.settled)
    key_owners = _key_owners(all_keys, known_keys, rows, looked.existing)
    if not dry:
        in_db = looked.existing.select("key") if looked.existing is not None else None
        _stage_writes(ctx, prep, valid, rows, _new_keys(ctx.plan, keys, in_db, known_keys), key_owners)
        prep.dedupe = _dedupe_issues(frame, valid, rows, res)
    _remember(st, key_owners, rows, res.pointed, known_docs)
    return prep


def _known_docs(st: State, looked: Looked, cands: pl.DataFrame) -> pl.DataFrame:
    """(cid, doc, from_map) for the known customers among the candidates whose document is known: the
    in-file map's (documents the file gave them) first, then the database's."""
    cids = cands.get_column("cid").drop_nulls().unique()
    parts = [st.seen_keys.docs_of(cids).with_columns(from_map=pl.lit(True))]
    if looked.existing is not None:
        parts.append(
            looked.existing.filter(
                pl.col("doc").is_not_null() & pl.col("doc").str.len_bytes().is_in([11, 14])
            ).select("cid", doc=doc_number(pl.col("doc")), from_map=pl.lit(False))
        )
    if looked.by_source is not None:
        parts.append(
            looked.by_source.select("cid", doc=doc_number(pl.col("n_document")), from_map=pl.lit(False))
        )
    return (
        pl.concat(parts).filter(pl.col("doc").is_not_null()).unique("cid", keep="first", maintain_order=True)
    )


def _key_owners(
    all_keys: pl.DataFrame, known_keys: pl.DataFrame, rows: pl.DataFrame, existing: pl.DataFrame | None
) -> pl.DataFrame:
    """(key, cid, line) for the keys the batch brings into the file: a key some customer already has in
    the database stays that customer's (a conflicting row does not take it along); the others belong to
    the customer of the first row that has them (line: that row, the report's "linha N")."""
    # keys come in (row, pos) order per kind (keys_of, document_keys): first occurrence = first row.
    fresh = (
        all_keys.join(known_keys, on="key", how="anti", maintain_order="left")
        .filter(pl.col("key").is_first_distinct())
        .join(rows.select("row", row_cid="cid"), on="row", how="left")
    )
    if existing is not None and existing.height:
        fresh = fresh.join(existing.select("key", db_cid="cid").unique("key"), on="key", how="left")
    else:
        fresh = fresh.with_columns(db_cid=pl.lit(None, pl.Int64))
    return (
        fresh.with_columns(cid=pl.coalesce("db_cid", "row_cid"))
        .filter(pl.col("cid").is_not_null())
        .select(
            "key",
            "cid",
            line=pl.when(pl.col("cid") == pl.col("row_cid")).then(pl.col("row").cast(pl.Int64)),
        )
    )


def _candidates(
    looked: Looked, valid: pl.DataFrame, keys: pl.DataFrame, in_seen: pl.DataFrame, known_keys: pl.DataFrame
) -> pl.DataFrame:
    """Candidate owners of each row (row, pos, ref, cid), in the row's column order: a customer already
    known (a key of an earlier batch, an existing contact, the source key of an earlier import) or an
    earlier row of this batch that introduced one of its keys. Later rows never reach back to earlier
    ones."""
    cand = [in_seen.select("row", "pos", "cid", "line")]
    if looked.existing is not None:
        # A key the file introduced earlier resolves through the in-file map (the same customer the
        # database has for it once that batch committed); the database answers for the rest.
        rest = keys.join(known_keys, on="key", how="anti")
        cand.append(
            rest.join(looked.existing.unique("key", keep="first"), on="key").select(
                "row", "pos", "cid", line=pl.lit(None, pl.Int64)
            )
        )
    if looked.by_source is not None:
        docs = valid.filter(pl.col("n_document").is_not_null()).select("_line", "n_document")
        cand.append(
            docs.join(looked.by_source, on="n_document").select(
                row=pl.col("_line"), pos=pl.lit(-2, pl.Int32), cid=pl.col("cid"), line=pl.lit(None, pl.Int64)
            )
        )
    known = pl.concat(cand, how="vertical_relaxed").select(
        pl.col("row").cast(pl.Int64),
        "pos",
        ref=pl.lit(None, pl.Int64),
        cid="cid",
        line=pl.col("line").cast(pl.Int64),
    )
    # An earlier row of the batch is a candidate only for a key new to the file: a key a customer already
    # has stays that customer's whichever way the earlier row went (no false conflict through it).
    fresh = keys.join(known_keys, on="key", how="anti")
    if looked.existing is not None:
        fresh = fresh.join(looked.existing.select("key"), on="key", how="anti")
    first = fresh.group_by("key").agg(first=pl.col("row").min())
    earlier = (
        fresh.join(first, on="key")
        .filter(pl.col("first") < pl.col("row"))
        .select(
            pl.col("row").cast(pl.Int64),
            "pos",
            ref=pl.col("first").cast(pl.Int64),
            cid=pl.lit(None, pl.Int64),
            line=pl.col("first").cast(pl.Int64),
        )
    )
    # Stable: at the same (row, column) a customer the key already belongs to comes before an earlier row
    # of this batch with that key (which may itself have gone elsewhere through a conflict). Unstable,
    # the same file re-imported flipped a row between "updated" and "duplicate" from run to run.
    return pl.concat([known, earlier]).sort("row", "pos", maintain_order=True)


def _customers_of(ctx: Context, owners: pl.DataFrame, dry: bool) -> pl.DataFrame:
    """row -> (cid, is_new): new customers get their ids in file order (owner = -row); a dry replay
    allocates none (its rows were written before the crash)."""
    roots = owners.filter(pl.col("owner") < 0).select("owner").unique().sort("owner", descending=True)
    if dry:
        new_ids = roots.with_columns(new_cid=pl.lit(None, pl.Int64))
    else:
        first_id = reserve_ids(ctx.db, "customers", roots.height)
        new_ids = roots.with_columns(new_cid=pl.int_range(first_id, first_id + roots.height, dtype=pl.Int64))
    return (
        owners.join(new_ids, on="owner", how="left")
        .with_columns(
            is_new=pl.col("owner") < 0,
            cid=pl.coalesce("new_cid", pl.when(pl.col("owner") > 0).then(pl.col("owner"))),
        )
        .filter(pl.col("cid").is_not_null())
        .select("row", "cid", "is_new")
    )


def _outcomes(
    ctx: Context, rows: pl.DataFrame, seen_cids: pl.Series, settled: pl.Series | None
) -> pl.DataFrame:
    """Adds was_seen, settled, lead/last (the customer's first and last row) and each row's outcome
    (dup | created | matched)."""
    # Touched by an earlier batch: a customer reached through the in-file key map, or an existing
    # customer an earlier row pointed at.
    rows = rows.with_columns(
        was_seen=pl.col("cid").is_in(seen_cids.implode()) | pl.col("cid").is_in(ctx.state.cids().implode())
    )
    # A settled row counts as it would (unchanged, or a duplicate) but writes nothing.
    settled = settled if settled is not None else pl.Series("row", [], dtype=pl.Int64)
    rows = rows.with_columns(settled=pl.col("row").is_in(settled.implode()))
    return rows.with_columns(
        lead=pl.col("row").min().over("cid"), last=pl.col("row").max().over("cid")
    ).with_columns(
        outcome=pl.when(pl.col("was_seen") | (pl.col("row") != pl.col("lead")))
        .then(pl.lit("dup"))
        .when(pl.col("is_new"))
        .then(pl.lit("created"))
        .otherwise(pl.lit("matched"))
    )


def _new_keys(
    plan: Plan, keys: pl.DataFrame, in_db: pl.DataFrame | None, known_keys: pl.DataFrame
) -> pl.DataFrame:
    """The keys whose contacts the batch sends to the insert."""
    # A contact the database already has would be a no-op ON CONFLICT insert (a re-import is mostly
    # those): not sent. New customers never have one (their keys matched nobody).
    new_keys = keys if in_db is None else keys.join(in_db, on="key", how="anti")
    if plan.policy != "keep-last":
        # A key an earlier batch introduced was written then (merge writes every row's keys), or
        # belongs to rows that are never written (keep-first skips duplicates): never resent, so
        # each key reaches the contacts insert at most once per import (bulk mode relies on it).
        # keep-last may write it later, with the customer's last row: it keeps ON CONFLICT.
        new_keys = new_keys.join(known_keys, on="key", how="anti")
    return new_keys


def _stage_writes(
    ctx: Context,
    prep: Prepared,
    valid: pl.DataFrame,
    rows: pl.DataFrame,
    new_keys: pl.DataFrame,
    key_owners: pl.DataFrame,
) -> None:
    """What the writers will write: the customers' values, wallets and tags resolved to ids, the
    contacts to insert, and whether the batch must wait for the earlier ones to commit."""
    plan = ctx.plan
    prep.rows = rows.select("row", "cid", "outcome")
    apply = _apply_values(ctx, valid, rows)
    if apply.height and plan.columns("wallet"):
        _resolve_wallets(ctx, apply.get_column("wallet").drop_nulls().unique().to_list())
    prep.apply = apply = apply.with_columns(
        wallet_id=pl.col("wallet").replace_strict(ctx.wallets, default=None, return_dtype=pl.Int64)
        if ctx.wallets
        else pl.lit(None, pl.Int64)
    )
    if apply.height and plan.columns("tags"):
        prep.tags = _tag_pairs(ctx, apply)
    contacts = _contacts_to_add(ctx, new_keys, rows, key_owners)
    prep.plain_insert = ctx.contacts_unindexed
    if prep.plain_insert:  # ids drawn here in one block, not by COPY one nextval at a time
        first_id = reserve_ids(ctx.db, "contacts", contacts.height)
        contacts = contacts.with_columns(
            id=pl.int_range(first_id, first_id + contacts.height, dtype=pl.Int64)
        )
    prep.contacts = contacts
    # keep-first never writes to a customer an earlier batch touched; the other policies may, and
    # then this batch waits for the earlier ones to commit (a row must see the row it updates).
    prep.depends = plan.policy != "keep-first" and bool(rows.get_column("was_seen").any())


def _remember(
    st: State, key_owners: pl.DataFrame, rows: pl.DataFrame, pointed: pl.Series, known_docs: pl.DataFrame
) -> None:
    """Advances the in-file dedupe state past the batch (`key_owners`: _key_owners; `pointed`: the
    existing customers a row's keys pointed at, conflict losers too; `known_docs`: _known_docs)."""
    st.seen_keys.add(key_owners)
    # The documents of customers the database told about (not yet in the map): later batches that meet
    # them by a contact must know them too.
    told = known_docs.filter(~pl.col("from_map")).join(
        key_owners.filter(pl.col("key").str.starts_with("d")).select("cid"), on="cid", how="anti"
    )
    if told.height:
        st.seen_keys.add_docs(told.select(num="doc", cid="cid", line=pl.lit(None, pl.Int64)))
    # Customers a row pointed at are in this version of the source: not missing.
    existing = pl.concat([rows.filter(~pl.col("is_new")).get_column("cid"), pointed.rename("cid")])
    if existing.len():
        st.seen_cids.append(existing.unique())


def issue_rows(prep: Prepared) -> pl.DataFrame:
    """The batch's rows for import_issues: per-line errors and warnings, plus the grouping's duplicates
    and conflicts (_dedupe_issues). Written in the batch's own transaction: the report's samples and the
    CSVs come from them, so a resumed import reports exactly what an uninterrupted one does."""
    if prep.dedupe is None or prep.dedupe.height == 0:
        return prep.issues
    return pl.concat([prep.issues, prep.dedupe], how="vertical_relaxed")


# What a duplicate or conflict row's "por" says, by the kind of key (identity.why) and document length.
_WHY_PT = {"phone": "mesmo telefone", "email": "mesmo e-mail", "cpf": "mesmo CPF", "cnpj": "mesmo CNPJ"}


def _dedupe_issues(
    frame: pl.DataFrame, valid: pl.DataFrame, rows: pl.DataFrame, res: identity.Resolution
) -> pl.DataFrame:
    """import_issues rows of the grouping, with the row's raw cells, the line/customer it met and why
    (raw: {"cells", "into_line", "into_customer", "by"}):
    - `duplicado`: folded into an earlier row of the file (counted in `duplicates`);
    - `cliente_existente`: the first row of the file for a customer that existed, found by its document
      or a contact (counted in updated/unchanged; a re-import's rows found by their own source key are
      the source's own customers, not listed);
    - `conflito_documento` / `conflito`: see identity.py."""
    folded = (
        rows.filter((pl.col("outcome") == "dup") | ((pl.col("outcome") == "matched") & ~pl.col("settled")))
        .select("row", "cid", "outcome")
        .join(res.chosen, on="row")
        .filter((pl.col("outcome") == "dup") | (pl.col("pos") != -2))
        .select(
            line="row",
            severity=pl.lit("info"),
            reason=pl.when(pl.col("outcome") == "dup")
            .then(pl.lit("duplicado"))
            .otherwise(pl.lit("cliente_existente")),
            pos="pos",
            into_line="line",
            into_customer="cid",
        )
    )
    # The other customer: a known one, or the new customer an earlier row of the batch started (-row).
    started = rows.select(other=-pl.col("row"), new_cid="cid")
    clashes = res.conflicts.join(started, on="other", how="left").select(
        line="row",
        severity=pl.lit("warning"),
        reason="reason",
        pos="pos",
        into_line="line",
        into_customer=pl.when(pl.col("other") > 0).then(pl.col("other")).otherwise(pl.col("new_cid")),
    )
    found = pl.concat([folded, clashes], how="vertical_relaxed")
    if found.height == 0:
        return empty_issues()
    data_cols = [c for c in frame.columns if c.startswith("c") and c[1:].isdigit()]
    # Only the rows listed: the raw batch is wide and most of its rows are not.
    cells = frame.filter(pl.col("_line").cast(pl.Int64).is_in(found.get_column("line").implode())).select(
        line=pl.col("_line").cast(pl.Int64),
        cells=pl.concat_list([pl.col(c).fill_null("").str.slice(0, 10_000) for c in data_cols]),
    )
    docs = valid.select(line=pl.col("_line").cast(pl.Int64), doc_len=pl.col("n_document").str.len_bytes())
    by = identity.why(pl.col("pos"))
    by_key = (
        pl.when(by.is_in(["document", "source"]))
        .then(pl.when(pl.col("doc_len") == 14).then(pl.lit("cnpj")).otherwise(pl.lit("cpf")))
        .otherwise(by)
    )
    # The line when the file brought the key in, else the customer that existed before the import: never
    # the id of a customer this import created, which a resume after a crash may not give again (a killed
    # batch's reserved ids are not reused) while the report must read the same (the CSV has the ids).
    target = (
        pl.when(pl.col("into_line").is_not_null())
        .then(pl.format("linha {}", "into_line"))
        .otherwise(pl.format("cliente #{}", "into_customer"))
    )
    return (
        found.join(docs, on="line", how="left")
        .join(cells, on="line", how="left")
        .with_columns(by=by_key.replace_strict(_WHY_PT, default=None))
        .select(
            "line",
            "severity",
            "reason",
            field=by.replace({"source": "document"}),
            value=pl.format("{}, {}", target, "by").str.slice(0, 500),
            raw=pl.struct("cells", "into_line", "into_customer", "by").struct.json_encode(),
        )
        .sort("line")
    )


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
    if issues.height:
        for sev, reason, n in issues.group_by("severity", "reason").len().iter_rows():
            if sev == "error":
                c.errors[reason] += n
            elif sev == "warning":
                c.warnings[reason] += n
            if reason in CONFLICT_REASONS:
                c.conflicts += n
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


def _apply_values(ctx: Context, valid: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The field values each touched customer gets, by the duplicate policy."""
    policy = ctx.plan.policy
    fields = list(APPLY_FIELDS)
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
    # A new customer always carries its identity document (the first its rows have: they all have that one
    # or none), whatever the policy picked: a resume's replay finds a customer the file created by it.
    group_doc = data.group_by("cid").agg(group_doc=pl.col("n_document").drop_nulls().first())
    picked = picked.join(group_doc, on="cid", how="left").with_columns(
        n_document=pl.when(pl.col("is_new"))
        .then(pl.coalesce("n_document", "group_doc"))
        .otherwise(pl.col("n_document"))
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


def _contacts_to_add(
    ctx: Context, keys: pl.DataFrame, rows: pl.DataFrame, key_owners: pl.DataFrame
) -> pl.DataFrame:
    policy = ctx.plan.policy
    data = (
        keys.join(
            rows.filter(~pl.col("settled")).select("row", "cid", "lead", "last", "was_seen", "is_new"),
            on="row",
            maintain_order="left",  # keys are in (row, pos) order: the first occurrence of a key wins
        )
        # A key goes to the customer it belongs to (_key_owners), never with a row that went elsewhere
        # (a conflict): the contact stays with the first.
        .join(key_owners.select("key", owner="cid"), on="key", how="left", maintain_order="left")
        .filter(pl.col("owner").is_null() | (pl.col("owner") == pl.col("cid")))
    )
    if policy == "keep-first":
        data = data.filter((pl.col("row") == pl.col("lead")) & ~pl.col("was_seen"))
    elif policy == "keep-last":
        data = data.filter(pl.col("row") == pl.col("last"))
    data = data.filter(pl.col("key").is_first_distinct())
    first_of_kind = pl.struct("cid", "kind").is_first_distinct()
    return data.select("cid", "kind", "value", "label", is_primary=pl.col("is_new") & first_of_kind)


def documents_snapshot(db: Db) -> pl.DataFrame:
    """Every live customer's document as (key, cid), the oldest customer per document, read by one COPY:
    the replay's document lookups while bulk mode's indexes are down."""
    query = psql.SQL(
        "COPY (SELECT document, min(id) FROM {}.customers WHERE document IS NOT NULL AND deleted_at IS NULL "
        "GROUP BY document) TO STDOUT WITH (FORMAT csv)"
    ).format(psql.Identifier(db.s.strip('"')))
    buf = io.BytesIO()
    with db.conn.cursor() as cur, cur.copy(query) as cp:
        for chunk in cp:
            buf.write(chunk)
    if buf.tell() == 0:
        return pl.DataFrame(schema={"key": pl.String, "cid": pl.Int64})
    buf.seek(0)
    frame = pl.read_csv(
        buf,
        has_header=False,
        new_columns=["document", "cid"],
        schema={"document": pl.String, "cid": pl.Int64},
    )
    return frame.select(key=pl.lit("d") + pl.col("document"), cid="cid")


def contacts_snapshot(db: Db) -> pl.DataFrame:
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
