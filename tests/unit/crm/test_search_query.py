"""Search box parsing, phone candidates and the Meilisearch document/filter (no server needed)."""

from datetime import UTC, datetime

import pytest

from app.auth.actor import Actor
from app.search.meili import (
    CircuitBreaker,
    customer_document,
    index_uid,
    owner_filter,
    phone_forms,
    phone_terms,
)
from app.search.query import parse_query, phone_candidates, tsquery_prefix
from app.text import fold
from models.tenant import Contact, Customer


def test_fold_removes_accents_and_case() -> None:
    assert fold("JOÃO Conceição Ávila") == "joao conceicao avila"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("(11) 98765-4321", ["+5511987654321", "+551187654321"]),
        ("+55 11 98765-4321", ["+5511987654321", "+551187654321"]),
        ("011 98765 4321", ["+5511987654321", "+551187654321"]),
        ("11 8765-4321", ["+551187654321", "+5511987654321"]),
        ("11 3333-4444", ["+551133334444"]),
        ("98765-4321", []),
    ],
)
def test_phone_candidates(typed: str, expected: list[str]) -> None:
    q = parse_query(typed)
    assert q.numeric and q.phones == expected
    assert phone_candidates(q.digits) == expected


def test_classifies_email_and_names() -> None:
    assert parse_query(" Ana@X.com ").email == "ana@x.com"
    q = parse_query("José d'Ávila-Neto")
    assert q.words == ["jose", "d", "avila", "neto"] and not q.numeric
    assert tsquery_prefix(q.words) == "jose & d & avila & neto:*"
    assert tsquery_prefix([["joao", "joana"], ["silva"]]) == "(joao | joana) & silva:*"
    assert tsquery_prefix(["a&b", "c:*|d"]) == "ab & cd:*"
    # Dotted and slashed tokens stay whole, as the text-search parser keeps them, and are quoted.
    company = parse_query("Comércio Machado S.A.")
    assert company.words == ["comercio", "machado", "s.a"]
    assert tsquery_prefix(company.words) == "comercio & machado & 's.a':*"
    assert tsquery_prefix(["s/a", "x'y"]) == "'s/a' & xy:*"
    assert parse_query("   ").empty


def test_meili_index_is_per_tenant_and_rejects_other_names() -> None:
    assert index_uid("t_1a") == "crm_t_1a_customers"
    with pytest.raises(ValueError):
        index_uid("public")


def test_meili_owner_filter_is_built_from_the_actor() -> None:
    admin = Actor(user_id=1, email="a", role="admin", tenant_id=1, schema="t_1")
    agent = Actor(
        user_id=2, email="b", role="agent", tenant_id=1, schema="t_1", visible_owner_ids=frozenset({2, 7})
    )
    nobody = Actor(
        user_id=3, email="c", role="agent", tenant_id=1, schema="t_1", visible_owner_ids=frozenset()
    )
    assert owner_filter(admin) is None
    assert owner_filter(agent) == "owner_id IN [2, 7]"
    assert owner_filter(nobody) == "owner_id IN [-1]"


def test_meili_document_has_phone_digit_forms() -> None:
    c = Customer(
        id=5,
        name="João",
        document="52998224725",
        owner_id=None,
        status="ativo",
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    doc = customer_document(
        c,
        [
            Contact(customer_id=5, kind="phone", value="+5511987654321"),
            Contact(customer_id=5, kind="email", value="j@x.com"),
        ],
    )
    assert doc["name_folded"] == "joao"
    # Whole number (with and without the country code) and the ends people type, each a word.
    assert doc["phones"] == ["5511987654321", "11987654321", "987654321", "87654321", "4321"]
    assert doc["emails"] == ["j@x.com"] and doc["owner_id"] == 0


@pytest.mark.parametrize(
    ("stored", "forms"),
    [
        ("+5511987654321", ["5511987654321", "11987654321", "987654321", "87654321", "4321"]),
        ("+552133445566", ["552133445566", "2133445566", "33445566", "5566"]),  # landline: 8 = local
        ("+14155550123", ["14155550123", "55550123", "0123"]),  # not Brazilian: whole and ends
    ],
)
def test_meili_phone_forms(stored: str, forms: list[str]) -> None:
    assert phone_forms(stored) == forms


@pytest.mark.parametrize(
    ("typed", "terms"),
    [
        ("98765-4321", ["987654321"]),
        ("011 98765", ["01198765", "1198765"]),  # trunk "0" dropped, as the PostgreSQL backend does
        ("1187654321", ["1187654321", "11987654321"]),  # without the ninth digit: normalised too
        ("011 98765 4321", ["011987654321", "11987654321", "1187654321"]),
    ],
)
def test_meili_phone_terms(typed: str, terms: list[str]) -> None:
    assert phone_terms(parse_query(typed)) == terms


@pytest.mark.parametrize(
    "typed",
    ["(11) 98765-4321", "11987654321", "+55 11 98765-4321", "5511987654321", "011 98765 4321",
     "1187654321", "98765-4321", "8765-4321", "4321", "11 98765", "55 11 98765-43"],
)  # fmt: skip
def test_every_typed_phone_is_the_start_of_a_stored_form(typed: str) -> None:
    """Meilisearch matches the start of a word: some term must start some stored form."""
    forms = phone_forms("+5511987654321")
    assert any(f.startswith(t) for t in phone_terms(parse_query(typed)) for f in forms)


def test_circuit_breaker_opens_after_n_failures_and_lets_one_trial_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker("http://meili:7700", failures=3, cooldown_s=30, clock=lambda: now[0])
    for _ in range(2):
        assert breaker.allow()
        breaker.failure("timeout")
    breaker.success()  # an answer resets the count: only consecutive failures open it
    for _ in range(3):
        assert breaker.allow()
        breaker.failure("timeout")
    assert breaker.is_open and not breaker.allow()
    now[0] = 29.9
    assert not breaker.allow()
    now[0] = 30.0
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # only one at a time
    breaker.failure("timeout")  # the trial failed: another full cool-down
    now[0] = 59.0
    assert not breaker.allow()
    now[0] = 60.0
    assert breaker.allow()
    breaker.success()
    assert not breaker.is_open and breaker.allow() and breaker.allow()


def test_circuit_breaker_trial_slot_expires() -> None:
    now = [0.0]
    breaker = CircuitBreaker("http://meili:7700", failures=1, cooldown_s=10, clock=lambda: now[0])
    breaker.failure("refused")
    now[0] = 10.0
    assert breaker.allow()  # a trial whose caller never reports back...
    now[0] = 19.0
    assert not breaker.allow()
    now[0] = 20.0
    assert breaker.allow()  # ...does not keep the breaker open for good
