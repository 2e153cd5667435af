"""Home ("Início"): my open conversations, today's follow-ups (overdue highlighted), unread reminders,
recent customers."""

from dataclasses import dataclass

import reflex as rx
from reflex.vars import ObjectVar

from app.crm import first_steps, notifications
from app.crm import home as home_service
from app.crm.customers import STATUSES
from app.formatting import datetime_br, label
from app.pages.base import Events, SessionState, event, page
from components.theme import PRIMARY

CHANNELS = {"whatsapp": "WhatsApp", "email": "E-mail"}


@dataclass
class ConversationItem:
    id: str
    customer_id: str
    customer: str
    channel: str
    subject: str
    at: str


@dataclass
class AgendaItem:
    id: str
    customer_id: str
    customer: str
    title: str
    time: str
    overdue: bool


@dataclass
class ReminderItem:
    id: str
    title: str
    body: str


@dataclass
class StepItem:
    key: str
    label: str
    done: bool
    href: str
    hint: str


@dataclass
class RecentItem:
    id: str
    name: str
    status: str
    at: str


class HomeState(SessionState):
    conversations: list[ConversationItem] = []
    agenda: list[AgendaItem] = []
    reminders: list[ReminderItem] = []
    recent: list[RecentItem] = []
    counts: dict[str, int] = {}
    steps: list[StepItem] = []
    steps_label: str = ""

    @event
    def load(self) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            data = home_service.home(db, actor)
            tz = actor.time_zone
        if call.failed:
            return call.events
        self.conversations = [
            ConversationItem(
                id=str(c.id),
                customer_id=str(c.customer_id),
                customer=c.customer_name,
                channel=CHANNELS.get(c.channel, c.channel),
                subject=c.subject or "",
                at=datetime_br(c.last_message_at, tz),
            )
            for c in data.conversations
        ]
        self.agenda = [
            AgendaItem(
                id=str(a.id),
                customer_id=str(a.customer_id or ""),
                customer=a.customer_name or "",
                title=a.title,
                time=a.starts_local.strftime("%H:%M"),
                overdue=bool(a.overdue),
            )
            for a in data.agenda
        ]
        self.reminders = [ReminderItem(id=str(n.id), title=n.title, body=n.body) for n in data.reminders]
        self.recent = [
            RecentItem(
                id=str(r.id),
                name=r.name,
                status=label(r.status, STATUSES),
                at=datetime_br(r.touched_at, tz),
            )
            for r in data.recent
        ]
        self.counts = {k: int(v) for k, v in data.counts.items()}
        checklist = data.first_steps
        self.steps = [StepItem(**s.model_dump()) for s in checklist.steps] if checklist else []
        self.steps_label = f"{checklist.done} de {checklist.total} concluídos" if checklist else ""
        return None

    @event
    def dismiss_steps(self) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            first_steps.dismiss(db, actor)
        if call.failed:
            return call.events
        self.steps, self.steps_label = [], ""
        return rx.toast.success("Primeiros passos ocultados.")

    @event
    def open_reminder(self, notification_id: str) -> Events:
        """Mark the reminder read and open what it points to (the customer, or the agenda)."""
        if not notification_id.isdigit():
            return None
        with self._calling() as call, self.db() as (db, actor):
            link = notifications.open_link(db, actor, int(notification_id))
        if call.failed:
            return call.events
        self.reminders = [r for r in self.reminders if r.id != notification_id]
        return rx.redirect(link) if link else None


def panel(title: str, icon: str, body: rx.Component, id_: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon(icon, color=PRIMARY, size=20), rx.heading(title, size="4", as_="h2"), align="center"
            ),
            body,
            spacing="3",
            width="100%",
        ),
        width="100%",
        id=id_,
    )


def empty(text: str) -> rx.Component:
    return rx.text(text, color_scheme="gray", size="2")


def conversation_item(c: ObjectVar[ConversationItem]) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.badge(c.channel),
            rx.text(c.customer, weight="medium"),
            rx.text(c.subject, color_scheme="gray", size="2"),
            rx.spacer(),
            rx.text(c.at, size="1", color_scheme="gray"),
            width="100%",
            align="center",
        ),
        href=f"/clientes/{c.customer_id}",
        underline="none",
        width="100%",
    )


def agenda_item(a: ObjectVar[AgendaItem]) -> rx.Component:
    overdue = a.overdue
    return rx.hstack(
        rx.text(a.time, weight="bold", color=rx.cond(overdue, "var(--red-11)", "inherit")),
        rx.text(a.title),
        rx.link(a.customer, href=f"/clientes/{a.customer_id}", size="2"),
        rx.spacer(),
        rx.cond(overdue, rx.badge("Atrasado", color_scheme="red")),
        width="100%",
        align="center",
    )


def reminder_item(r: ObjectVar[ReminderItem]) -> rx.Component:
    return rx.hstack(
        rx.icon("bell-ring", size=16, color=PRIMARY),
        rx.vstack(
            rx.text(r.title, weight="medium", size="2"),
            rx.text(r.body, size="1", color_scheme="gray"),
            spacing="0",
            align="start",
        ),
        on_click=HomeState.open_reminder(r.id),
        cursor="pointer",
        width="100%",
        align="start",
        class_name="home-reminder",
    )


def step_item(s: ObjectVar[StepItem]) -> rx.Component:
    return rx.hstack(
        rx.cond(
            s.done,
            rx.icon("circle-check", color="var(--green-11)", size=20, aria_label="Concluído"),
            rx.icon("circle", color="var(--gray-9)", size=20, aria_label="Pendente"),
        ),
        rx.vstack(
            rx.link(s.label, href=s.href, weight="medium", size="2"),
            rx.text(s.hint, size="1", color_scheme="gray"),
            spacing="0",
            align="start",
        ),
        align="start",
        width="100%",
        class_name=rx.cond(s.done, "first-step first-step-done", "first-step"),
        custom_attrs={"data-step": s.key},
    )


def first_steps_panel() -> rx.Component:
    return rx.cond(
        HomeState.steps,
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("rocket", color=PRIMARY, size=20),
                    rx.heading("Primeiros passos", size="4", as_="h2"),
                    rx.badge(HomeState.steps_label, variant="soft", id="first-steps-count"),
                    rx.spacer(),
                    rx.button(
                        "Ocultar",
                        variant="ghost",
                        size="1",
                        on_click=HomeState.dismiss_steps,
                        id="first-steps-dismiss",
                    ),
                    align="center",
                    width="100%",
                ),
                rx.grid(
                    rx.foreach(HomeState.steps, step_item),
                    columns=rx.breakpoints(initial="1", md="2", xl="4"),
                    spacing="3",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            width="100%",
            id="first-steps",
        ),
    )


def recent_item(r: ObjectVar[RecentItem]) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.text(r.name),
            rx.badge(r.status, variant="soft"),
            rx.spacer(),
            rx.text(r.at, size="1", color_scheme="gray"),
            width="100%",
            align="center",
        ),
        href=f"/clientes/{r.id}",
        underline="none",
        width="100%",
    )


@page("/inicio", "Início", nav=("Início", "house", 0), on_load=HomeState.load)
def home_page() -> rx.Component:
    return rx.vstack(
        rx.heading(rx.text("Olá, ", SessionState.user_name, "!"), size="5", as_="h2", id="welcome"),
        first_steps_panel(),
        rx.grid(
            panel(
                "Minhas conversas abertas",
                "message-circle",
                rx.cond(
                    HomeState.conversations,
                    rx.vstack(rx.foreach(HomeState.conversations, conversation_item), width="100%"),
                    empty("Nenhuma conversa aberta."),
                ),
                "home-conversations",
            ),
            panel(
                "Follow-ups de hoje",
                "calendar-clock",
                rx.cond(
                    HomeState.agenda,
                    rx.vstack(rx.foreach(HomeState.agenda, agenda_item), width="100%"),
                    empty("Nada agendado para hoje."),
                ),
                "home-agenda",
            ),
            panel(
                "Lembretes",
                "bell-ring",
                rx.cond(
                    HomeState.reminders,
                    rx.vstack(rx.foreach(HomeState.reminders, reminder_item), width="100%"),
                    empty("Nenhum lembrete pendente."),
                ),
                "home-reminders",
            ),
            panel(
                "Clientes recentes",
                "history",
                rx.cond(
                    HomeState.recent,
                    rx.vstack(rx.foreach(HomeState.recent, recent_item), width="100%"),
                    empty("Você ainda não interagiu com clientes."),
                ),
                "home-recent",
            ),
            columns=rx.breakpoints(initial="1", lg="2", xl="4"),
            spacing="4",
            width="100%",
        ),
        spacing="5",
        width="100%",
    )
