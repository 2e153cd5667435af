"""Sales Kanban (/kanban): one column per stage with count and total, cards with their next-step
hint, drag and drop (mouse and touch, components/kanban_dnd.py), a "Mover para…" menu on each card
(the keyboard path), the required-fields modal, and "Carregar mais" per column (next page by cursor).
Every move, dropped or picked, goes through app.crm.kanban.moves.move_card; the board only changes
after the server accepted it.
"""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import InvalidOperation
from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import appointments, notes, opportunities, preferences, tags
from app.crm.kanban import board, live, moves, rules
from app.crm.visibility import assignable_users, get_visible_customer
from app.formatting import money_from_br
from app.pages.base import Events, SessionState, event, page
from components.forms import field, form_error
from components.kanban_dnd import dnd_board, dnd_card, dnd_column
from components.modal_form import options_field, textarea_field
from components.types import Option, StateVar, array_var

# A select's "no filter" choice (Radix selects take no empty value).
ALL = "all"
# Live update: how often an open board polls its pipeline's revision, and for how long (a closed tab's
# watcher also ends then; a reload starts a new one and the old one stops at its next round).
WATCH_EVERY_S = 2.0
WATCH_ROUNDS = 1_800


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
    # The filter bar, stored per user (app.crm.preferences, "kanban.filters").
    f_owner: str = ALL
    f_stage: str = ALL
    f_tag: str = ALL
    f_value_min: str = ""
    f_value_max: str = ""
    f_close_from: str = ""
    f_close_to: str = ""
    filter_key: int = 0
    # Live update (backend only): what the shown board was read at, and which watcher is this tab's.
    _schema: str = ""
    _seen_revision: int = 0
    _watch_id: str = ""
    owner_filter_options: list[Option] = []
    stage_filter_options: list[Option] = []
    tag_options: list[Option] = []
    # The required-fields modal: the move waiting for them and which fields are missing.
    pending_card: str = ""
    pending_stage: str = ""
    pending_before: str = ""
    missing: list[str] = []
    modal_open: bool = False
    errors: dict[str, str] = {}
    error: str = ""
    # The card details modal (one per page; its fields' ids differ from the required-fields modal's).
    detail_open: bool = False
    detail_id: str = ""
    detail_title: str = ""
    detail_value: str = ""
    detail_close: str = ""
    detail_owner: str = ""
    detail_customer: str = ""
    detail_customer_id: str = ""
    detail_errors: dict[str, str] = {}
    detail_error: str = ""
    owner_options: list[Option] = []
    transfer_options: list[Option] = []

    def _filters(self, actor: Actor) -> board.BoardFilter:
        """The filter bar as the board service's filter (values were checked when they were applied)."""
        f = {k: str(v) for k, v in self._saved_filters().items() if v}
        owner = f.get("owner", ALL)
        try:
            return board.BoardFilter(
                q=f.get("q", "").strip() or None,
                owner_id=actor.user_id if owner == "me" else (int(owner) if owner.isdigit() else None),
                team=owner == "team",
                stage_id=int(f["stage"]) if f.get("stage", "").isdigit() else None,
                tag_id=int(f["tag"]) if f.get("tag", "").isdigit() else None,
                value_min=money_from_br(f["value_min"]) if "value_min" in f else None,
                value_max=money_from_br(f["value_max"]) if "value_max" in f else None,
                close_from=date.fromisoformat(f["close_from"]) if "close_from" in f else None,
                close_to=date.fromisoformat(f["close_to"]) if "close_to" in f else None,
            )
        except (ValueError, InvalidOperation):
            return board.BoardFilter()

    def _saved_filters(self) -> dict[str, str]:
        """What the filter bar holds, as it is stored in the user's preferences."""
        values = {
            "pipeline": self.pipeline_id,
            "q": self.q,
            "owner": self.f_owner,
            "stage": self.f_stage,
            "tag": self.f_tag,
            "value_min": self.f_value_min,
            "value_max": self.f_value_max,
            "close_from": self.f_close_from,
            "close_to": self.f_close_to,
        }
        return {k: v for k, v in values.items() if v and v != ALL}

    def _restore_filters(self, saved: dict[str, object]) -> None:
        text = {k: str(v)[:120] for k, v in saved.items() if isinstance(v, str | int)}
        self.pipeline_id = text.get("pipeline", self.pipeline_id)
        self.q = text.get("q", "")
        self.f_owner = text.get("owner", ALL)
        self.f_stage = text.get("stage", ALL)
        self.f_tag = text.get("tag", ALL)
        self.f_value_min = text.get("value_min", "")
        self.f_value_max = text.get("value_max", "")
        self.f_close_from = text.get("close_from", "")
        self.f_close_to = text.get("close_to", "")
        self.filter_key += 1  # the bar's inputs are uncontrolled: remount them with these values

    def _reload(self, *, restore: bool = False, save: bool = False) -> None:
        with self.db() as (db, actor):
            if restore:
                self._restore_filters(preferences.get(db, actor, preferences.KANBAN_FILTERS))
                users = assignable_users(db, actor)
                self.owner_filter_options = [
                    Option(ALL, "Todos os responsáveis"),
                    Option("me", "Meus cartões"),
                    Option("team", "Minha equipe"),
                    *[Option(str(u.id), u.name or u.email) for u in users],
                ]
                self.tag_options = [
                    Option(ALL, "Todas as etiquetas"),
                    *[Option(str(t.id), t.name) for t in tags.list_tags(db, actor)],
                ]
            listed = opportunities.list_pipelines(db, actor)
            self.pipelines = [Option(str(p["id"]), str(p["name"])) for p in listed]
            if listed and self.pipeline_id not in {str(p["id"]) for p in listed}:
                self.pipeline_id = str(listed[0]["id"])
            if not self.pipeline_id.isdigit():
                return
            if save:
                preferences.save(db, actor, preferences.KANBAN_FILTERS, self._saved_filters())
            # Read before the board: a change landing in between makes the watcher read it again.
            self._schema = actor.schema or ""
            self._seen_revision = live.revision(self._schema, int(self.pipeline_id))
            b = board.board(db, actor, int(self.pipeline_id), self._filters(actor))
        self.stage_options = [Option(str(c.stage_id), c.name) for c in b.columns]
        self.stage_filter_options = [Option(ALL, "Todas as etapas"), *self.stage_options]
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
        return self.attempt(lambda: self._reload(restore=True)) or KanbanState.watch

    @event(background=True)
    async def watch(self) -> None:
        """Other people's changes without a reload: poll the shown pipeline's revision (no database
        read) and re-read the board when it moved. One watcher per tab; it ends when the tab leaves
        /kanban, loads it again (a newer watcher), or after WATCH_ROUNDS."""
        mine = uuid.uuid4().hex
        async with self:
            self._watch_id = mine
        for _ in range(WATCH_ROUNDS):
            await asyncio.sleep(WATCH_EVERY_S)
            async with self:
                if self._watch_id != mine or self.router.url.path.rstrip("/") != "/kanban":
                    return
                if not (self._schema and self.pipeline_id.isdigit()):
                    continue
                current = live.revision(self._schema, int(self.pipeline_id))
                if current == self._seen_revision or current < 0:
                    continue
                with self._calling(quiet=True) as call:
                    self._reload()
                if call.failed:
                    return

    @event
    def set_pipeline(self, pipeline_id: str) -> Events:
        self.pipeline_id = pipeline_id
        self.f_stage = ALL  # a stage of the other pipeline
        self.filter_key += 1
        return self.attempt(lambda: self._reload(save=True))

    @event
    def apply_filters(self, form: dict[str, str]) -> Events:
        """The filter bar: checked here (pt-BR toast), stored in the user's preferences, then applied."""
        f = {k: str(v or "").strip() for k, v in form.items()}
        problems = []
        for key in ("f_value_min", "f_value_max"):
            try:
                if f.get(key) and money_from_br(f[key]) < 0:
                    raise InvalidOperation
            except InvalidOperation:
                problems.append("Informe valores válidos (ex.: 1.234,56).")
        for key in ("f_close_from", "f_close_to"):
            try:
                if f.get(key):
                    date.fromisoformat(f[key])
            except ValueError:
                problems.append("Informe datas válidas.")
        if problems:
            return rx.toast.error(" ".join(dict.fromkeys(problems)))
        self.q = f.get("q", "")[:120]
        self.f_owner = f.get("f_owner") or ALL
        self.f_stage = f.get("f_stage") or ALL
        self.f_tag = f.get("f_tag") or ALL
        self.f_value_min, self.f_value_max = f.get("f_value_min", ""), f.get("f_value_max", "")
        self.f_close_from, self.f_close_to = f.get("f_close_from", ""), f.get("f_close_to", "")
        return self.attempt(lambda: self._reload(save=True))

    @event
    def clear_filters(self) -> Events:
        self._restore_filters({"pipeline": self.pipeline_id})
        return self.attempt(lambda: self._reload(save=True))

    @event
    def load_more(self, stage_id: str) -> Events:
        column = next((c for c in self.columns if c.stage_id == stage_id), None)
        if column is None or not column.cursor or not self.pipeline_id.isdigit():
            return None
        with self._calling() as call, self.db() as (db, actor):
            cards, cursor = board.column_page(
                db, actor, int(self.pipeline_id), int(stage_id), column.cursor, self._filters(actor)
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
                if "owner_id" in self.missing:
                    # The same users the details modal offers ("Responsável").
                    with self._calling() as listing, self.db() as (db, actor):
                        owners = assignable_users(db, actor)
                    if listing.failed:
                        return listing.events
                    self.owner_options = [Option(str(u.id), u.name or u.email) for u in owners]
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
        # The modal shows only the missing fields: the hidden ones arrive as None (not "None").
        data = {
            k: str(v) for k, v in form.items() if k in rules.REQUIRABLE and v is not None and str(v).strip()
        }
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

    # ---- card details: edit, won/lost, note, task, another pipeline ---------------------------
    def _load_details(self, card_id: int) -> None:
        with self.db() as (db, actor):
            card = opportunities.get_opportunity(db, actor, card_id)
            customer = get_visible_customer(db, actor, card.customer_id)
            owners = assignable_users(db, actor)
            listed = opportunities.list_pipelines(db, actor)
        self.detail_id = str(card.id)
        self.detail_title = card.title
        self.detail_value = f"{card.value:.2f}".replace(".", ",")
        self.detail_close = card.expected_close.isoformat() if card.expected_close else ""
        self.detail_owner = str(card.owner_id or "")
        self.detail_customer = customer.name
        self.detail_customer_id = str(customer.id)
        self.owner_options = [Option(str(u.id), u.name or u.email) for u in owners]
        self.transfer_options = [
            Option(str(st["id"]), f"{p['name']} › {st['name']}")
            for p in listed
            if p["id"] != card.pipeline_id
            for st in p["stages"]  # type: ignore[attr-defined]
        ]

    @event
    def open_details(self, card_id: str) -> Events:
        if not str(card_id).isdigit():
            return None
        self.detail_errors, self.detail_error = {}, ""
        with self._calling() as call:
            self._load_details(int(card_id))
        if call.failed:
            return call.events
        self.detail_open = True
        return None

    @event
    def set_detail_open(self, open_: bool) -> None:
        self.detail_open = open_
        self.detail_errors, self.detail_error = {}, ""

    @event
    def save_details(self, form: dict[str, str]) -> Events:
        self.detail_errors, self.detail_error = {}, ""
        try:
            value = money_from_br(str(form.get("detail_value", "")))
        except InvalidOperation:
            self.detail_errors = {"detail_value": "Informe um valor válido (ex.: 1.234,56)."}
            return None
        data: dict[str, object] = {
            "title": str(form.get("detail_title", "")),
            "value": value,
            "expected_close": str(form.get("detail_close", "")).strip() or None,
        }
        if str(form.get("detail_owner", "")).strip():
            data["owner_id"] = form["detail_owner"]
        rename = {
            "title": "detail_title",
            "value": "detail_value",
            "expected_close": "detail_close",
            "owner_id": "detail_owner",
        }
        with (
            self._calling(fields="detail_errors", rename=rename, message="detail_error") as call,
            self.db() as (db, actor),
        ):
            changes = opportunities.OpportunityUpdate.model_validate(data)
            opportunities.update_opportunity(db, actor, int(self.detail_id), changes)
        if call.failed:
            return call.events
        self.detail_open = False
        self._reload()
        return rx.toast.success("Cartão atualizado.")

    @event
    def mark(self, outcome: str) -> Events:
        """Ganho/perdido: a move to the pipeline's won/lost stage (a missing loss reason is asked by
        the required-fields modal)."""
        with self._calling() as call, self.db() as (db, actor):
            stage_id = moves.outcome_stage(db, actor, int(self.detail_id or 0), str(outcome))
        if call.failed:
            return call.events
        self.detail_open = False
        return self._move(self.detail_id, str(stage_id), "", None)

    @event
    def transfer(self, form: dict[str, str]) -> Events:
        """Another pipeline: a move to one of its stages (pipeline_id follows the stage)."""
        stage_id = str(form.get("transfer_stage", ""))
        if not stage_id.isdigit():
            self.detail_errors = {"transfer_stage": "Escolha o funil e a etapa."}
            return None
        self.detail_open = False
        return self._move(self.detail_id, stage_id, "", None)

    @event
    def add_note(self, form: dict[str, str]) -> Events:
        self.detail_errors, self.detail_error = {}, ""
        with (
            self._calling(
                fields="detail_errors", rename={"body": "card_note"}, message="detail_error"
            ) as call,
            self.db() as (db, actor),
        ):
            body = notes.NoteIn(body=str(form.get("card_note", "")))
            notes.add_note(db, actor, int(self.detail_customer_id or 0), body)
        if call.failed:
            return call.events
        return rx.toast.success("Nota adicionada ao cliente.")

    @event
    def add_task(self, form: dict[str, str]) -> Events:
        """A task on the agenda for the card's customer (a timeline entry too)."""
        self.detail_errors, self.detail_error = {}, ""
        try:
            starts = datetime.fromisoformat(f"{form.get('task_date', '')}T{form.get('task_time') or '09:00'}")
        except ValueError:
            self.detail_errors = {"task_date": "Informe data e hora válidas."}
            return None
        rename = {"title": "task_title", "starts_local": "task_date"}
        with (
            self._calling(fields="detail_errors", rename=rename, message="detail_error") as call,
            self.db() as (db, actor),
        ):
            appointments.create_appointment(
                db,
                actor,
                appointments.AppointmentIn(
                    customer_id=int(self.detail_customer_id or 0),
                    title=str(form.get("task_title", "")).strip() or f"Retorno: {self.detail_title}",
                    description=f"Oportunidade: {self.detail_title}",
                    kind="task",
                    starts_local=starts,
                ),
            )
        if call.failed:
            return call.events
        return rx.toast.success("Tarefa criada na agenda.")


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
                rx.hstack(
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
                    rx.button(
                        "Detalhes",
                        size="1",
                        variant="ghost",
                        id=f"details-{card.id}",
                        on_click=s.open_details(card.id),
                    ),
                    spacing="3",
                    align="center",
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
                        missing.contains("owner_id"),
                        options_field("Responsável", "owner_id", s.owner_options, e.get("owner_id", "")),
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


def details_modal() -> rx.Component:
    """One modal for the card picked with "Detalhes": edit, ganho/perdido, note, task, other pipeline."""
    s = KanbanState
    e = s.detail_errors
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(s.detail_title),
            rx.link(
                s.detail_customer,
                " — abrir perfil do cliente",
                href=f"/clientes/{s.detail_customer_id}",
                id="detail-customer-link",
            ),
            rx.form(
                rx.vstack(
                    field("Título", "detail_title", e.get("detail_title", ""), default_value=s.detail_title),
                    rx.hstack(
                        field(
                            "Valor (R$)",
                            "detail_value",
                            e.get("detail_value", ""),
                            default_value=s.detail_value,
                        ),
                        field(
                            "Previsão de fechamento",
                            "detail_close",
                            e.get("detail_close", ""),
                            type="date",
                            default_value=s.detail_close,
                        ),
                        width="100%",
                    ),
                    options_field(
                        "Responsável",
                        "detail_owner",
                        s.owner_options,
                        e.get("detail_owner", ""),
                        s.detail_owner,
                    ),
                    form_error(s.detail_error),
                    rx.hstack(
                        rx.button(
                            "Marcar como ganho",
                            type="button",
                            color_scheme="green",
                            variant="soft",
                            id="mark-won",
                            on_click=s.mark("won"),
                        ),
                        rx.button(
                            "Marcar como perdido",
                            type="button",
                            color_scheme="red",
                            variant="soft",
                            id="mark-lost",
                            on_click=s.mark("lost"),
                        ),
                        rx.spacer(),
                        rx.button("Salvar", type="submit", id="detail-save"),
                        width="100%",
                        wrap="wrap",
                    ),
                    spacing="3",
                ),
                on_submit=s.save_details,
                reset_on_submit=False,
                no_validate=True,
                id="detail-form",
            ),
            rx.separator(margin_y="12px"),
            rx.form(
                rx.vstack(
                    textarea_field("Nota no cliente", "card_note", e.get("card_note", "")),
                    rx.button("Adicionar nota", type="submit", variant="soft", id="card-note-save"),
                    spacing="2",
                    align="end",
                ),
                on_submit=s.add_note,
                reset_on_submit=True,
                id="card-note-form",
            ),
            rx.separator(margin_y="12px"),
            rx.form(
                rx.vstack(
                    field("Tarefa", "task_title", e.get("task_title", ""), placeholder="Retorno"),
                    rx.hstack(
                        field("Data", "task_date", e.get("task_date", ""), type="date"),
                        field("Hora (seu fuso horário)", "task_time", type="time"),
                        width="100%",
                    ),
                    rx.button("Criar tarefa", type="submit", variant="soft", id="card-task-save"),
                    spacing="2",
                    align="end",
                ),
                on_submit=s.add_task,
                reset_on_submit=True,
                no_validate=True,
                id="card-task-form",
            ),
            rx.separator(margin_y="12px"),
            rx.form(
                rx.vstack(
                    options_field(
                        "Mover para outro funil",
                        "transfer_stage",
                        s.transfer_options,
                        e.get("transfer_stage", ""),
                    ),
                    rx.button("Mover de funil", type="submit", variant="soft", id="card-transfer-save"),
                    spacing="2",
                    align="end",
                ),
                on_submit=s.transfer,
                reset_on_submit=False,
                id="card-transfer-form",
            ),
            rx.hstack(
                rx.dialog.close(rx.button("Fechar", variant="soft", color_scheme="gray", type="button")),
                justify="end",
                width="100%",
                margin_top="12px",
            ),
            max_width="560px",
        ),
        open=s.detail_open,
        on_open_change=s.set_detail_open,
    )


def _filter_select(
    name: str, label: str, options: StateVar[list[Option]], value: StateVar[str]
) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=name, aria_label=label),
        rx.select.content(rx.foreach(options, lambda o: rx.select.item(o.label, value=o.value))),
        name=name,
        default_value=value,
    )


def _filter_input(name: str, label: str, value: StateVar[str], **props: Any) -> rx.Component:
    props.setdefault("id", name)
    return rx.input(name=name, aria_label=label, default_value=value, **props)


def filter_bar() -> rx.Component:
    """Customer name, owner (me / my team / a user), stage, tag, value range, expected-close range.
    Remembered per user; `key` remounts the uncontrolled inputs when stored values are restored."""
    s = KanbanState
    return rx.form(
        rx.hstack(
            _filter_input("q", "Buscar cliente", s.q, placeholder="Buscar cliente", id="kanban-search"),
            _filter_select("f_owner", "Responsável", s.owner_filter_options, s.f_owner),
            _filter_select("f_stage", "Etapa", s.stage_filter_options, s.f_stage),
            _filter_select("f_tag", "Etiqueta", s.tag_options, s.f_tag),
            _filter_input(
                "f_value_min", "Valor mínimo", s.f_value_min, placeholder="Valor mín.", width="110px"
            ),
            _filter_input(
                "f_value_max", "Valor máximo", s.f_value_max, placeholder="Valor máx.", width="110px"
            ),
            _filter_input("f_close_from", "Fechamento previsto de", s.f_close_from, type="date"),
            _filter_input("f_close_to", "Fechamento previsto até", s.f_close_to, type="date"),
            rx.button("Filtrar", type="submit", variant="soft", id="kanban-filter"),
            rx.button("Limpar", type="button", variant="ghost", id="kanban-clear", on_click=s.clear_filters),
            wrap="wrap",
            align="center",
        ),
        on_submit=s.apply_filters,
        reset_on_submit=False,
        no_validate=True,
        key=s.filter_key,
        flex="1",
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
            filter_bar(),
            width="100%",
            align="start",
        ),
        dnd_board(
            # A plain element inside the drag context carries the region's name and focus.
            rx.hstack(
                rx.foreach(s.columns, column_view),
                align="start",
                spacing="3",
                overflow_x="auto",
                # A sideways swipe at the board's edge must not become the browser's "back" gesture.
                overscroll_behavior_x="contain",
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
        details_modal(),
        width="100%",
        spacing="4",
    )
