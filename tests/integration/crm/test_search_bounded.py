"""Issue 15: the list's search box and the ranked search are bounded by indexes, and share the typo
tolerance and the visibility rules."""

from typing import Any

import pytest
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col

from app.crm.customers import CustomerQuery, list_customers
from app.search import postgres as pg
from app.search.postgres import PostgresSearch, text_clause
from models.tenant import Customer
from tests.integration.crm.conftest import Crm, new_customer

search = PostgresSearch()


@pytest.fixture
def people(db: Session, crm: Crm) -> dict[str, int]:
    made = {
        "joao": new_customer(db, crm.agent, name="João Conceição Silva"),
        "joana": new_customer(db, crm.agent2, name="Joana Silveira"),
        "maria": new_customer(db, crm.outsider, name="Maria João Pereira"),
        "empresa": new_customer(db, crm.admin, name="Telecomunicações Guimarães Ltda"),
    }
    return {k: v.id for k, v in made.items()}


def listed(db: Session, actor: Any, text: str) -> list[int]:
    return [r.id for r in list_customers(db, actor, CustomerQuery(text=text, limit=200)).rows]


def searched(db: Session, actor: Any, text: str) -> list[int]:
    return [h.id for h in search.search(db, actor, text, limit=50)]


def test_list_falls_back_to_the_typo_tolerant_candidates(
    db: Session, crm: Crm, people: dict[str, int]
) -> None:
    # Before issue 15 the list had no typo pass: these found nothing (after scanning the whole table).
    assert listed(db, crm.admin, "joao conceicao slva") == [people["joao"]]
    assert listed(db, crm.admin, "joana silvera") == [people["joana"]]
    assert listed(db, crm.admin, "GUIMARAES telecomunicacoes") == [people["empresa"]]  # accents, order
    assert listed(db, crm.admin, "guimaraez") == [people["empresa"]]
    # Exact matches win: no typo candidates are added when the typed words match.
    assert listed(db, crm.admin, "joana") == [people["joana"]]


def test_text_matching_nothing_lists_nothing_without_touching_the_table(
    db: Session, crm: Crm, people: dict[str, int]
) -> None:
    for text in ("xqzwkj", "zzzz wwww", "joao xqzwkj"):
        clause = text_clause(db, text, [col(Customer.deleted_at).is_(None)])
        assert str(clause.compile(dialect=postgresql.dialect())) == "false", text
        assert listed(db, crm.admin, text) == []


def test_list_and_search_apply_the_same_visibility(db: Session, crm: Crm, people: dict[str, int]) -> None:
    queries = [
        "joao",
        "joão",
        "silva",
        "joao slva",
        "pereira",
        "pereria",
        "maria joao",
        "telecom",
        "silveira",
    ]
    for actor in (crm.admin, crm.manager, crm.agent, crm.agent2, crm.outsider):
        for text in queries:
            assert set(listed(db, actor, text)) == set(searched(db, actor, text)), (actor.role, text)
    # The outsider's customer, even through a typo, is found only by those who see it.
    assert listed(db, crm.agent, "maria pereria") == []
    assert searched(db, crm.agent, "maria pereria") == []
    assert listed(db, crm.outsider, "maria pereria") == [people["maria"]]
    assert searched(db, crm.outsider, "maria pereria") == [people["maria"]]
    assert listed(db, crm.manager, "joana silvera") == [people["joana"]]  # the team's agent2


def test_common_word_candidates_are_bounded_and_the_best_match_still_wins(
    db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = pg.CANDIDATES + 60
    for i in range(many):
        new_customer(db, crm.admin, name=f"Zuleica Nomecomum{i:03d} Bastos")
    target = new_customer(db, crm.admin, name="Zuleica Wanderlina")
    ranked: list[int] = []
    probe = pg._probe

    def counting(db: Session, where: list[Any], limit: int) -> list[int]:
        found = probe(db, where, limit)
        ranked.append(len(found))
        return found

    monkeypatch.setattr(pg, "_probe", counting)
    hits = search.search(db, crm.admin, "zuleica", limit=20)
    assert len(hits) == 20
    assert max(ranked) <= pg.CANDIDATES  # never more than the bound reaches the ranking
    # The whole-word tier filled a page: the prefix tier did not run.
    assert len(ranked) == 1
    assert searched(db, crm.admin, "zuleica wanderlina")[0] == target.id
    assert searched(db, crm.admin, "zuleica wanderlin")[0] == target.id  # still typing: prefix tier
    assert searched(db, crm.admin, "zuleica wanderlna")[0] == target.id  # one typo
    # The list pages every match of a common word in its own order, the search box included.
    rows = list_customers(db, crm.admin, CustomerQuery(text="zuleica", sort="name", limit=200)).rows
    assert len(rows) == 200 and [r.name for r in rows] == sorted(r.name for r in rows)
    assert listed(db, crm.admin, "zuleica wanderlna") == [target.id]


def test_a_word_the_statistics_know_as_common_skips_the_probe(
    db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4 * pg.LIST_CANDIDATES + 100):
        new_customer(db, crm.admin, name=f"Zuleica Nomecomum{i:03d} Bastos")
    rare = new_customer(db, crm.admin, name="Wanderlina Bastos")
    db.exec(sql_text(f'ANALYZE "{crm.schema}".customers'))
    monkeypatch.setattr(pg, "_COMMON_WORDS", {})
    assert pg.common_words(db).get("zuleica", 0) > 4 * pg.LIST_CANDIDATES
    probes: list[int] = []
    probe = pg._probe

    def counting(db: Session, where: list[Any], limit: int) -> list[int]:
        probes.append(limit)
        return probe(db, where, limit)

    monkeypatch.setattr(pg, "_probe", counting)
    rows = list_customers(db, crm.admin, CustomerQuery(text="zuleica", limit=50)).rows
    assert len(rows) == 50 and all(r.name.startswith("Zuleica") for r in rows)
    assert probes == []
    # Rarer words still go through the bounded probe.
    assert listed(db, crm.admin, "wanderlina") == [rare.id]
    assert probes


def _all_pages(db: Session, actor: Any, text: str, sort: str, limit: int) -> list[str]:
    names: list[str] = []
    cursor = None
    while True:
        page = list_customers(db, actor, CustomerQuery(text=text, sort=sort, limit=limit, cursor=cursor))
        names += [r.name for r in page.rows]
        if not page.next_cursor:
            return names
        cursor = page.next_cursor


def test_a_common_word_clustered_at_the_end_of_the_sort_is_paged_without_walking_to_it(
    db: Session, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Company words under a name sort: every match sits after every other customer. The walk along the
    sort index is bounded (WALK_ROWS, small here); past it the matches come from the full-text index,
    and both ways page the same rows in the same order, keyset cursors included."""
    from app.crm.customers import queries

    for i in range(120):
        new_customer(db, crm.admin, name=f"Abel Filler{i:03d}")
    companies = [f"Zeta Comercial{i:03d} Ltda" for i in range(pg.LIST_CANDIDATES + 40)]
    for name in companies:
        new_customer(db, crm.admin, name=name)
    monkeypatch.setattr(queries, "WALK_ROWS", 60)
    walked: list[int] = []
    fallback = queries._walk_page

    def counting(*args: Any) -> list[Any]:
        rows = fallback(*args)
        walked.append(len(rows))
        return rows

    monkeypatch.setattr(queries, "_walk_page", counting)
    assert _all_pages(db, crm.admin, "ltda", "name", 25) == sorted(companies)
    assert walked  # the word is dense: the bounded walk ran (then its fallback, the fillers come first)
    assert _all_pages(db, crm.admin, "ltda", "-name", 25) == sorted(companies, reverse=True)
    # Another actor sees none of the admin's customers, through either path.
    assert _all_pages(db, crm.agent, "ltda", "name", 25) == []
    # Both paths agree with a walk long enough to find everything.
    monkeypatch.setattr(queries, "WALK_ROWS", 100_000)
    assert _all_pages(db, crm.admin, "ltda", "name", 25) == sorted(companies)
