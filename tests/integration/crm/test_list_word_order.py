"""Issue 15: a name-sorted page of the list filtered by a frequent word is read from customer_words (each
frequent word's customers in name order, t0022) instead of sorting the word's matches. The pages must be
exactly those of the old path (same customers, same order, every cursor) for a word that clusters in the
name order, one spread over it, a one-typo correction and an agent's visibility; and every writer of
names keeps the table exact (triggers on customers)."""

import random
from typing import Any

import pytest
from sqlalchemy import text as sql_text
from sqlmodel import Session, col, select

from app.crm.customers import CustomerQuery, CustomerUpdate, list_customers, queries, update_customer
from app.crm.privacy import anonymise_customer
from app.search import postgres as pg
from app.search import word_order
from models.tenant import SearchWord
from tests.integration.crm.conftest import Crm, new_customer

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


def _expected_rows(db: Session, schema: str) -> set[tuple[str, str, int]]:
    """customer_words as it must be: every ordered word of every customer's name that does not lead
    it, with its name key."""
    rows = db.exec(
        sql_text(
            f'SELECT x.word, c.name_key, c.id FROM "{schema}".customers c, '
            "unnest(tsvector_to_array(c.name_tsv)) x(word) "
            f'JOIN "{schema}".search_words s ON s.word = x.word WHERE s.ordered '
            "AND NOT (c.name_key >= x.word AND c.name_key < x.word || '!')"
        )
    ).all()
    return {(w, k, i) for w, k, i in rows}


def _rows(db: Session, schema: str) -> set[tuple[str, str, int]]:
    rows = db.exec(sql_text(f'SELECT word, name_key, customer_id FROM "{schema}".customer_words')).all()
    return {(w, k, i) for w, k, i in rows}


@pytest.fixture
def named(db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Customers stored in an order unrelated to their names: "Marcelino" leading a quarter of the names
    (clustered in the middle of the name order) and in the middle of a few more, "Telecom" leading some
    company names and ending others, the surname "Zuleica" spread over the name order; a fifth of them the
    agent's. Then the frequent leading words are flagged and backfilled as the import does after its
    ANALYZE."""
    rng = random.Random(22)
    made: dict[str, list[int]] = {"marcelino": [], "telecom": [], "zuleica": [], "agent": []}
    for i in rng.sample(range(420), 420):
        owner = crm.agent if i % 5 == 0 else crm.admin
        surname = "Zuleica" if i % 3 == 0 else f"Sobrenome{rng.randrange(10**6):06d}"
        first = rng.choice(FIRST)
        if i % 4 == 0:
            name = f"Marcelino {first} {surname}"
        elif i % 4 == 1 and i % 3 == 0:
            name = f"{first} Marcelino {surname}"
        elif i % 12 in (2, 6):
            name = f"Telecom {first} {surname} Ltda"
        elif i % 12 == 10:
            name = f"{first} {surname} Telecom"
        else:
            name = f"{first} {surname}"
        customer = new_customer(db, owner, name=name, status="ativo" if i % 2 else "prospecto")
        for word in ("marcelino", "telecom", "zuleica"):
            if word in name.lower():
                made[word].append(customer.id)
        if owner is crm.agent:
            made["agent"].append(customer.id)
    db.exec(sql_text(f'ANALYZE "{crm.schema}".customers'))
    monkeypatch.setattr(pg, "_COMMON_WORDS", {})
    monkeypatch.setattr(pg, "_TABLE_SHAPE", {})
    monkeypatch.setattr(pg, "LIST_CANDIDATES", 30)  # a small table: these words are dense filters
    assert word_order.order_words(db, crm.schema, min_customers=60) == 2
    flagged = db.exec(select(SearchWord.word).where(col(SearchWord.ordered))).all()
    # zuleica is spread (the sampled range's word), abel rare (~18 customers): neither is flagged.
    assert sorted(flagged) == ["marcelino", "telecom"]
    rows = _rows(db, crm.schema)
    assert rows == _expected_rows(db, crm.schema)
    # Only the occurrences the word does not lead: Marcelino in the middle of 35 names, 35 "… Telecom".
    assert {w for w, _k, _i in rows} == {"marcelino", "telecom"} and 50 < len(rows) < 90
    return made


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Records the words of each page read from customer_words."""
    used: list[tuple[str, ...]] = []
    real = queries._by_word

    def spy(columns: Any, found: Any, words: tuple[str, ...], desc: bool, n: int) -> Any:
        used.append(words)
        return real(columns, found, words, desc, n)

    monkeypatch.setattr(queries, "_by_word", spy)
    return used


def _old_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries, "_pages_by_word", lambda *_a: False)


CASES = [
    ("marcelino", "marcelino"),  # clustered: every page sits in the middle of the name order
    ("telecom", "telecom"),
    ("marcelnio", "marcelino"),  # one typo, corrected to the frequent word
    ("telecon", "telecom"),
]


def test_frequent_words_page_from_customer_words_exactly_like_the_old_path(
    db: Session, crm: Crm, named: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    used = _spy(monkeypatch)
    actors = {"admin": crm.admin, "agent": crm.agent, "manager": crm.manager, "outsider": crm.outsider}
    got: dict[tuple[str, str, str, int], list[int]] = {}
    for typed, _word in CASES:
        for who, actor in actors.items():
            for sort in ("name", "-name"):
                for limit in (7, 25):
                    got[typed, who, sort, limit] = _pages(db, actor, typed, sort, limit)
    status = _pages(db, crm.admin, "marcelino", "-name", 10, status=["ativo"])
    zuleica = _pages(db, crm.admin, "zuleica", "name", 10)  # not flagged: the old path
    assert {w for words in used for w in words} == {"marcelino", "telecom"}
    _old_path(monkeypatch)
    used.clear()
    for (typed, who, sort, limit), ids in got.items():
        assert ids == _pages(db, actors[who], typed, sort, limit), (typed, who, sort, limit)
    assert status == _pages(db, crm.admin, "marcelino", "-name", 10, status=["ativo"])
    assert sorted(zuleica) == sorted(named["zuleica"])
    assert used == []
    # And they are the right customers: all of the word's, or the agent's own among them.
    for typed, word in CASES:
        assert sorted(got[typed, "admin", "name", 7]) == sorted(named[word])
        agents = sorted(set(named[word]) & set(named["agent"]))
        assert agents and sorted(got[typed, "agent", "-name", 25]) == agents
        assert got[typed, "outsider", "name", 7] == []
    assert status and len(status) < len(named["marcelino"])


def test_two_alternatives_merge_into_one_name_order(
    db: Session, crm: Crm, named: dict[str, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # "marcelino | telecom" as a one-group query of two lexemes: customers with either word, in name order.
    from app.crm.customers.queries import Filtered, _by_word, _page_columns
    from models.tenant import Customer

    columns = (*_page_columns(), Customer.name_key.label("sort_value"))  # type: ignore[attr-defined]
    found = Filtered([Customer.deleted_at.is_(None)])  # type: ignore[union-attr]
    rows = db.connection().execute(_by_word(columns, found, ("marcelino", "telecom"), False, 500)).all()
    either = set(named["marcelino"]) | set(named["telecom"])
    assert [r.id for r in rows] == [
        r[0]
        for r in db.exec(
            sql_text(
                f'SELECT id FROM "{crm.schema}".customers WHERE id = ANY(:ids) ORDER BY name_key, id'
            ).bindparams(ids=sorted(either))
        ).all()
    ]


def test_every_writer_of_names_keeps_customer_words_exact(
    db: Session, crm: Crm, named: dict[str, list[int]]
) -> None:
    schema = crm.schema
    # Services: a new customer with a frequent word, renames into and out of one, an anonymisation.
    new = new_customer(db, crm.admin, name="Abel Marcelino Telecom")
    update_customer(db, crm.admin, named["telecom"][0], CustomerUpdate(name="Abel Renomeado"))
    update_customer(db, crm.admin, named["agent"][0], CustomerUpdate(name="Zuleica Marcelino Nova"))
    anonymise_customer(db, crm.admin, named["telecom"][1])
    db.flush()
    rows = _rows(db, schema)
    assert rows == _expected_rows(db, schema)
    assert {("marcelino", new.name_key, new.id), ("telecom", new.name_key, new.id)} <= rows
    assert not any(i in named["telecom"][:2] for _w, _k, i in rows)
    # Set-based writers (the import's COPY and upsert, bulk updates, deletes): one statement each.
    db.exec(
        sql_text(
            f'INSERT INTO "{schema}".customers (name, kind, status) '
            "SELECT 'Marcelino Lote ' || i, 'PF', 'ativo' FROM generate_series(1, 30) i"
        )
    )
    db.exec(
        sql_text(
            f'INSERT INTO "{schema}".customers (id, name, kind, status) '
            f"SELECT id, name || ' Telecom', kind, status FROM \"{schema}\".customers "
            "WHERE name LIKE 'Marcelino Lote 1%' "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name"
        )
    )
    db.exec(sql_text(f"UPDATE \"{schema}\".customers SET status = 'inativo' WHERE name LIKE 'Marcelino%'"))
    db.exec(sql_text(f"DELETE FROM \"{schema}\".customers WHERE name LIKE 'Marcelino Lote 2%'"))
    assert _rows(db, schema) == _expected_rows(db, schema)
    assert any(w == "telecom" and k.startswith("marcelino lote 1") for w, k, _i in _rows(db, schema))
