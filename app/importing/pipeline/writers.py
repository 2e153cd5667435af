"""Ordered writers: set-based writes of prepared batches on connections of their own, in parallel,
each batch committing with its issues and its checkpoint strictly after the one before it."""

import json
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from typing import Any

import polars as pl

from app.importing.pipeline import batches
from app.importing.pipeline.batches import Context, Prepared
from app.importing.pipeline.database import INDEX_PROBE, Db, connection, setup_temp
from app.importing.pipeline.plan import Plan
from app.importing.progress import rate_and_eta
from app.importing.report import Counters
from app.search.postgres import name_words_sql

# A new customer needs a name: the file's, else its first e-mail/phone, so the list never shows a blank.
_NEW_NAME = pl.coalesce("name", "fallback", pl.lit("Sem nome"))


def write_batch(db: Db, plan: Plan, prep: Prepared) -> list[tuple[int, list[str]]]:
    """Set-based writes of one batch on a writer connection; returns (id, changed fields) of updates."""
    if prep.apply is None or prep.contacts is None:
        return []
    _insert_new_customers(db, plan, prep.apply.filter(pl.col("is_new")))
    db.copy_frame("imp_apply", prep.apply.filter(~pl.col("is_new")))
    if prep.tags is not None and prep.tags.height:
        _write_tags(db, plan, prep.tags)
    updated = _update_matched(db, plan) if prep.apply.select((~pl.col("is_new")).any()).item() else []
    _insert_contacts(db, plan, prep.contacts, prep.plain_insert)
    return updated


def _insert_new_customers(db: Db, plan: Plan, new: pl.DataFrame) -> None:
    """New customers go straight into the table by COPY (ids allocated at prepare time); only matched
    ones pass through imp_apply for the update statement."""
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


def _write_tags(db: Db, plan: Plan, tags: pl.DataFrame) -> None:
    """Tags live in customer_tags (t0005), never on the customers row. The (customer, tag) pairs were
    resolved to ids at prepare time: new customers' pairs are unique and cannot exist yet, so they go
    in by COPY; matched customers' tags are compared with what they have (_write_matched_tags)."""
    new_tags = tags.filter(pl.col("is_new")).select(customer_id="cid", tag_id="tag_id")
    db.copy_frame(f"{db.s}.customer_tags", new_tags)
    _write_matched_tags(db, tags.filter(~pl.col("is_new")), plan.policy == "merge")


def _update_matched(db: Db, plan: Plan) -> list[tuple[int, list[str]]]:
    """Updates the matched customers staged in imp_apply (diff computed in SQL, a timeline row per
    changed customer); returns (id, changed fields)."""
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
    return [(cid, list(fields)) for cid, fields in updated]


def _write_matched_tags(db: Db, want: pl.DataFrame, merge: bool) -> None:
    """Tags of customers that existed before the batch: merge adds the file's tags; keep-first/keep-last
    make them the file's tags (the file names some for these customers). The difference is computed
    here against what the customers have (one index probe per customer), so a re-import that changes
    nothing writes nothing; imp_tags keeps the changed pairs for the update statement."""
    if want.height == 0:
        return
    cids = want.get_column("cid").unique().sort().to_list()
    db.run(INDEX_PROBE)
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


def _insert_contacts(db: Db, plan: Plan, contacts: pl.DataFrame, plain_insert: bool) -> None:
    if plain_insert:  # bulk mode: no unique index to respect, every key arrives once
        db.copy_frame(
            f"{db.s}.contacts",
            contacts.select(
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
    db.copy_frame("imp_contacts", contacts)
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
            conn = self.stack.enter_context(connection())
            db = Db(conn, self.schema)
            setup_temp(db)
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
            issues = batches.issue_rows(prep)
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
        batches.account_batch(ctx, prep, updated, issues)
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
        # redoes exactly those. Waiting for the flush would stall this one-at-a-time section every batch.
        db.run("SET LOCAL synchronous_commit = off")
        db.conn.commit()
        ctx.state.batches += 1
        return progress


def _progress(c: Counters, done: int, total: int, elapsed: float) -> dict[str, Any]:
    speed = rate_and_eta(c.read, done, total, elapsed)
    return {
        "rows_read": c.read,
        "rate": round(speed.rate, 1),
        "eta_s": None if speed.eta_s is None else round(speed.eta_s, 1),
        "progress": round(speed.fraction, 4),
        "elapsed_s": round(elapsed, 2),
    }
