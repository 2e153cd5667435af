"""Sales Kanban (/kanban): one column per stage with count and total, cards with their next-step
hint, drag and drop (mouse and touch, components/kanban_dnd.py), a "Mover para…" menu on each card
(the keyboard path), the required-fields modal, and "Carregar mais" per column (next page by cursor).
Every move, dropped or picked, goes through app.crm.kanban.moves.move_card; the board only changes
after the server accepted it.
"""

from dataclasses import dataclass

import reflex as rx
from reflex.vars import ObjectVar

from app.auth.permissions import Perm
from app.crm import opportunities
from app.crm.kanban import board, moves, rules
from app.pages.base import Events, SessionState, event, page
from components.forms import field, form_error
from components.kanban_dnd import dnd_board, dnd_card, dnd_column
from components.types import Option, array_var


@dataclass
class CardView:
    id: str
    title: str
    customer: str
    customer_id: str
    value: str
    owner: str
    days: str
    hint: str
    tags: str


@dataclass
class ColumnView:
    stage_id: str
    name: str
    color: str
    count: str
    total: str
    cursor: str
    cards: list[CardView]
    card_ids: list[str]


def _card_view(c: board.Card) -> CardView:
    return CardView(
        id=str(c.id),
        title=c.title,
        customer=c.customer_name,
        customer_id=str(c.customer_id),
        value=c.value_label,
        owner=c.owner_name,
        days=f"{c.days_in_stage} d na etapa",
        hint=c.hint or "",
        tags=", ".join(c.tags),
    )


class KanbanState(SessionState):
    pipeline_id: str = ""
    pipelines: list[Option] = []
    stage_options: list[Option] = []
    q: str = ""
    columns: list[ColumnView] = []
    # The required-fields modal: the move waiting for them and which fields are missing.
    pending_card: str = ""
    pending_stage: str = ""
    pending_before: str = ""
    missing: list[str] = []
    modal_open: bool = False
    errors: dict[str, str] = {}
    error: str = ""

    def _filters(self) -> board.BoardFilter:
        return board.BoardFilter(q=self.q.strip() or None)

    def _reload(self) -> None:
        with self.db() as (db, actor):
            listed = opportunities.list_pipelines(db, actor)
            self.pipelines = [Option(str(p["id"]), str(p["name"])) for p in listed]
            if not self.pipeline_id and listed:
                self.pipeline_id = str(listed[0]["id"])
            if not self.pipeline_id.isdigit():
                return
            b = board.board(db, actor, int(self.pipeline_id), self._filters())
        self.stage_options = [Option(str(c.stage_id), c.name) for c in b.columns]
        self.columns = [
            ColumnView(
                stage_id=str(c.stage_id),
                name=c.name,
                color=c.color,
                count=str(c.count),
                total=c.total_label,
                cursor=c.next_cursor or "",
                cards=[_card_view(card) for card in c.cards],
                card_ids=[str(card.id) for card in c.cards],
            )
            for c in b.columns
        ]

    @event
    def load(self) -> Events:
        return self.attempt(self._reload)

    @event
    def set_pipeline(self, pipeline_id: str) -> Events:
        self.pipeline_id = pipeline_id
        return self.attempt(self._reload)

    @event
    def search(self, form: dict[str, str]) -> Events:
        self.q = str(form.get("q", ""))[:120]
        return self.attempt(self._reload)

    @event
    def load_more(self, stage_id: str) -> Events:
        column = next((c for c in self.columns if c.stage_id == stage_id), None)
        if column is None or not column.cursor or not self.pipeline_id.isdigit():
            return None
        with self._calling() as call, self.db() as (db, actor):
            cards, cursor = board.column_page(
                db, actor, int(self.pipeline_id), int(stage_id), column.cursor, self._filters()
            )
        if call.failed:
            return call.events
        column.cards = column.cards + [_card_view(c) for c in cards]
        column.card_ids = column.card_ids + [str(c.id) for c in cards]
        column.cursor = cursor or ""
        self.columns = list(self.columns)
        return None

    def _move(self, card_id: str, stage_id: str, before_id: str, fields: moves.MoveFields | None) -> Events:
        self.errors, self.error = {}, ""
        if not (card_id.isdigit() and stage_id.isdigit() and (before_id == "" or before_id.isdigit())):
            return rx.toast.error("Movimento inválido.")
        before = int(before_id) if before_id else None
        with self._calling(fields="errors") as call, self.db() as (db, actor):
            moves.move_card(db, actor, int(card_id), stage_id=int(stage_id), before_id=before, fields=fields)
        if call.failed:
            if self.errors and set(self.errors) <= set(rules.REQUIRABLE):
                # The stage needs fields the card lacks: ask for them, then complete the move where
                # the card was dropped.
                self.pending_card, self.pending_stage, self.pending_before = card_id, stage_id, before_id
                self.missing = [f for f in rules.REQUIRABLE if f in self.errors]
                self.modal_open = True
                return None
            message = "; ".join(self.errors.values())
            self.errors = {}
            return call.events or [rx.toast.error(message)]
        self.modal_open = False
        self._reload()
        return rx.toast.success("Cartão movido.")

    @event
    def move(self, card_id: str, stage_id: str) -> Events:
        return self._move(card_id, stage_id, "", None)

    @event
    def drop(self, card_id: str, stage_id: str, before_id: str) -> Events:
        """A drag and drop: the card goes before `before_id` ("" = the column's end) of `stage_id`."""
        return self._move(str(card_id), str(stage_id), str(before_id or ""), None)

    @event
    def complete_move(self, form: dict[str, str]) -> Events:
        data = {k: v for k, v in form.items() if k in rules.REQUIRABLE and str(v).strip()}
        if "value" in data:
            data["value"] = data["value"].replace(".", "").replace(",", ".")
        with self._calling(fields="errors") as call:
            fields = moves.MoveFields.model_validate(data)
        if call.failed:
            return call.events
        return self._move(self.pending_card, self.pending_stage, self.pending_before, fields)

    @event
    def set_modal(self, open_: bool) -> None:
        self.modal_open = open_
        self.errors = {}


def card_view(card: ObjectVar[CardView], stage_id: rx.Var[str]) -> rx.Component:
    s = KanbanState
    return dnd_card(
        rx.card(
            rx.vstack(
                rx.link(rx.text(card.customer, weight="bold"), href=f"/clientes/{card.customer_id}"),
                rx.text(card.title, size="2"),
                rx.hstack(
                    rx.badge(card.value, color_scheme="green"),
                    rx.text(card.days, size="1", color_scheme="gray"),
                    rx.spacer(),
                    rx.cond(card.owner != "", rx.avatar(fallback=card.owner.to(str)[:2], size="1")),
                    width="100%",
                    align="center",
                ),
                rx.cond(card.tags != "", rx.text(card.tags, size="1", color_scheme="purple")),
                rx.cond(
                    card.hint != "",
                    rx.text(card.hint, size="1", color_scheme="amber", class_name="card-hint"),
                ),
                rx.menu.root(
                    rx.menu.trigger(
                        rx.button(
                            "Mover para…",
                            size="1",
                            variant="soft",
                            id=f"move-{card.id}",
                            class_name="move-to",
                        )
                    ),
                    rx.menu.content(
                        rx.foreach(
                            s.stage_options,
                            lambda o: rx.menu.item(o.label, on_select=s.move(card.id, o.value)),
                        )
                    ),
                ),
                spacing="1",
                width="100%",
            ),
            width="100%",
            id=f"card-{card.id}",
            class_name="kanban-card",
            custom_attrs={"data-card": card.id},
        ),
        card_id=card.id,
        stage_id=stage_id,
        width="100%",
    )


def column_view(column: ObjectVar[ColumnView]) -> rx.Component:
    return dnd_column(
        rx.vstack(
            rx.hstack(
                rx.badge(column.name, color_scheme="gray", size="2"),
                rx.text(column.count, size="2", class_name="column-count"),
                rx.spacer(),
                rx.text(column.total, size="2", weight="medium", class_name="column-total"),
                width="100%",
                align="center",
            ),
            rx.foreach(column.cards, lambda card: card_view(card, column.stage_id)),
            rx.cond(
                column.cursor != "",
                rx.button(
                    "Carregar mais",
                    size="1",
                    variant="ghost",
                    on_click=KanbanState.load_more(column.stage_id),
                ),
            ),
            min_width="260px",
            width="260px",
            padding="8px",
            background="var(--gray-a2)",
            border_radius="8px",
            min_height="160px",
            id=f"column-{column.stage_id}",
            class_name="kanban-column",
            custom_attrs={"data-stage-name": column.name},
        ),
        stage_id=column.stage_id,
        card_ids=column.card_ids,
    )


def required_modal() -> rx.Component:
    s = KanbanState
    e = s.errors
    missing = array_var(s.missing)
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Complete os dados para mover"),
            rx.form(
                rx.vstack(
                    rx.cond(missing.contains("value"), field("Valor (R$)", "value", e.get("value", ""))),
                    rx.cond(
                        missing.contains("expected_close"),
                        field(
                            "Previsão de fechamento",
                            "expected_close",
                            e.get("expected_close", ""),
                            type="date",
                        ),
                    ),
                    rx.cond(
                        missing.contains("loss_reason"),
                        field("Motivo da perda", "loss_reason", e.get("loss_reason", "")),
                    ),
                    form_error(s.error),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancelar", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Mover", type="submit", id="complete-move"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=s.complete_move,
                reset_on_submit=False,
            ),
        ),
        open=s.modal_open,
        on_open_change=s.set_modal,
    )


@page(
    "/kanban",
    "Kanban de vendas",
    permission=Perm.CUSTOMERS_READ,
    nav=("Kanban", "square-kanban", 15),
    on_load=KanbanState.load,
)
def kanban_page() -> rx.Component:
    s = KanbanState
    return rx.vstack(
        rx.hstack(
            rx.select.root(
                rx.select.trigger(placeholder="Funil", id="kanban-pipeline", aria_label="Funil"),
                rx.select.content(rx.foreach(s.pipelines, lambda o: rx.select.item(o.label, value=o.value))),
                value=s.pipeline_id,
                on_change=s.set_pipeline,
            ),
            rx.form(
                rx.hstack(
                    rx.input(name="q", placeholder="Buscar cliente", id="kanban-search", default_value=s.q),
                    rx.button("Filtrar", type="submit", variant="soft"),
                ),
                on_submit=s.search,
                reset_on_submit=False,
            ),
            width="100%",
            align="center",
        ),
        dnd_board(
            # A plain element inside the drag context carries the region's name and focus.
            rx.hstack(
                rx.foreach(s.columns, column_view),
                align="start",
                spacing="3",
                overflow_x="auto",
                width="100%",
                # A scrolling region must be reachable by keyboard (arrow keys scroll it once focused).
                tab_index=0,
                role="region",
                aria_label="Quadro do funil",
                id="kanban-board",
            ),
            on_move=s.drop,
            width="100%",
        ),
        required_modal(),
        width="100%",
        spacing="4",
    )
