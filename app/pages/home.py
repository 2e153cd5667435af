"""Tenant home ("Início"): a short overview for the logged-in user."""

import reflex as rx
from sqlalchemy import func
from sqlmodel import select

from app.errors import DomainError
from app.pages.base import SessionState, page
from models.tenant import Customer


class HomeState(SessionState):
    customers: int = 0

    @rx.event
    def load(self):  # type: ignore[no-untyped-def]
        try:
            with self.db() as (db, actor):
                stmt = select(func.count()).select_from(Customer).where(Customer.deleted_at.is_(None))  # type: ignore[union-attr]
                if actor.visible_owner_ids is not None:
                    stmt = stmt.where(Customer.owner_id.in_(actor.visible_owner_ids))  # type: ignore[union-attr]
                self.customers = int(db.exec(stmt).one())
        except DomainError as exc:
            return self.fail(exc)
        return None


def stat_card(label: str, value: rx.Var, icon: str, id_: str) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon(icon, size=28, color="#660098"),
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray"),
                rx.heading(value, size="7", id=id_),
                spacing="0",
            ),
            spacing="4",
            align="center",
        ),
        min_width="220px",
    )


@page("/inicio", "Início", nav=("Início", "house", 0), on_load=HomeState.load)
def home_page() -> rx.Component:
    return rx.vstack(
        rx.heading(rx.text("Olá, ", SessionState.user_name, "!"), size="5", id="welcome"),
        rx.hstack(
            stat_card(
                "Clientes visíveis para você", HomeState.customers.to_string(), "users", "stat-customers"
            ),
            wrap="wrap",
            spacing="4",
        ),
        spacing="5",
        width="100%",
    )
