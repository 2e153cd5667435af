"""The grouping rules (app/importing/pipeline/identity.py): the vectorised path gives what the row-by-row
one gives whenever it is taken, and the row-by-row one follows the document rules."""

import random

import polars as pl

from app.importing.pipeline import identity

CANDS = {"row": pl.Int64, "pos": pl.Int32, "ref": pl.Int64, "cid": pl.Int64, "line": pl.Int64}


def _batch(rng: random.Random, n: int, with_docs: bool) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Random rows sharing a few phones/e-mails (and, with_docs, documents) with each other and with known
    customers 1..5: (rows, candidates, row documents)."""
    first: dict[str, int] = {}
    known = {f"k{c}": c for c in range(1, 6)}
    cands, docs = [], []
    for row in range(2, n + 2):
        keys = []
        doc = rng.choice([None, None, 1, 2, 3]) if with_docs else None
        if doc is not None:
            docs.append((row, doc))
            keys.append((-1, f"d{doc}"))
        for pos in range(2):
            key = rng.choice([f"p{rng.randrange(8)}", f"k{rng.randrange(1, 6)}"])
            if rng.random() < 0.6 and key not in {k for _, k in keys}:  # a row has a key once (keys_of)
                keys.append((pos, key))
        if not keys:
            keys.append((0, f"u{row}"))
        for pos, key in keys:
            if key in known:
                cands.append((row, pos, None, known[key], None))
            if key in first:
                cands.append((row, pos, first[key], None, first[key]))
            else:
                first[key] = row
    frame = pl.DataFrame(cands, schema=CANDS, orient="row").sort("row", "pos", maintain_order=True)
    rows = pl.DataFrame({"row": list(range(2, n + 2))}, schema={"row": pl.Int64})
    return rows, frame, pl.DataFrame(docs, schema={"row": pl.Int64, "doc": pl.Int64}, orient="row")


def _same(a: identity.Resolution, b: identity.Resolution) -> None:
    assert a.owners.sort("row").rows() == b.owners.sort("row").rows()
    assert a.chosen.sort("row").rows() == b.chosen.sort("row").rows()
    assert a.conflicts.sort("row").rows() == b.conflicts.sort("row").rows()
    assert sorted(a.pointed.to_list()) == sorted(b.pointed.to_list())


def test_vectorised_path_matches_the_row_by_row_rules() -> None:
    rng = random.Random(11)
    known_docs = pl.DataFrame({"cid": [1, 2], "doc": [1, 7]}, schema={"cid": pl.Int64, "doc": pl.Int64})
    for _ in range(200):
        rows, cands, docs = _batch(rng, rng.randint(1, 30), with_docs=False)
        _same(
            identity._vectorised(rows, cands, docs, known_docs),
            identity._sequential(rows, cands, docs, known_docs),
        )
    # With documents, whenever resolve() takes the vectorised path its answer is the row-by-row one.
    taken = 0
    for _ in range(400):
        rows, cands, docs = _batch(rng, rng.randint(1, 12), with_docs=True)
        per_row = cands.group_by("row").agg(doc_cand=(pl.col("pos") < 0).any())
        if per_row.filter(~pl.col("doc_cand")).join(docs, on="row").height:
            continue
        taken += 1
        _same(
            identity._vectorised(rows, cands, docs, known_docs),
            identity._sequential(rows, cands, docs, known_docs),
        )
    assert taken > 20


def test_documents_decide_and_different_documents_never_merge() -> None:
    # Row 2: doc 10, e-mail E (new). Row 3: doc 11, e-mail E -> its own customer, conflict with row 2.
    # Row 4: no doc, phone P (new). Row 5: doc 12, phone P -> joins row 4's customer, which takes doc 12.
    # Row 6: doc 13, phone P -> row 4's customer has doc 12 now: its own customer, conflict.
    # Row 7: doc 12 (ref row 5) and e-mail E -> row 4's customer by document; conflict (E is row 2's).
    cands = pl.DataFrame(
        [
            (3, 1000, 2, None, 2),
            (5, 0, 4, None, 4),
            (6, 0, 4, None, 4),
            (7, -1, 5, None, 5),
            (7, 1000, 2, None, 2),
        ],
        schema=CANDS,
        orient="row",
    )
    rows = pl.DataFrame({"row": [2, 3, 4, 5, 6, 7]}, schema={"row": pl.Int64})
    docs = pl.DataFrame({"row": [2, 3, 5, 6, 7], "doc": [10, 11, 12, 13, 12]})
    res = identity.resolve(rows, cands, docs, pl.DataFrame(schema={"cid": pl.Int64, "doc": pl.Int64}))
    assert dict(res.owners.rows()) == {2: -2, 3: -3, 4: -4, 5: -4, 6: -6, 7: -4}
    assert res.conflicts.select("row", "reason", "other").rows() == [
        (3, "conflito_documento", -2),
        (6, "conflito_documento", -4),
        (7, "conflito_documento", -2),
    ]
    assert res.chosen.rows() == [(5, 0, 4), (7, -1, 5)]


def test_a_known_customer_with_another_document_keeps_its_contact() -> None:
    cands = pl.DataFrame([(2, 0, None, 9, None)], schema=CANDS, orient="row")
    rows = pl.DataFrame({"row": [2, 3]}, schema={"row": pl.Int64})
    known = pl.DataFrame({"cid": [9], "doc": [1]}, schema={"cid": pl.Int64, "doc": pl.Int64})
    with_doc = identity.resolve(rows, cands, pl.DataFrame({"row": [2], "doc": [2]}), known)
    assert dict(with_doc.owners.rows()) == {2: -2, 3: -3}
    assert with_doc.conflicts.select("row", "reason", "other").rows() == [(2, "conflito_documento", 9)]
    same_doc = identity.resolve(rows, cands, pl.DataFrame({"row": [2], "doc": [1]}), known)
    assert dict(same_doc.owners.rows())[2] == 9 and same_doc.conflicts.height == 0
    no_doc = identity.resolve(rows, cands, pl.DataFrame(schema={"row": pl.Int64, "doc": pl.Int64}), known)
    assert dict(no_doc.owners.rows())[2] == 9
