"""The Importações screen builds its component tree and registers its route and permission."""

import pytest

pytest.importorskip("reflex")


def test_imports_page_builds() -> None:
    from app.auth.permissions import Perm
    from app.pages.base import PAGE_RULES
    from app.pages.imports import _custom_key, imports_page

    assert imports_page() is not None
    assert PAGE_RULES["/importacoes"] == (Perm.IMPORTS_RUN, False)
    assert _custom_key("Data de Ativação") == "data_de_ativacao"
    assert _custom_key("2ª linha") == "c_2a_linha"
