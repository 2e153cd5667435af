"""Who each row of a batch is: the customer it belongs to, by document first and then by contact, and the
rows that met another customer on the way (conflicts). The rules (docs/architecture.md, "Import rules"):

- Same valid CPF/CNPJ = same customer, whatever the contacts.
- Two rows (or a row and a customer) with different valid documents are never the same customer: a row
  whose phone/e-mail belongs to a customer with another document becomes a customer of its own, the
  contact stays with the first one, and the row is a `conflito_documento`.
- A row without a document merges by contact as before (first candidate by column); a row with a document
  merges by contact only into a customer without one, which then takes that document.

Candidates (row, pos, ref, cid, line) come in the row's column order: pos -2 the source key of an earlier
import, -1 the document, 0.. the phones, 1000 the e-mail; `cid` is a known customer, `ref` an earlier row of
the batch with the key, `line` the file line that brought the key in (for the report).
"""

from dataclasses import dataclass

import polars as pl

from app.importing.pipeline.normalise import resolve_owners

EMAIL_POS = 1000  # normalise._EMAIL_POS


def why(pos: pl.Expr) -> pl.Expr:
    """The kind of key a candidate came by (import_issues.field of a duplicate or a conflict)."""
    return (
        pl.when(pos == -2)
        .then(pl.lit("source"))
        .when(pos == -1)
        .then(pl.lit("document"))
        .when(pos == EMAIL_POS)
        .then(pl.lit("email"))
        .otherwise(pl.lit("phone"))
    )


@dataclass
class Resolution:
    owners: pl.DataFrame  # row, owner: a customer id (> 0) or -row for the new customer the row starts
    chosen: pl.DataFrame  # row, pos, line: the candidate each row with candidates took
    conflicts: pl.DataFrame  # row, reason, pos, line, other: the first candidate of another customer
    pointed: pl.Series  # known customers (> 0) any candidate led to, conflict losers included


_CONFLICT_SCHEMA = {
    "row": pl.Int64,
    "reason": pl.String,
    "pos": pl.Int32,
    "line": pl.Int64,
    "other": pl.Int64,
}


def resolve(
    rows: pl.DataFrame, cands: pl.DataFrame, row_docs: pl.DataFrame, known_docs: pl.DataFrame
) -> Resolution:
    """Owners of `rows` (column row) from their candidates; `row_docs` (row, doc) the rows' documents,
    `known_docs` (cid, doc) the documents of known candidate customers (doc: keymap.doc_number).

    Vectorised when no row has a document that is new to the file and contacts of someone (the only rows
    whose decision depends on which documents earlier rows gave their customers); the batch is then
    resolved row by row in file order, its rows with candidates only."""
    cands = cands.with_columns(pl.col("row").cast(pl.Int64), pl.col("ref").cast(pl.Int64))
    per_row = cands.group_by("row").agg(doc_cand=(pl.col("pos") < 0).any())
    undecided = per_row.filter(~pl.col("doc_cand")).join(row_docs, on="row")
    if undecided.height:
        return _sequential(rows, cands, row_docs, known_docs)
    return _vectorised(rows, cands, row_docs, known_docs)


def _vectorised(
    rows: pl.DataFrame, cands: pl.DataFrame, row_docs: pl.DataFrame, known_docs: pl.DataFrame
) -> Resolution:
    owners = resolve_owners(rows, cands)
    chosen = cands.group_by("row", maintain_order=True).first().select("row", "pos", "line")
    finals = (
        cands.with_row_index("i")
        .join(owners.select(ref="row", ref_owner="owner"), on="ref", how="left")
        .select("i", "row", "pos", "line", other=pl.coalesce("cid", "ref_owner"))
        .join(owners, on="row")
    )
    pointed = finals.filter(pl.col("other") > 0).get_column("other").unique()
    # Every owner's document: a known customer's, or that of the row that starts a new one (no row of a
    # vectorised batch gives a customer a document it did not have).
    starts = row_docs.select(other=-pl.col("row"), other_doc="doc")
    docs = pl.concat([known_docs.select(other="cid", other_doc="doc"), starts])
    clash = (
        finals.filter(pl.col("other") != pl.col("owner"))
        .join(docs.unique("other", keep="first"), on="other", how="left")
        .join(row_docs, on="row", how="left")
        .with_columns(
            doc_clash=pl.col("doc").is_not_null()
            & pl.col("other_doc").is_not_null()
            & (pl.col("other_doc") != pl.col("doc"))
        )
        .sort("row", pl.col("doc_clash").not_(), "i")
        .group_by("row", maintain_order=True)
        .first()
    )
    conflicts = clash.select(
        "row",
        reason=pl.when(pl.col("doc_clash")).then(pl.lit("conflito_documento")).otherwise(pl.lit("conflito")),
        pos="pos",
        line="line",
        other="other",
    )
    return Resolution(owners, chosen, conflicts.cast(_CONFLICT_SCHEMA), pointed)  # type: ignore[arg-type]


def _sequential(
    rows: pl.DataFrame, cands: pl.DataFrame, row_docs: pl.DataFrame, known_docs: pl.DataFrame
) -> Resolution:
    """The rules applied one row at a time, in file order (rows with candidates only: the others start a
    customer of their own)."""
    doc_of_row = dict(
        zip(row_docs.get_column("row").to_list(), row_docs.get_column("doc").to_list(), strict=True)
    )
    doc_of: dict[int, int | None] = {}
    for cid, doc in known_docs.unique("cid", keep="first").select("cid", "doc").iter_rows():
        doc_of[cid] = doc
    owner: dict[int, int] = {}

    def owner_doc(o: int) -> int | None:
        if o in doc_of:
            return doc_of[o]
        return doc_of_row.get(-o) if o < 0 else None

    chosen: list[tuple[int, int, int | None]] = []
    conflicts: list[tuple[int, str, int, int | None, int]] = []
    pointed: set[int] = set()
    grouped = cands.group_by("row", maintain_order=True).agg("pos", "ref", "cid", "line")
    for row, poss, refs, cids, lines in grouped.iter_rows():
        d = doc_of_row.get(row)
        resolved = [
            (pos, cid if cid is not None else owner.get(ref, -ref), line)
            for pos, ref, cid, line in zip(poss, refs, cids, lines, strict=True)
        ]
        pick = None
        if d is None:
            pick = resolved[0]
        else:
            pick = next((c for c in resolved if c[0] < 0), None)
            if pick is None:
                pick = next((c for c in resolved if owner_doc(c[1]) in (None, d)), None)
        o = pick[1] if pick is not None else -row
        owner[row] = o
        if d is not None and owner_doc(o) is None:
            doc_of[o] = d  # a customer without a document takes the row's
        if pick is not None:
            chosen.append((row, pick[0], pick[2]))
        first_clash = first_other = None
        for c in resolved:
            if c[1] > 0:
                pointed.add(c[1])
            if c[1] == o:
                continue
            other_doc = owner_doc(c[1])
            if first_clash is None and d is not None and other_doc is not None and other_doc != d:
                first_clash = c
            if first_other is None:
                first_other = c
        if first_clash is not None:
            conflicts.append((row, "conflito_documento", first_clash[0], first_clash[2], first_clash[1]))
        elif first_other is not None:
            conflicts.append((row, "conflito", first_other[0], first_other[2], first_other[1]))
    decided = pl.DataFrame(
        {"row": list(owner), "decided": list(owner.values())}, schema={"row": pl.Int64, "decided": pl.Int64}
    )
    owners = (
        rows.select(pl.col("row").cast(pl.Int64))
        .join(decided, on="row", how="left", maintain_order="left")
        .select("row", owner=pl.coalesce("decided", -pl.col("row")))
    )
    return Resolution(
        owners,
        pl.DataFrame(chosen, schema={"row": pl.Int64, "pos": pl.Int32, "line": pl.Int64}, orient="row"),
        pl.DataFrame(conflicts, schema=_CONFLICT_SCHEMA, orient="row"),
        pl.Series("other", sorted(pointed), dtype=pl.Int64),
    )
