"""Issue 15: the list's search box looks the typed words up in the dictionary (search_words) first, in one
statement. A typo then never probes the customers for the typed words, and a last word that starts no
other name word is probed once; the pages (customers, order, cursors) stay those of the matching rule,
checked here against a reference computed from every visible customer's words, for each role."""

from typing import Any

import pytest
from sqlalchemy import event, text
from sqlmodel import Session

from app.auth.actor import Actor
from app.crm.customers import CustomerQuery, list_customers
from app.crm.pagination import decode_cursor
from app.search.postgres import word_corrections
from app.search.query import parse_query
from tests.integration.crm.conftest import Crm, new_customer

NAMES = [
    ("agent", "Sebastião Peçanha Nóbrega"),
    ("agent", "Sebastiana Nobre"),
    ("agent", "Sebastião Costa"),
    ("agent2", "Sebastião Nóbrega Filho"),
    ("agent2", "Maria Aparecida Fonseca"),
    ("outsider", "Maria Fonseca"),
    ("outsider", "Sebastião Fonsecano"),
    ("agent", "Marias Transportes"),
]
TEXTS = [
    "sebastiao",  # a name word that starts no other word
    "sebast",  # a prefix of two words
    "sebastiao nobrga",  # a typo of the last word
    "sebastaio",  # a typo of the only word
    "nobreg",
    "fonseca",  # a word that another word starts ("fonsecano")
    "fonsec",
    "maria aparecia",
    "marai fonseca",  # a typo of a first word
    "xqzw",  # nothing
]


@pytest.fixture
def named(db: Session, crm: Crm) -> None:
    for who, name in NAMES:
        new_customer(db, getattr(crm, who), name=name)


def _reference(db: Session, crm: Crm, actor: Actor, typed: str, sort: str) -> list[int]:
    """The visible customers the text matches, in the sort's order: the typed words (the last as a
    prefix) when any customer has them, else one typo's corrections (`word_corrections`)."""
    visible = list_customers(db, actor, CustomerQuery(limit=200, sort="id")).rows
    ids = [r.id for r in visible]
    rows = db.connection().execute(
        text(
            "SELECT id, name_key, updated_at, tsvector_to_array(name_tsv) AS words "
            f'FROM "{crm.schema}".customers WHERE id = ANY(:ids)'
        ).bindparams(ids=ids)
    )
    customers = list(rows)
    words = parse_query(typed).words

    def matching(alternatives: list[list[str]]) -> list[Any]:
        def has(c: Any) -> bool:
            *whole, last = alternatives
            return all(set(a) & set(c.words) for a in whole) and any(
                w.startswith(p) for p in last for w in c.words
            )

        return [c for c in customers if has(c)]

    found = matching([[w] for w in words])
    if not found:
        corrected = word_corrections(db, words)
        found = matching(corrected) if corrected else []
    key, desc = (sort[1:], True) if sort.startswith("-") else (sort, False)
    column = "name_key" if key == "name" else key
    found.sort(key=lambda c: (getattr(c, column), c.id), reverse=desc)
    return [c.id for c in found]


def _paged(db: Session, actor: Actor, typed: str, sort: str) -> list[int]:
    """Every page of 2 in turn, each cursor checked to be the page's last row."""
    out: list[int] = []
    cursor = None
    while True:
        page = list_customers(db, actor, CustomerQuery(text=typed, sort=sort, limit=2, cursor=cursor))
        out += [r.id for r in page.rows]
        if page.next_cursor is None:
            return out
        assert decode_cursor(page.next_cursor, sort)[1] == page.rows[-1].id
        cursor = page.next_cursor


@pytest.mark.parametrize("sort", ["name", "-name", "-updated_at"])
def test_pages_follow_the_matching_rule_for_each_role(db: Session, crm: Crm, named: None, sort: str) -> None:
    for actor in (crm.admin, crm.manager, crm.agent, crm.agent2, crm.outsider):
        for typed in TEXTS:
            assert _paged(db, actor, typed, sort) == _reference(db, crm, actor, typed, sort), (
                actor.role,
                typed,
            )
    # The reference is not vacuous: typos are corrected, visibility applies.
    assert len(_reference(db, crm, crm.admin, "sebastiao nobrga", sort)) == 2
    assert len(_reference(db, crm, crm.agent, "sebastiao nobrga", sort)) == 1
    assert len(_reference(db, crm, crm.admin, "fonseca", sort)) == 3


def _statements(db: Session, actor: Actor, typed: str) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        seen.append((statement, parameters))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        list_customers(db, actor, CustomerQuery(text=typed, sort="name", limit=50))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def _probes(seen: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(s, p) for s, p in seen if "WITH matches AS MATERIALIZED" in s]


def test_a_typo_never_probes_the_typed_words(db: Session, crm: Crm, named: None) -> None:
    for actor in (crm.admin, crm.agent):
        seen = _statements(db, actor, "sebastiao nobrga")
        assert not any("nobrga" in str(p) for s, p in seen if "customers" in s), actor.role
        # One dictionary statement for the whole correction, no SET per search.
        assert sum("search_words" in s for s, _p in seen) == 1
        assert not any(s.lstrip().upper().startswith("SET") for s, _p in seen)


def test_a_last_word_that_starts_no_other_word_is_probed_once(db: Session, crm: Crm, named: None) -> None:
    assert len(_probes(_statements(db, crm.admin, "sebastiao nobrega"))) == 1
    # "fonseca" starts "fonsecano": the prefix probe is still needed.
    assert len(_probes(_statements(db, crm.admin, "maria fonseca"))) == 2
    assert len(_probes(_statements(db, crm.admin, "fonsecano"))) == 1


def test_a_corrected_last_word_that_starts_no_other_word_is_probed_once(
    db: Session, crm: Crm, named: None
) -> None:
    # "aparecia" corrects to "aparecida", which starts no other word: its prefix probe would repeat the
    # whole word's (the pages are those of the reference: test_pages_follow_the_matching_rule_for_each_role).
    assert word_corrections(db, ["maria", "aparecia"]) == [["maria"], ["aparecida"]]
    for actor in (crm.admin, crm.agent):
        assert len(_probes(_statements(db, actor, "maria aparecia"))) == 1, actor.role
    # "nobrga" corrects to "nobrega | nobre" ("nobre" starts "nobrega"), "fonsecs" to "fonseca" (which starts
    # "fonsecano"): both probes.
    assert len(_probes(_statements(db, crm.admin, "sebastiao nobrga"))) == 2
    assert len(_probes(_statements(db, crm.admin, "maria fonsecs"))) == 2


def test_the_trigram_threshold_is_set_per_connection(db: Session) -> None:
    conn = db.connection()
    conn.exec_driver_sql("SELECT public.similarity('a', 'b')")  # pg_trgm loaded: its setting is listed
    setting = conn.exec_driver_sql(
        "SELECT setting, source FROM pg_settings WHERE name = 'pg_trgm.similarity_threshold'"
    ).one()
    assert tuple(setting) == ("0.3", "session")  # set by our connections, not the server's default
