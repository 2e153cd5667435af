"""PostgreSQL search: accent-insensitive, one typo, phones in any format, documents, e-mails, RBAC."""

import pytest
from sqlmodel import Session

from app.errors import Forbidden
from app.search.postgres import PostgresSearch
from tests.integration.crm.conftest import Crm, new_customer

search = PostgresSearch()


@pytest.fixture
def people(db: Session, crm: Crm) -> dict[str, int]:
    made = {
        "joao": new_customer(
            db,
            crm.agent,
            name="João Conceição Silva",
            document="529.982.247-25",
            contacts=[
                {"kind": "phone", "value": "(11) 98765-4321"},
                {"kind": "email", "value": "joao.silva@exemplo.com.br"},
            ],
        ),
        "joana": new_customer(db, crm.agent, name="Joana Silveira"),
        "maria": new_customer(
            db, crm.outsider, name="Maria João Pereira", contacts=[{"kind": "phone", "value": "21 3344-5566"}]
        ),
    }
    return {k: v.id for k, v in made.items()}


def ids(db: Session, actor: object, text: str) -> list[int]:
    return [h.id for h in search.search(db, actor, text)]


def test_accent_insensitive_and_ranked(db: Session, crm: Crm, people: dict[str, int]) -> None:
    hits = ids(db, crm.admin, "joao")
    assert people["joao"] in hits and people["maria"] in hits and people["joana"] not in hits
    assert ids(db, crm.admin, "joão silva")[0] == people["joao"]
    assert ids(db, crm.admin, "CONCEICAO")[0] == people["joao"]


def test_one_typo_in_a_name(db: Session, crm: Crm, people: dict[str, int]) -> None:
    assert people["joao"] in ids(db, crm.admin, "joao conceicao silvx")
    assert people["joana"] in ids(db, crm.admin, "joana silvera")
    assert people["joao"] in ids(db, crm.admin, "joa silva")  # an unfinished earlier word
    assert people["joao"] in ids(db, crm.admin, "conceicao joao")  # any word order
    assert ids(db, crm.admin, "xyzqwk") == []


# How people type "+5511987654321"; the Meilisearch backend is held to the same list.
TYPED_PHONES = [
    "(11) 98765-4321",
    "11987654321",
    "+55 11 98765-4321",
    "5511987654321",
    "011 98765 4321",
    "1187654321",
    "98765-4321",
    "8765-4321",
    "11 98765",  # the start of the number (prefix of the E.164 value)
    "55 11 98765-43",
]


@pytest.mark.parametrize("typed", TYPED_PHONES)
def test_phone_in_any_format(db: Session, crm: Crm, people: dict[str, int], typed: str) -> None:
    hits = search.search(db, crm.admin, typed)
    assert hits and hits[0].id == people["joao"] and hits[0].matched == "telefone"


def test_document_and_email(db: Session, crm: Crm, people: dict[str, int]) -> None:
    hit = search.search(db, crm.admin, "529.982.247-25")[0]
    assert hit.id == people["joao"] and hit.matched == "documento"
    assert ids(db, crm.admin, "529982")[0] == people["joao"]
    assert ids(db, crm.admin, "JOAO.SILVA@exemplo.com.br") == [people["joao"]]
    assert people["joao"] in ids(db, crm.admin, "joao.silva@")
    assert people["joao"] in ids(db, crm.admin, "@exemplo.com.br")  # the end of the address


def test_results_respect_rbac(db: Session, crm: Crm, people: dict[str, int]) -> None:
    assert people["maria"] not in ids(db, crm.agent, "joao")
    assert people["maria"] not in ids(db, crm.manager, "maria")
    assert ids(db, crm.outsider, "maria") == [people["maria"]]
    assert ids(db, crm.outsider, "(21) 3344-5566") == [people["maria"]]
    assert ids(db, crm.agent, "(21) 3344-5566") == []
    assert ids(db, crm.agent2, "joao") == []


def test_superadmin_cannot_search_tenant_data(db: Session, crm: Crm) -> None:
    from dataclasses import replace

    with pytest.raises(Forbidden):
        search.search(db, replace(crm.admin, role="superadmin"), "joao")


def test_renamed_customer_is_found_with_one_typo(db: Session, crm: Crm, people: dict[str, int]) -> None:
    from app.crm.customers import CustomerUpdate, update_customer

    update_customer(db, crm.admin, people["joana"], CustomerUpdate(name="Joana Wanderley Bastos"))
    db.flush()
    assert ids(db, crm.admin, "joana wanderlei") == [people["joana"]]


def test_company_suffix_is_one_word_as_in_the_index(db: Session, crm: Crm) -> None:
    # "S.A." is one token ('s.a') for PostgreSQL's parser: split at the dot it matched no name at all.
    made = new_customer(db, crm.admin, name="Comércio Magalhães Machado S.A.")
    assert ids(db, crm.admin, "comercio magalhaes machado s.a.") == [made.id]
    assert ids(db, crm.admin, "Comércio Machado S.A") == [made.id]


def test_known_words_outside_the_portfolio_skip_the_typo_pass(
    db: Session, crm: Crm, people: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    passes: list[object] = []
    ranked = search._ranked_prefix

    def counting(*args: object, **kwargs: object) -> object:
        passes.append(args)
        return ranked(*args, **kwargs)

    monkeypatch.setattr(search, "_ranked_prefix", counting)
    # Every word is a name word, but the only such customer belongs to another portfolio.
    assert ids(db, crm.agent, "maria pereira") == []
    assert len(passes) == 1
