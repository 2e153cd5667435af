"""The slug suggested from an organisation's name (sign-up form): folded, hyphenated, always valid."""

import pytest

from tenants.naming import slug_error, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Telecom São João Ltda.", "telecom-sao-joao"),
        ("Revenda Ação & Cia", "revenda-acao-cia"),
        ("  ÁGUA   Viva Comunicações  ", "agua-viva-comunicacoes"),
        ("Conexão Peçanha S.A.", "conexao-pecanha"),
        ("Vivo Revenda ME", "vivo-revenda"),
        ("Ltda", "ltda"),  # nothing left but the suffix: kept
        ("Çç Ññ Ü", "cc-nn-u"),
    ],
)
def test_slugify_folds_accents_and_drops_company_suffixes(name: str, slug: str) -> None:
    assert slugify(name) == slug
    assert slug_error(slug) is None


@pytest.mark.parametrize("name", ["", "   ", "A", "!!!", "—"])
def test_slugify_gives_nothing_rather_than_an_invalid_slug(name: str) -> None:
    assert slugify(name) == ""


def test_slugify_caps_the_length() -> None:
    slug = slugify("Organização " * 20)
    assert len(slug) <= 63 and slug_error(slug) is None
