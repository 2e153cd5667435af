"""The in-file key map: phones kept as integers, everything else by a hash next to its text, same
answers either way."""

import polars as pl
import pytest

from app.importing.pipeline import KeyMap, keymap


def test_lookup_finds_keys_of_earlier_batches_by_kind() -> None:
    m = KeyMap()
    assert m.lookup(pl.DataFrame({"row": [1], "key": ["p+5511987654321"]})).height == 0
    m.add(pl.DataFrame({"key": ["p+5511987654321", "eana@x.com", "p+12025550143"], "cid": [10, 10, 11]}))
    m.add(pl.DataFrame({"key": ["ebia@x.com", "p+not-a-number"], "cid": [12, 13]}))
    assert [f.columns for f in m.phones] == [["num", "cid", "line"]]  # phones as Int64 numbers
    keys = pl.DataFrame(
        {
            "row": [5, 6, 7, 8, 9, 9],
            "key": [
                "p+12025550143",
                "eana@x.com",
                "p+5511900000000",
                "p+not-a-number",
                "ebia@x.com",
                "p+5511987654321",
            ],
        }
    )
    found = m.lookup(keys).sort("row", "cid").drop("line")
    assert found.columns == ["row", "key", "cid"]
    assert found.rows() == [
        (5, "p+12025550143", 11),
        (6, "eana@x.com", 10),
        (8, "p+not-a-number", 13),
        (9, "p+5511987654321", 10),
        (9, "ebia@x.com", 12),
    ]


def test_colliding_hashes_never_mix_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """E-mails are scanned by a 64-bit hash; e-mails that share a hash still answer only for themselves
    (here every key of the same length collides)."""
    monkeypatch.setattr(keymap, "key_hash", lambda key: key.str.len_bytes().cast(pl.UInt64))
    m = KeyMap()
    m.add(pl.DataFrame({"key": ["eana@x.com", "ebia@x.com", "p+5511987654321"], "cid": [1, 2, 3]}))
    m.add(pl.DataFrame({"key": ["ecid@x.com"], "cid": [4]}))
    assert [f.columns for f in m.others] == [["h", "key", "cid", "line"]] * 2
    probe = ["ebia@x.com", "edan@x.com", "ecid@x.com", "eana@x.com", "e@x.com"]
    found = m.lookup(pl.DataFrame({"row": [1, 2, 3, 4, 5], "key": probe}))
    assert found.columns == ["row", "key", "cid", "line"]
    assert sorted(found.select("row", "cid").rows()) == [(1, 2), (3, 4), (4, 1)]


def test_documents_are_found_both_ways_and_keep_their_kind() -> None:
    """Document keys ("d" + digits) live in their own part, read by document and by customer; a CPF and a
    CNPJ with the same digits past their leading zeros stay two documents."""
    m = KeyMap()
    m.add(
        pl.DataFrame(
            {
                "key": ["d52998224725", "d00000052998224725"[:15], "p+5511987654321"],
                "cid": [1, 2, 3],
                "line": [2, 5, 2],
            }
        )
    )
    assert m.entries == 3  # documents count towards the spill budget too
    found = m.lookup(pl.DataFrame({"row": [9, 9, 10], "key": ["d52998224725", "p+5511987654321", "d1"]}))
    assert sorted(found.select("row", "cid", "line").rows()) == [(9, 1, 2), (9, 3, 2)]
    docs = m.docs_of(pl.Series([1, 2, 3]))
    assert sorted(docs.get_column("cid").to_list()) == [1, 2]
    assert docs.get_column("doc").n_unique() == 2
