"""Small rules behind the screens: Brazilian money in and out, pydantic errors in pt-BR, option lists,
segment summaries, and that each CRUD screen gets its own state (mixin, not a shared parent)."""

from decimal import Decimal, InvalidOperation

import pytest
from pydantic import BaseModel, Field, ValidationError

from app.crm.opportunities import brl
from app.errors import invalid_from

pytest.importorskip("reflex")


def test_brl_formats_brazilian_money() -> None:
    assert brl(Decimal("1234567.5")) == "R$ 1.234.567,50"
    assert brl(Decimal(0)) == "R$ 0,00"


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("1.234,56", "1234.56"),
        ("1234,5", "1234.5"),
        ("1.500", "1500"),
        ("99.90", "99.90"),
        ("R$ 10", "10"),
        ("", "0"),
    ],
)
def test_money_input(typed: str, value: str) -> None:
    from app.formatting import money_from_br as _money

    assert _money(typed) == Decimal(value)


@pytest.mark.parametrize("typed", ["abc", "NaN", "Infinity"])
def test_money_input_rejects_non_numbers(typed: str) -> None:
    from app.formatting import money_from_br as _money

    with pytest.raises(InvalidOperation):
        _money(typed)


def test_invalid_from_translates_pydantic_errors() -> None:
    class Model(BaseModel):
        label: str = Field(min_length=1)
        position: int = 0
        value: Decimal = Field(default=Decimal(0), ge=0)

    with pytest.raises(ValidationError) as caught:
        Model(label="", position="x", value=-1)
    assert invalid_from(caught.value.errors()).fields == {
        "label": "Campo obrigatório.",
        "position": "Informe um número inteiro.",
        "value": "Valor abaixo do mínimo permitido.",
    }


def test_option_lines_and_segment_summary() -> None:
    from app.pages.crud import lines
    from app.pages.segments import describe

    assert lines("Vivo\n Claro , TIM\n\n") == ["Vivo", "Claro", "TIM"]
    assert describe({"status": ["ativo"], "tags": ["VIP", "Churn"], "custom": {"operadora": "Vivo"}}) == (
        "status: Ativo · etiquetas: VIP, Churn · operadora: Vivo"
    )
    assert describe({}) == "todos os clientes"


def test_each_crud_screen_has_its_own_state() -> None:
    from app.pages.base import SessionState
    from app.pages.tags import TagsState
    from app.pages.wallets import WalletsState

    for state in (TagsState, WalletsState):
        assert state.get_parent_state() is SessionState
        assert {"rows", "dialog_open", "form_values"} <= set(state.base_vars)
        assert {"load", "submit", "confirm_delete"} <= set(state.event_handlers)
