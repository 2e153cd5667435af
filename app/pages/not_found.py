"""The page for unknown addresses: pt-BR, inside the shell for a logged-in user, with a way back."""

import reflex as rx

from app.pages.base import SessionState
from components.shell import app_shell, centered_card

TITLE = "Página não encontrada"


def _message(href: rx.Var | str, back_label: str, level: str) -> rx.Component:
    return rx.vstack(
        rx.heading("Página não encontrada", size="6", as_=level, id="not-found-title"),
        rx.text(
            "O endereço que você abriu não existe ou foi movido. Confira o link ou volte para o início.",
            color_scheme="gray",
        ),
        rx.link(rx.button(rx.icon("arrow-left"), back_label), href=href, id="not-found-back"),
        spacing="4",
        align="start",
        padding_y="32px",
        id="not-found",
    )


def not_found_page() -> rx.Component:
    # No guard: anyone may reach an unknown URL. A logged-in user keeps the shell (the sidebar is
    # labels and links only; every page behind them runs its own guard).
    home = rx.cond(SessionState.role == "superadmin", "/plataforma", "/inicio")
    return rx.cond(
        SessionState.user_name != "",
        app_shell(
            _message(home, "Voltar para o início", "h2"),  # the shell's top bar holds the h1
            title=TITLE,
            nav=SessionState.nav,
            current="",
            org_name=SessionState.org_name,
            user_label=SessionState.user_name,
            on_logout=SessionState.logout,
            ready=True,
        ),
        centered_card(_message("/", "Ir para a página de entrada", "h1")),
    )
