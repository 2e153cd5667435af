"""Agenda: my appointments and follow-ups by day or week, overdue highlighted, mark as done."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import reflex as rx
from reflex.vars import ObjectVar

from app.auth.permissions import Perm
from app.crm import appointments
from app.crm.visibility import assignable_users
from app.pages.base import Events, SessionState, event, page
from components.types import Option, array_var

WEEKDAYS = ["seg", "ter", "qua", "qui", "sex", "sáb", "dom"]


def _parse_day(day: str) -> date | None:
    try:
        return date.fromisoformat(day)
    except (TypeError, ValueError):
        return None


@dataclass
class AgendaItem:
    id: str
    title: str
    customer: str
    customer_id: str
    when: str
    kind: str
    overdue: bool
    done: bool


class AgendaState(SessionState):
    day: str = ""
    span: str = "day"
    owner: str = ""
    owner_options: list[Option] = []
    items: list[AgendaItem] = []
    title: str = ""

    def _reload(self) -> None:
        owner = int(self.owner) if self.owner.isdigit() else None
        with self.db() as (db, actor):
            current = _parse_day(self.day)
            if current is None:
                # Not loaded yet (or a crafted value): today in the viewer's zone, as load does.
                current = datetime.now(appointments.zone(appointments.user_zone(db, actor))).date()
                self.day = current.isoformat()
            rows = appointments.agenda(db, actor, current, span=self.span, owner_id=owner)
        self.items = [
            AgendaItem(
                id=str(a.id),
                title=a.title,
                customer=a.customer_name or "",
                customer_id=str(a.customer_id or ""),
                when=f"{WEEKDAYS[a.starts_local.weekday()]} {a.starts_local:%d/%m %H:%M}",
                kind=appointments.KINDS.get(a.kind, a.kind),
                overdue=bool(a.overdue),
                done=bool(a.done),
            )
            for a in rows
        ]
        if self.span == "week":
            first = current - timedelta(days=current.weekday())
            self.title = f"Semana de {first:%d/%m} a {first + timedelta(days=6):%d/%m/%Y}"
        else:
            self.title = f"{WEEKDAYS[current.weekday()]}, {current:%d/%m/%Y}"

    @event
    def load(self) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                zone = appointments.zone(appointments.user_zone(db, actor))
                self.owner_options = [
                    Option(str(u.id), u.name or u.email) for u in assignable_users(db, actor)
                ]
                self.owner = str(actor.user_id or "")
            self.day = self.day or datetime.now(zone).date().isoformat()
            self._reload()
        return call.events

    @event
    def set_span(self, span: str | list[str]) -> Events:
        self.span = span if isinstance(span, str) else (span[0] if span else "day")
        return AgendaState.load

    @event
    def set_owner(self, owner: str) -> Events:
        self.owner = owner
        return self.attempt(self._reload)

    @event
    def shift(self, days: int) -> Events:
        step = 7 if self.span == "week" else 1
        current = _parse_day(self.day)
        if current is not None:
            self.day = (current + timedelta(days=days * step)).isoformat()
        return self.attempt(self._reload)

    @event
    def today(self) -> Events:
        self.day = ""
        return AgendaState.load

    @event
    def mark_done(self, appointment_id: str) -> Events:
        with self._calling() as call:
            with self.db() as (db, actor):
                appointments.update_appointment(
                    db, actor, int(appointment_id), appointments.AppointmentUpdate(done=True)
                )
            self._reload()
        if call.failed:
            return call.events
        return rx.toast.success("Concluído.")


def item_row(item: ObjectVar[AgendaItem]) -> rx.Component:
    overdue = item.overdue
    return rx.table.row(
        rx.table.cell(rx.text(item.when, color=rx.cond(overdue, "red", "inherit"), weight="medium")),
        rx.table.cell(item.kind),
        rx.table.cell(item.title),
        rx.table.cell(
            rx.cond(item.customer_id != "", rx.link(item.customer, href=f"/clientes/{item.customer_id}"))
        ),
        rx.table.cell(
            rx.cond(
                overdue,
                rx.badge("Atrasado", color_scheme="red"),
                rx.cond(item.done, rx.badge("Concluído", color_scheme="green")),
            )
        ),
        rx.table.cell(
            rx.cond(
                ~item.done,
                rx.button("Concluir", size="1", variant="soft", on_click=AgendaState.mark_done(item.id)),
            )
        ),
        background=rx.cond(overdue, "var(--red-a2)", "transparent"),
    )


@page(
    "/agenda",
    "Agenda",
    permission=Perm.CUSTOMERS_READ,
    nav=("Agenda", "calendar-days", 20),
    on_load=AgendaState.load,
)
def agenda_page() -> rx.Component:
    s = AgendaState
    return rx.vstack(
        rx.hstack(
            rx.segmented_control.root(
                rx.segmented_control.item("Dia", value="day"),
                rx.segmented_control.item("Semana", value="week"),
                value=s.span,
                on_change=s.set_span,
            ),
            rx.icon_button(
                rx.icon("chevron-left"),
                variant="soft",
                on_click=s.shift(-1),
                id="agenda-prev",
                aria_label="Anterior",
            ),
            rx.button("Hoje", variant="soft", on_click=s.today, id="agenda-today"),
            rx.icon_button(
                rx.icon("chevron-right"),
                variant="soft",
                on_click=s.shift(1),
                id="agenda-next",
                aria_label="Próximo",
            ),
            rx.heading(s.title, size="4", as_="h2", id="agenda-title"),
            rx.spacer(),
            rx.select.root(
                rx.select.trigger(placeholder="Agenda de", aria_label="Agenda de"),
                rx.select.content(
                    rx.foreach(s.owner_options, lambda o: rx.select.item(o.label, value=o.value))
                ),
                value=s.owner,
                on_change=s.set_owner,
            ),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Quando", "Tipo", "Título", "Cliente", "Situação", "")
                    ]
                )
            ),
            rx.table.body(rx.foreach(s.items, item_row)),
            width="100%",
            id="agenda-table",
        ),
        rx.cond(
            array_var(s.items).length() == 0, rx.text("Nada agendado neste período.", color_scheme="gray")
        ),
        width="100%",
        spacing="4",
    )
