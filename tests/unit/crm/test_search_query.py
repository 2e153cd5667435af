"""Search box parsing, phone candidates and the Meilisearch document/filter (no server needed)."""

from datetime import UTC, datetime

import pytest

from app.auth.actor import Actor
from app.search.meili import customer_document, index_uid, owner_filter
from app.search.query import fold, parse_query, phone_candidates, tsquery_prefix
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
    assert doc["name_folded"] == "joao" and doc["phones"] == ["5511987654321", "11987654321"]
    assert doc["emails"] == ["j@x.com"] and doc["owner_id"] == 0
