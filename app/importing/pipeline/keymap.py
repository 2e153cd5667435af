"""The in-file key map: every phone/e-mail key an earlier batch of the file introduced -> its customer,
and the rest of the in-file dedupe state (counters, customers already pointed at)."""

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from app.importing.report import Counters

if TYPE_CHECKING:  # the key map only spills through a Db; database.py needs nothing from here
    from app.importing.pipeline.database import Db

log = logging.getLogger(__name__)

_PHONE_NUMBER = pl.when(pl.col("key").str.starts_with("p+")).then(
    pl.col("key").str.slice(2).cast(pl.Int64, strict=False)
)


def doc_number(digits: pl.Expr) -> pl.Expr:
    """A CPF/CNPJ (11 or 14 digits) as one integer: the number and one bit for its kind, so a CPF and a
    CNPJ with the same digits after their leading zeros stay apart."""
    return digits.cast(pl.Int64, strict=False) * 2 + (digits.str.len_bytes() == 14).cast(pl.Int64)


# In-file document keys are "d" + the normalised digits (keys_of_documents).
_DOC_NUMBER = pl.when(pl.col("key").str.starts_with("d")).then(doc_number(pl.col("key").str.slice(1)))


def key_hash(key: pl.Expr) -> pl.Expr:
    """A text key's integer in the key map (fixed seed: hashes only ever meet this process's own), signed
    so that PostgreSQL's bigint holds it when the map spills."""
    return key.hash(20_241).reinterpret(signed=True)


def own_strings(texts: pl.Series) -> pl.Series:
    """`texts` in buffers of their own. A filtered or joined String column is views into the buffers of
    the frame it came from: an e-mail kept from a batch kept every key string of that batch (phones,
    documents, the e-mails of rows that matched) alive, ~2 MB a batch the map did not account for, and
    the largest part of the 2M-row import's memory past the 512 MB budget (docs/benchmarks.md, issue 14
    leftovers). Copying the strings that stay costs ~1 ms a batch."""
    return pl.Series(texts.name, texts.to_list(), dtype=pl.String)


# Entries (phones, e-mails and documents) the in-file key map keeps in memory before it moves them to a
# temporary table on the import's own connection, so a file of any size peaks where a 2M-row file does
# (4.7M entries, ~120 MB), under the 512 MB budget. Past it, each batch adds three indexed lookups:
# slower, for less memory (docs/benchmarks.md, "pipeline design figures").
KEYMAP_MEMORY_ENTRIES = 5_000_000
SPILL_TABLE = "pg_temp.imp_keymap"


@dataclass
class KeyMap:
    """The in-file key map: every phone/e-mail key an earlier batch introduced -> its customer.

    It is the one structure that grows with the file, and each batch scans all of it (a filter probing a
    hash set of the batch's keys), so every entry is scanned as an integer:
    - phones (E.164, at most 15 digits) are their number: 16 bytes an entry instead of ~40 for the string;
    - other keys (e-mails) by a 64-bit hash, kept next to the key, which settles the rare collision in
      the join that follows the scan. Scanned as text, every string of the map was hashed and compared
      per batch: about twice the CPU of the integer probe at 2M rows.
    Chunks are only scanned, never compacted (a compaction copies the whole map and doubled the peak
    memory of a 2M-row import). Past KEYMAP_MEMORY_ENTRIES they move to a temporary table on the
    import's connection (`spill_to`), documents included, which later lookups probe by index: memory
    stays bounded for a file of any size, at the price of one indexed lookup per kind and batch once it
    has spilled."""

    phones: list[pl.DataFrame] = field(default_factory=list)  # num (Int64), cid, line
    others: list[pl.DataFrame] = field(default_factory=list)  # h (Int64), key (String), cid, line
    # CPF/CNPJ -> customer (num: doc_number), also read backwards (the document of a customer): one
    # entry per documented customer the file touched, a third of the map at 2M rows; it spills with the
    # rest (a file of any size would otherwise grow it without bound).
    docs: list[pl.DataFrame] = field(default_factory=list)  # num (Int64), cid, line
    # The connection whose temporary table takes the map once it outgrows KEYMAP_MEMORY_ENTRIES (None:
    # memory only). Lookups then also probe that table's indexes, per batch, in one statement per kind.
    spill_to: "Db | None" = None
    spilled: bool = False
    entries: int = 0  # in memory
    _seq: int = 0  # documents moved to the temporary table so far

    def add(self, frame: pl.DataFrame) -> None:
        """Adds (key, cid[, line]) rows: `line` is the file line that brought the key in (None: a customer
        that existed before the import)."""
        if "line" not in frame.columns:
            frame = frame.with_columns(line=pl.lit(None, pl.Int32))
        # Lines as Int32 (a file line fits): 4 bytes an entry less in the structure that grows with the file.
        split = frame.select("key", "cid", pl.col("line").cast(pl.Int32), num=_PHONE_NUMBER, doc=_DOC_NUMBER)
        docs = split.filter(pl.col("doc").is_not_null()).select(num="doc", cid="cid", line="line")
        split = split.filter(pl.col("doc").is_null())
        phones = split.filter(pl.col("num").is_not_null()).select("num", "cid", "line")
        others = split.filter(pl.col("num").is_null()).select(
            h=key_hash(pl.col("key")), key="key", cid="cid", line="line"
        )
        if others.height:
            others = others.with_columns(own_strings(others.get_column("key")))
        if docs.height:
            self.docs.append(docs)
        if phones.height:
            self.phones.append(phones)
        if others.height:
            self.others.append(others)
        self._grown(docs.height + phones.height + others.height)

    def add_docs(self, frame: pl.DataFrame) -> None:
        """Adds (num: doc_number, cid, line) rows to the documents part."""
        if frame.height:
            self.docs.append(frame.cast({"num": pl.Int64, "cid": pl.Int64, "line": pl.Int32}))
            self._grown(frame.height)

    def _grown(self, added: int) -> None:
        self.entries += added
        if self.spill_to is not None and self.entries > KEYMAP_MEMORY_ENTRIES:
            self._spill(self.spill_to)

    def _spill(self, db: "Db") -> None:
        """Moves the in-memory chunks into the temporary table, one COPY per chunk (no second copy of the
        map is ever built in memory); the table's indexes are built after its first load."""
        if not self.spilled:
            # A pooled connection may hold an earlier import's table: reused, emptied.
            # `doc`: a documents-part row (doc_number); `seq` keeps the order the documents came in, the
            # order docs_of reads them (the first document the file gave a customer).
            db.run(
                "CREATE TEMP TABLE IF NOT EXISTS imp_keymap "
                "(num bigint, h bigint, key text, cid bigint, line bigint, doc bigint, seq bigint)"
            )
            db.run(f"TRUNCATE {SPILL_TABLE}")
        for chunk in self.phones:
            db.copy_frame(SPILL_TABLE, chunk)
        for chunk in self.others:
            db.copy_frame(SPILL_TABLE, chunk)
        for chunk in self.docs:
            db.copy_frame(
                SPILL_TABLE,
                chunk.select(
                    doc="num", cid="cid", line="line", seq=pl.int_range(pl.len(), dtype=pl.Int64) + self._seq
                ),
            )
            self._seq += chunk.height
        if not self.spilled:
            db.run(f"CREATE INDEX IF NOT EXISTS imp_keymap_num ON {SPILL_TABLE} (num) WHERE num IS NOT NULL")
            db.run(f"CREATE INDEX IF NOT EXISTS imp_keymap_h ON {SPILL_TABLE} (h) WHERE h IS NOT NULL")
            db.run(f"CREATE INDEX IF NOT EXISTS imp_keymap_doc ON {SPILL_TABLE} (doc) WHERE doc IS NOT NULL")
            db.run(
                f"CREATE INDEX IF NOT EXISTS imp_keymap_cid ON {SPILL_TABLE} (cid, seq) WHERE doc IS NOT NULL"
            )
            db.run(f"ANALYZE {SPILL_TABLE}")
        self.phones, self.others, self.docs, self.entries, self.spilled = [], [], [], 0, True
        log.info(
            "import key map moved to a temporary table (%d entries kept in memory at most)",
            KEYMAP_MEMORY_ENTRIES,
        )

    def lookup(self, keys: pl.DataFrame) -> pl.DataFrame:
        """The rows of `keys` whose key the map has, with its customer (cid) and the line that brought the
        key in (line)."""
        split = keys.with_columns(num=_PHONE_NUMBER, doc=_DOC_NUMBER)
        docs = split.filter(pl.col("doc").is_not_null())
        split = split.filter(pl.col("doc").is_null()).drop("doc")
        phones = split.filter(pl.col("num").is_not_null())
        others = split.filter(pl.col("num").is_null())
        found = []
        if self.docs and docs.height:
            seen = pl.concat(self.docs, rechunk=False)
            found.append(
                docs.join(
                    seen.filter(pl.col("num").is_in(docs.get_column("doc").implode())).rename({"num": "doc"}),
                    on="doc",
                )
                .drop("doc")
                .with_columns(num=pl.lit(None, pl.Int64))
            )
        # Each part of the map is filtered by the batch's keys first (a scan probing a small hash set),
        # so the join's hash table has the batch's size, not the file's.
        if self.phones and phones.height:
            seen = pl.concat(self.phones, rechunk=False)
            found.append(
                phones.join(seen.filter(pl.col("num").is_in(phones.get_column("num").implode())), on="num")
            )
        wanted = others.select(key_hash(pl.col("key"))).to_series().unique()
        if self.others and others.height:
            seen = pl.concat(self.others, rechunk=False)
            found.append(others.join(seen.filter(pl.col("h").is_in(wanted.implode())).drop("h"), on="key"))
        if self.spilled and self.spill_to is not None:
            found += self._lookup_spilled(self.spill_to, docs, phones, others, wanted)
        if not found:
            return (
                split.clear()
                .with_columns(cid=pl.lit(None, pl.Int64), line=pl.lit(None, pl.Int32))
                .drop("num")
            )
        return pl.concat(found, how="vertical_relaxed").drop("num")

    def docs_of(self, cids: pl.Series) -> pl.DataFrame:
        """(cid, doc) of the customers in `cids` the map knows a document of (doc: doc_number): the first
        one the map learnt."""
        empty = pl.DataFrame(schema={"cid": pl.Int64, "doc": pl.Int64})
        if cids.len() == 0:
            return empty
        parts = []
        if self.spilled and self.spill_to is not None:  # learnt before anything still in memory
            rows = self.spill_to.all(
                f"SELECT m.cid, m.doc FROM unnest(%s::bigint[]) AS k(cid) "
                f"JOIN {SPILL_TABLE} m ON m.cid = k.cid AND m.doc IS NOT NULL ORDER BY m.seq",
                (cids.unique().to_list(),),
            )
            parts.append(pl.DataFrame(rows, schema=empty.schema, orient="row"))
        if self.docs:
            seen = pl.concat(self.docs, rechunk=False)
            parts.append(seen.filter(pl.col("cid").is_in(cids.implode())).select("cid", doc="num"))
        if not parts:
            return empty
        return pl.concat(parts).unique("cid", keep="first", maintain_order=True)

    @staticmethod
    def _lookup_spilled(
        db: "Db", docs: pl.DataFrame, phones: pl.DataFrame, others: pl.DataFrame, wanted: pl.Series
    ) -> list[pl.DataFrame]:
        """The probes' customers in the temporary table: index probes, one statement per kind (`docs`: the
        document probes, column doc; `wanted`: the distinct hashes of the `others` keys)."""
        found = []
        if docs.height:
            rows = db.all(
                f"SELECT m.doc, m.cid, m.line FROM unnest(%s::bigint[]) AS k(doc) "
                f"JOIN {SPILL_TABLE} m ON m.doc = k.doc",
                (docs.get_column("doc").unique().to_list(),),
            )
            hits = pl.DataFrame(
                rows, schema={"doc": pl.Int64, "cid": pl.Int64, "line": pl.Int32}, orient="row"
            )
            found.append(docs.join(hits, on="doc").drop("doc").with_columns(num=pl.lit(None, pl.Int64)))
        if phones.height:
            rows = db.all(
                f"SELECT m.num, m.cid, m.line FROM unnest(%s::bigint[]) AS k(num) "
                f"JOIN {SPILL_TABLE} m ON m.num = k.num",
                (phones.get_column("num").unique().to_list(),),
            )
            hits = pl.DataFrame(
                rows, schema={"num": pl.Int64, "cid": pl.Int64, "line": pl.Int32}, orient="row"
            )
            found.append(phones.join(hits, on="num"))
        if others.height:
            rows = db.all(
                f"SELECT m.key, m.cid, m.line FROM unnest(%s::bigint[]) AS k(h) "
                f"JOIN {SPILL_TABLE} m ON m.h = k.h",
                (wanted.to_list(),),
            )
            hits = pl.DataFrame(
                rows, schema={"key": pl.String, "cid": pl.Int64, "line": pl.Int32}, orient="row"
            )
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
