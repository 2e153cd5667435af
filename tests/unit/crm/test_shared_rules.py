"""The rules every entry point shares: CPF/CNPJ (form, API, import) and accent folding (search, import)."""

import pytest

from app.brazil.documents import (
    clean_document,
    complete_cnpj,
    complete_cpf,
    is_valid_cnpj,
    is_valid_cpf,
    kind_of,
    normalise_document,
)
from app.errors import Invalid
from app.importing import mapping
from app.search import query
from app.text import fold, fold_words

CPF = "52998224725"
CPF_LEADING_ZERO = "01234567890"
CNPJ = "11222333000181"
CNPJ_LEADING_ZERO = "04252011000110"


def test_check_digits() -> None:
    assert is_valid_cpf(CPF) and is_valid_cpf(CPF_LEADING_ZERO)
    assert is_valid_cnpj(CNPJ) and is_valid_cnpj(CNPJ_LEADING_ZERO)
    assert not is_valid_cpf("52998224726")
    assert not is_valid_cnpj("11222333000182")
    assert not is_valid_cpf("11111111111") and not is_valid_cnpj("00000000000000")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("529.982.247-25", CPF),
        ("11.222.333/0001-81", CNPJ),
        ("1234567890", CPF_LEADING_ZERO),  # the zero a spreadsheet dropped
        ("4252011000110", CNPJ_LEADING_ZERO),
        ("52998224725.0", CPF),  # numeric cell read as a float
        ("", None),
        ("   ", None),
        ("123", None),
        ("529982247250000", None),
    ],
)
def test_normalise_document(raw: str, expected: str | None) -> None:
    assert normalise_document(raw) == expected


def test_clean_document_is_the_same_rule_with_a_pt_br_error() -> None:
    assert clean_document(None) is None and clean_document("  ") is None
    assert clean_document("123.456.789-0") == CPF_LEADING_ZERO  # the form restores the zero too
    assert clean_document("04.252.011/0001-10") == CNPJ_LEADING_ZERO
    with pytest.raises(Invalid) as err:
        clean_document("111.111.111-11")
    assert err.value.fields == {"document": "CPF ou CNPJ inválido."}
    with pytest.raises(Invalid) as err:
        clean_document("123", field="contacts.0.document")
    assert err.value.fields == {"contacts.0.document": "CPF ou CNPJ inválido."}


def test_kind_of() -> None:
    assert kind_of(CNPJ) == "PJ" and kind_of(CPF) == "PF" and kind_of(None) == "PF"


def test_fold_is_one_function() -> None:
    assert fold("JOÃO Conceição Ávila") == "joao conceicao avila"
    assert fold_words("  Nome/Razão   Social ") == "nome razao social"
    assert fold_words(" -- ") == ""
    # Search and import read the same function, not copies of it.
    assert query.fold is fold
    assert mapping.fold_words is fold_words


def test_check_digits_complete_a_base() -> None:
    # The demo seed builds its documents with these: one arithmetic for generating and validating.
    assert complete_cpf(CPF[:9]) == CPF and complete_cpf(CPF_LEADING_ZERO[:9]) == CPF_LEADING_ZERO
    assert complete_cnpj(CNPJ[:12]) == CNPJ and complete_cnpj(CNPJ_LEADING_ZERO[:12]) == CNPJ_LEADING_ZERO
