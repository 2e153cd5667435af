"""Issue 15: under a sort other than the name's, the first page of a common word too spread for the walk
is read from a range of the sort index placed by the column's histogram (`queries._histogram_ranged`),
not from every match sorted; the pages (cursors, both directions, filters, visibility) stay exactly those of
sorting them all, also when the word's customers lie outside the range (it gives up)."""

import random
from typing import Any

import pytest
from sqlalchemy import text as sql_text
from sqlmodel import Session

from app.crm.customers import CustomerQuery, list_customers, queries
from app.search import postgres as pg
from app.search.postgres import TableShape
from tests.integration.crm.conftest import Crm, new_customer, spy_pages

SORTS = ("-updated_at", "updated_at", "-created_at", "created_at", "-score", "score")


def _pages(db: Session, actor: Any, text: str, sort: str, limit: int, **filters: Any) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        page = list_customers(
            db, actor, CustomerQuery(text=text, sort=sort, limit=limit, cursor=cursor, **filters)
        )
        ids += [r.id for r in page.rows]
        if not page.next_cursor:
            return ids
        cursor = page.next_cursor


def _analyse(db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch) -> None:
    db.exec(sql_text(f'ANALYZE "{crm.schema}".customers'))
    monkeypatch.setattr(pg, "_COMMON_WORDS", {})
    monkeypatch.setattr(pg, "_TABLE_SHAPE", {})


@pytest.fixture
def spread(db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """One customer in three has the surname Zuleica; dates and scores are random (unrelated to names)."""
    rng = random.Random(15)
    made: dict[str, list[int]] = {"zuleica": [], "agent": []}
    for i in range(390):
        owner = crm.agent if i % 5 == 0 else crm.admin
        surname = "Zuleica" if i % 3 == 0 else f"Sobrenome{rng.randrange(10**6):06d}"
        customer = new_customer(
            db, owner, name=f"Nome{i:03d} {surname}", status="ativo" if i % 2 else "prospecto"
        )
        if surname == "Zuleica":
            made["zuleica"].append(customer.id)
            if owner is crm.agent:
                made["agent"].append(customer.id)
    db.exec(sql_text("SELECT setseed(0.15)"))  # the same dates and scores every run
    db.exec(
        sql_text(
            f'UPDATE "{crm.schema}".customers SET score = (random() * 1000)::int, '
            "created_at = now() - random() * interval '300 days', "
            "updated_at = now() - random() * interval '90 days'"
        )
    )
    _analyse(db, crm, monkeypatch)
    assert {"created_at", "updated_at", "score"} <= set(pg.table_shape(db).bounds)
    # A small table: the word is common (a full-text filter), too spread for the walk, worth a range.
    monkeypatch.setattr(pg, "LIST_CANDIDATES", 60)
    monkeypatch.setattr(queries, "SAMPLE_WORTH_MATCHES", 50)
    monkeypatch.setattr(queries, "WALK_ROWS", 10)
    monkeypatch.setattr(queries, "RANGE_MAX_SHARE", 1.0)
    return made


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    return spy_pages(monkeypatch, queries, "_histogram_ranged")


def _sorting_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "_histogram_ranged", lambda *_a: None)


def test_a_spread_common_word_is_paged_from_a_histogram_range_like_sorting_every_match(
    db: Session, crm: Crm, spread: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ranged = _spy(monkeypatch)
    got = {
        (sort, limit): _pages(db, crm.admin, "zuleica", sort, limit) for sort in SORTS for limit in (7, 25)
    }
    got_status = _pages(db, crm.admin, "zuleica", "-updated_at", 10, status=["prospecto"])
    typo = _pages(db, crm.admin, "zuleika", "-updated_at", 7)
    # First pages only (a cursor's position is not placed): each of the 12 plain first pages and the typo's.
    assert ranged.count(True) >= 13, ranged
    _sorting_all(monkeypatch)
    for (sort, limit), ids in got.items():
        assert ids == _pages(db, crm.admin, "zuleica", sort, limit), (sort, limit)
        assert sorted(ids) == sorted(spread["zuleica"])
    assert got_status == _pages(db, crm.admin, "zuleica", "-updated_at", 10, status=["prospecto"])
    assert got_status and len(got_status) < len(spread["zuleica"])
    assert typo == _pages(db, crm.admin, "zuleica", "-updated_at", 7)


def test_a_word_outside_the_range_is_sorted_whole(
    db: Session, crm: Crm, spread: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every Zuleica was updated long before everyone else: the newest range holds none of them.
    db.exec(
        sql_text(
            f"UPDATE \"{crm.schema}\".customers SET updated_at = now() - interval '1 year' "
            "- random() * interval '1 day' WHERE name LIKE '%Zuleica'"
        )
    )
    _analyse(db, crm, monkeypatch)
    ranged = _spy(monkeypatch)
    newest = _pages(db, crm.admin, "zuleica", "-updated_at", 7)
    assert ranged and not ranged[0]
    _sorting_all(monkeypatch)
    assert newest == _pages(db, crm.admin, "zuleica", "-updated_at", 7)
    assert sorted(newest) == sorted(spread["zuleica"])


def test_a_portfolio_is_not_ranged_and_sees_only_its_customers(
    db: Session, crm: Crm, spread: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ranged = _spy(monkeypatch)
    assert sorted(_pages(db, crm.agent, "zuleica", "-updated_at", 10)) == sorted(spread["agent"])
    assert _pages(db, crm.outsider, "zuleica", "-updated_at", 10) == []
    assert not any(ranged)


def test_the_histogram_edge_for_a_share() -> None:
    shape = TableShape(bounds={"score": ["0", "10", "20", "30", "40"]})  # 4 buckets
    assert shape.edge_for_share("score", 0.2, desc=False) == "10"
    assert shape.edge_for_share("score", 0.25, desc=False) == "10"
    assert shape.edge_for_share("score", 0.3, desc=False) == "20"
    assert shape.edge_for_share("score", 0.3, desc=True) == "20"
    assert shape.edge_for_share("score", 0.01, desc=True) == "30"
    assert shape.edge_for_share("score", 5.0, desc=True) == "0"
    assert shape.edge_for_share("updated_at", 0.1, desc=True) is None
