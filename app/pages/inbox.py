"""Inbox ("Conversas"): the conversations the actor may see, by status and assignee, newest first; it
refreshes live when a message arrives or a status moves (the inbox's live revision)."""

import asyncio
import uuid
from dataclasses import dataclass

import reflex as rx

from app import live
from app.auth.permissions import Perm
from app.crm import conversations
from app.formatting import datetime_br
from app.messaging import inbound
from app.pages.base import Events, SessionState, event, page
from components.types import Option, array_var

WATCH_EVERY_S = 2.0
WATCH_ROUNDS = 1_800
ANY = "all"
STATUS_OPTIONS = [Option(ANY, "Todas"), *[Option(k, v) for k, v in conversations.STATUSES.items()]]
CHANNELS = {"whatsapp": "WhatsApp", "email": "E-mail"}


@dataclass
class InboxRow:
    id: str
    customer_id: str
    customer: str
    channel: str
    status: str
    queue: str
    assignee: str
    unread: str
    last: str


class InboxState(SessionState):
    rows: list[InboxRow] = []
    status: str = "open"
    mine: bool = False
    _schema: str = ""
    _seen_revision: int = 0
    _watch_id: str = ""

    def _reload(self) -> None:
        with self.db() as (db, actor):
            self._schema = actor.schema or ""
            self._seen_revision = live.revision(self._schema, inbound.NAMESPACE_INBOX, "all")
            found = conversations.list_conversations(
                db, actor, status=None if self.status == ANY else self.status, mine=self.mine, limit=200
            )
            names = {u.id: u.name or u.email for u in conversations.assignees(db, actor, found)}
            tz = actor.time_zone
        self.rows = [
            InboxRow(
                id=str(c.id),
                customer_id=str(c.customer_id),
                customer=c.customer_name,
                channel=CHANNELS.get(c.channel, c.channel),
                status=conversations.STATUSES.get(c.status, c.status),
                queue=c.queue or "",
                assignee=names.get(c.assignee_id or 0, "—"),
                unread=str(c.unread_count) if c.unread_count else "",
                last=datetime_br(c.last_message_at, tz) if c.last_message_at else "",
            )
            for c in found
        ]

    @event
    def load(self) -> Events:
        return self.attempt(self._reload) or InboxState.watch

    @event
    def set_status(self, status: str) -> Events:
        self.status = status
        return self.attempt(self._reload)

    @event
    def set_mine(self, mine: bool) -> Events:
        self.mine = mine
        return self.attempt(self._reload)

    @event(background=True)
    async def watch(self) -> None:
        """Poll the inbox revision (no database read) and re-read the list when it moved."""
        mine = uuid.uuid4().hex
        async with self:
            self._watch_id = mine
        for _ in range(WATCH_ROUNDS):
            await asyncio.sleep(WATCH_EVERY_S)
            async with self:
                if self._watch_id != mine or self.router.url.path.rstrip("/") != "/conversas":
                    return
                current = live.revision(self._schema, inbound.NAMESPACE_INBOX, "all")
                if current == self._seen_revision or current < 0:
                    continue
                with self._calling(quiet=True) as call:
                    self._reload()
                if call.failed:
                    return


def _row(r: InboxRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(r.customer, href=f"/clientes/{r.customer_id}")),
        rx.table.cell(rx.badge(r.channel, variant="soft")),
        rx.table.cell(rx.text(r.status, size="2")),
        rx.table.cell(rx.text(r.queue, size="2")),
        rx.table.cell(rx.text(r.assignee, size="2")),
        rx.table.cell(rx.cond(r.unread != "", rx.badge(r.unread, color_scheme="red"))),
        rx.table.cell(rx.text(r.last, size="2", color_scheme="gray")),
        class_name="inbox-row",
    )


@page(
    "/conversas",
    "Conversas",
    permission=Perm.CUSTOMERS_READ,
    nav=("Conversas", "messages-square", 12),
    on_load=InboxState.load,
)
def inbox_page() -> rx.Component:
    s = InboxState
    return rx.vstack(
        rx.hstack(
            rx.select.root(
                rx.select.trigger(aria_label="Status", id="inbox-status"),
                rx.select.content(*[rx.select.item(o.label, value=o.value) for o in STATUS_OPTIONS]),
                value=s.status,
                on_change=s.set_status,
            ),
            rx.hstack(
                rx.switch(checked=s.mine, on_change=s.set_mine, id="inbox-mine"),
                rx.text("Só as minhas", size="2"),
            ),
            spacing="4",
            align="center",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in (
                            "Cliente",
                            "Canal",
                            "Status",
                            "Fila",
                            "Responsável",
                            "Não lidas",
                            "Última mensagem",
                        )
                    ]
                )
            ),
            rx.table.body(rx.foreach(s.rows, _row)),
            variant="surface",
            width="100%",
            id="inbox-table",
        ),
        rx.cond(array_var(s.rows).length() == 0, rx.text("Nenhuma conversa.", color_scheme="gray", size="2")),
        width="100%",
        spacing="4",
    )
