"""The workspace screens build their component trees (catches bad props and event signatures early)."""

import pytest

pytest.importorskip("reflex")


@pytest.mark.parametrize(
    ("module", "func"),
    [
        ("app.pages.customers", "customers_page"),
        ("app.pages.customer", "customer_page"),
        ("app.pages.agenda", "agenda_page"),
        ("app.pages.tags", "tags_page"),
        ("app.pages.wallets", "wallets_page"),
        ("app.pages.custom_fields", "custom_fields_page"),
        ("app.pages.templates", "templates_page"),
        ("app.pages.segments", "segments_page"),
        ("app.pages.home", "home_page"),
        ("app.pages.not_found", "not_found_page"),
        ("app.pages.imports", "imports_page"),
        ("app.pages.audit", "audit_page"),
        ("app.pages.users", "users_page"),
        ("app.pages.kanban", "kanban_page"),
    ],
)
def test_page_builds(module: str, func: str) -> None:
    import importlib

    render = getattr(importlib.import_module(module), func)
    assert render() is not None


def test_pages_register_routes() -> None:
    import app.pages.agenda
    import app.pages.customer
    import app.pages.customers  # noqa: F401
    from app.pages.base import PAGE_RULES

    assert {"/clientes", "/clientes/[customer_id]", "/agenda"} <= set(PAGE_RULES)


def test_error_and_warning_badges_differ() -> None:
    from components.badges import SEVERITY_COLORS, severity_badge

    assert SEVERITY_COLORS["Erro"] != SEVERITY_COLORS["Aviso"]
    rendered = str(severity_badge("Aviso"))
    assert '"amber"' in rendered and '"red"' in rendered
