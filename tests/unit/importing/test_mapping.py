"""Header synonyms (pt-BR, accents and case ignored) and mapping validation."""

import pytest

from app.errors import Invalid
from app.importing.mapping import suggest_field, suggest_mapping, validate_mapping
from app.text import fold_words as fold


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Telefone 1", "phone"),
        ("TELEFONE 2", "phone"),
        ("Celular", "phone"),
        ("Fone", "phone"),
        ("Tel. Comercial", "phone"),
        ("WhatsApp", "whatsapp"),
        ("E-mail", "email"),
        ("EMAIL", "email"),
        ("Nome/Razão Social", "name"),
        ("Razao social", "name"),
        ("CNPJ/CPF", "document"),
        ("cpf", "document"),
        ("Situação", "status"),
        ("Plano Atual", "plan"),
        ("Carteira", "wallet"),
        ("Vendedor", "owner"),
        ("Etiquetas", "tags"),
        ("Observação", "ignore"),
        ("", "ignore"),
    ],
)
def test_suggest_field(header: str, field: str) -> None:
    assert suggest_field(header) == field


def test_fold() -> None:
    assert fold("  Nome/Razão   Social ") == "nome razao social"


def test_single_fields_map_once_and_phones_many() -> None:
    m = suggest_mapping(["Nome", "Cliente", "Telefone 1", "Telefone 2", "E-mail", "Email 2"])
    assert m == {
        "Nome": "name",
        "Cliente": "ignore",
        "Telefone 1": "phone",
        "Telefone 2": "phone",
        "E-mail": "email",
        "Email 2": "ignore",
    }


def test_validate_mapping_errors_are_pt_br() -> None:
    headers = ["Nome", "Fone", "Obs"]
    assert validate_mapping({"Nome": "name", "Fone": "phone", "Obs": "custom:obs"}, headers)
    with pytest.raises(Invalid) as e:
        validate_mapping({"Nome": "name", "Xyz": "phone"}, headers)
    assert "não existe" in e.value.fields["Xyz"]
    with pytest.raises(Invalid) as e:
        validate_mapping({"Nome": "name"}, headers)
    assert "telefone" in e.value.message
    with pytest.raises(Invalid):
        validate_mapping({"Fone": "phone", "Obs": "custom:Bad Key"}, headers)
    with pytest.raises(Invalid):
        validate_mapping({"Fone": "phone", "Obs": "banana"}, headers)
    with pytest.raises(Invalid):
        validate_mapping({"Fone": "phone", "Nome": "name", "Obs": "name"}, headers)
