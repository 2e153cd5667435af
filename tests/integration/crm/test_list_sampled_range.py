"""Issue 15: the list's search box under a name sort reads a common word's matches within a range of the
name index placed by a sample of the table (`queries._ranged`), instead of sorting every match; the pages
(keyset cursors, both directions), the filters and the visibility stay exactly those of sorting them all."""

import random
from typing import Any

import pytest
from sqlalchemy import text as sql_text
from sqlmodel import Session

from app.crm.customers import CustomerQuery, list_customers, queries
from app.search import postgres as pg
from app.search.postgres import TableShape
from tests.integration.crm.conftest import Crm, new_customer, spy_pages

FIRST = ["Abel", "Bruna", "Caio", "Dora", "Elias", "Fabia", "Gil", "Hana", "Ivo", "Jade", "Kleber", "Lia"]
FIRST += ["Mauro", "Nara", "Otto", "Paula", "Quirino", "Rita", "Saulo", "Tania", "Ugo", "Vera", "Wilma"]


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


@pytest.fixture
def spread(db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Customers stored in an order unrelated to their names; one in three has the surname Zuleica (a
    common word spread over the whole name order), analysed so the list has statistics."""
    rng = random.Random(15)
    made: dict[str, list[int]] = {"zuleica": [], "agent": []}
    for i in range(390):
        owner = crm.agent if i % 5 == 0 else crm.admin
        surname = "Zuleica" if i % 3 == 0 else f"Sobrenome{rng.randrange(10**6):06d}"
        name = f"{rng.choice(FIRST)} {rng.choice(FIRST)} {surname}"
        customer = new_customer(db, owner, name=name, status="ativo" if i % 2 else "prospecto")
        if surname == "Zuleica":
            made["zuleica"].append(customer.id)
            if owner is crm.agent:
                made["agent"].append(customer.id)
    db.exec(sql_text(f'ANALYZE "{crm.schema}".customers'))
    monkeypatch.setattr(pg, "_COMMON_WORDS", {})
    monkeypatch.setattr(pg, "_TABLE_SHAPE", {})
    shape = pg.table_shape(db)
    assert shape.blocks > 0 and abs(shape.correlation["name_key"]) < queries.SAMPLE_MAX_CORRELATION
    # A small table: a word is common (a full-text filter) and worth a sample from a few matches on.
    monkeypatch.setattr(pg, "LIST_CANDIDATES", 60)
    monkeypatch.setattr(queries, "SAMPLE_WORTH_MATCHES", 50)
    return made


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    return spy_pages(monkeypatch, queries, "_ranged")


def _sorting_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "_sampling_shape", lambda *_a: None)


@pytest.mark.parametrize("sample_share", [0.1, 0.3, 1.0])
def test_a_spread_common_word_is_paged_from_a_sampled_range_like_sorting_every_match(
    db: Session,
    crm: Crm,
    spread: dict[str, list[int]],
    monkeypatch: pytest.MonkeyPatch,
    sample_share: float,
) -> None:
    # From a few pages sampled (a first range may be too narrow: the sample's n-th match bounds the
    # retry; or too few matches sampled: all sorted) to the whole table.
    blocks = pg.table_shape(db).blocks
    monkeypatch.setattr(queries, "SAMPLE_PAGES", max(1, round(blocks * sample_share)))
    # Any range the sample places (in a table this small a page's range is a large share of it).
    monkeypatch.setattr(queries, "RANGE_MAX_SHARE", 1.0)
    ranged = _spy(monkeypatch)
    got = {
        (sort, limit): _pages(db, crm.admin, "zuleica", sort, limit)
        for sort in ("name", "-name")
        for limit in (7, 25)
    }
    got_status = _pages(db, crm.admin, "zuleica", "name", 10, status=["prospecto"])
    assert ranged and (any(ranged) or sample_share < 1), ranged
    _sorting_all(monkeypatch)
    for (sort, limit), ids in got.items():
        assert ids == _pages(db, crm.admin, "zuleica", sort, limit), (sort, limit)
        assert sorted(ids) == sorted(spread["zuleica"])
    assert got_status == _pages(db, crm.admin, "zuleica", "name", 10, status=["prospecto"])
    assert got_status and len(got_status) < len(spread["zuleica"])


def test_a_portfolio_is_not_sampled_and_sees_only_its_customers(
    db: Session, crm: Crm, spread: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ranged = _spy(monkeypatch)
    ids = _pages(db, crm.agent, "zuleica", "name", 10)
    assert sorted(ids) == sorted(spread["agent"])
    assert _pages(db, crm.outsider, "zuleica", "-name", 10) == []
    assert ranged == []  # an agent's matches are its own index's walk or sorted at once


def test_a_clustered_word_is_sorted_whole_and_a_typo_is_corrected_into_the_range(
    db: Session, crm: Crm, spread: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every customer named Marcelino is in the middle of the name order: no narrow range reaches them.
    rng = random.Random(18)
    made = {
        i: new_customer(db, crm.admin, name=f"Marcelino Caso{i:03d}").id for i in rng.sample(range(90), 90)
    }
    db.exec(sql_text(f'ANALYZE "{crm.schema}".customers'))
    monkeypatch.setattr(pg, "_COMMON_WORDS", {})
    monkeypatch.setattr(pg, "_TABLE_SHAPE", {})
    monkeypatch.setattr(queries, "SAMPLE_PAGES", 1000)
    ranged = _spy(monkeypatch)
    assert abs(pg.table_shape(db).correlation["name_key"]) < queries.SAMPLE_MAX_CORRELATION
    asc = _pages(db, crm.admin, "marcelino", "name", 25)
    assert ranged and not ranged[0]  # the range would be most of the index: all matches sorted
    assert asc == [made[i] for i in range(90)]
    # A typo corrected to a common word pages the same rows as the word typed right.
    ranged.clear()
    monkeypatch.setattr(queries, "RANGE_MAX_SHARE", 1.0)  # any range, in a table this small
    typo = _pages(db, crm.admin, "zuleika", "-name", 25)
    assert any(ranged)
    _sorting_all(monkeypatch)
    assert typo == _pages(db, crm.admin, "zuleica", "-name", 25)


def test_the_name_histogram_share_beyond_a_key() -> None:
    shape = TableShape(blocks=10, rows=400.0, name_bounds=["a", "c", "e", "g", "i"])  # 4 buckets
    assert shape.name_share_beyond("b", desc=False) == 0.25
    assert shape.name_share_beyond("c", desc=False) == 0.5  # a bound: its bucket counts too
    assert shape.name_share_beyond("z", desc=False) == 1.0
    assert shape.name_share_beyond("h", desc=True) == 0.25
    assert shape.name_share_beyond("0", desc=True) == 1.0
    assert TableShape().name_share_beyond("b", desc=False) == 1.0


def test_a_prefix_with_few_completions_filters_as_those_words(
    db: Session, crm: Crm, spread: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pg._completed(db, ["abel", "zulei"]) == [["abel"], ["zuleica"]]
    assert pg._completed(db, ["sobrenome"]) is None  # hundreds of completions: the prefix stays
    assert pg._completed(db, ["xqzw"]) is None
    got = {sort: _pages(db, crm.admin, "zulei", sort, 25) for sort in ("name", "-updated_at")}
    monkeypatch.setattr(pg, "_completed", lambda *_a: None)
    for sort, ids in got.items():
        assert ids == _pages(db, crm.admin, "zulei", sort, 25), sort
        assert sorted(ids) == sorted(spread["zuleica"])


def test_phone_and_document_searches_are_planned_for_the_typed_value(db: Session, crm: Crm) -> None:
    """A generic plan (psycopg prepares a statement run 5 times, PostgreSQL may then keep one plan for
    any value) turned the phone-fragment lookup into a scan: these searches plan for their value."""

    def mode() -> str:
        return str(db.connection().exec_driver_sql("SHOW plan_cache_mode").scalar())

    assert mode() == "auto"
    list_customers(db, crm.admin, CustomerQuery(text="zuleica", limit=10))
    assert mode() == "auto"  # name searches keep their prepared plans
    list_customers(db, crm.admin, CustomerQuery(text="98765", limit=10))
    assert mode() == "force_custom_plan"
    db.rollback()  # SET LOCAL: the next transaction is back to the default
    assert mode() == "auto"
    pg.PostgresSearch().search(db, crm.admin, "000.123.456")
    assert mode() == "force_custom_plan"
