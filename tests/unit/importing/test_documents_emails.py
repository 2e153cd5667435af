"""CPF/CNPJ check digits and zero padding; e-mail syntax and case."""

import polars as pl
import pytest

from app.importing.documents import is_valid_cnpj, is_valid_cpf, normalise_document, normalise_documents
from app.importing.emails import normalise_email, normalise_emails
from tests.bench.generate import _cnpj, _cpf


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("529.982.247-25", "52998224725"),
        ("52998224725", "52998224725"),
        ("529982247-26", None),  # wrong check digit
        ("111.111.111-11", None),  # repeated digits pass the arithmetic, not real
        ("11.222.333/0001-81", "11222333000181"),
        ("11222333000180", None),
        ("2998224725", None),
        ("1234567891", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_document_cases(raw: str | None, expected: str | None) -> None:
    assert normalise_document(raw) == expected
    assert normalise_documents(pl.Series([raw], dtype=pl.String)).to_list() == [expected]


def test_lost_leading_zeros_are_padded_back() -> None:
    import random

    rng = random.Random(1)
    cpfs = [c for c in (_cpf(rng) for _ in range(3000)) if c.startswith("0")][:50]
    cnpjs = [c for c in (_cnpj(rng) for _ in range(3000)) if c.startswith("0")][:50]
    assert cpfs and cnpjs
    for doc in cpfs + cnpjs:
        as_number = str(int(doc))
        assert normalise_document(as_number) == doc
        assert normalise_document(as_number + ".0") == doc  # numeric spreadsheet cell
    got = normalise_documents(pl.Series([str(int(d)) for d in cpfs + cnpjs])).to_list()
    assert got == cpfs + cnpjs


def test_vectorised_documents_match_scalar() -> None:
    import random

    rng = random.Random(2)
    values = [_cpf(rng) for _ in range(500)] + [_cnpj(rng) for _ in range(500)]
    values += [v[:-1] + str((int(v[-1]) + 1) % 10) for v in values[:300]]
    values += ["".join(rng.choice("0123456789./-") for _ in range(rng.randint(0, 16))) for _ in range(1000)]
    # Empty cells between the others: only the present values are normalised, then put back in place.
    mixed: list[str | None] = list(values) + [None] * 400
    rng.shuffle(mixed)
    assert normalise_documents(pl.Series(mixed, dtype=pl.String)).to_list() == [
        normalise_document(v) for v in mixed
    ]
    assert all(is_valid_cpf(v) for v in values[:500]) and all(is_valid_cnpj(v) for v in values[500:1000])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Maria.Silva@Empresa.COM.br ", "maria.silva@empresa.com.br"),
        ("a+tag@x.io", "a+tag@x.io"),
        ("a..b@x.com", None),
        (".a@x.com", None),
        ("a@x", None),
        ("a@-x.com", None),
        ("sem email", None),
        ("joão@x.com", None),
        ("", None),
        (None, None),
    ],
)
def test_email_cases(raw: str | None, expected: str | None) -> None:
    assert normalise_email(raw) == expected
    assert normalise_emails(pl.Series([raw], dtype=pl.String)).to_list() == [expected]
