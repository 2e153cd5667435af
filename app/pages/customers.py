"""Customers ("Clientes"): keyset-paginated table with search, filters, sortable columns, column chooser,
bulk actions on a selection or on the whole filtered set (with live progress), CSV export, and
"save as segment"."""

import asyncio
from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from app.after_commit import enqueue_after_commit
from app.auth import ui_tickets
from app.auth.permissions import Perm
from app.crm import custom_fields, customers, preferences, segments, tags, wallets
from app.crm.customers import STATUSES, BulkRequest, CustomerFilter, CustomerIn, CustomerQuery
from app.crm.visibility import assignable_users
from app.formatting import DEFAULT_TZ, date_br, document_br, phone_br, plural
from app.pages.base import Events, SessionState, checked, event, page
from components.data_table import (
    ExtraColumn,
    Selection,
    Sorting,
    TableColumn,
    column_chooser,
    data_table,
    pager,
)
from components.forms import field
from components.modal_form import modal_form, options_field
from components.types import Option, StateVar, array_var
from tasks.crm import run_bulk

COLUMNS = [
    TableColumn("name", "Nome", sortable=True),
    TableColumn("document", "CPF/CNPJ"),
    TableColumn("phone", "Telefone"),
    TableColumn("status", "Status", sortable=True),
    TableColumn("plan", "Plano"),
    TableColumn("owner", "Responsável"),
    TableColumn("wallet", "Carteira"),
    TableColumn("tags", "Etiquetas"),
    TableColumn("score", "Score", sortable=True),
    TableColumn("created_at", "Criado em", sortable=True),
    TableColumn("updated_at", "Atualizado em", sortable=True),
]
DEFAULT_VISIBLE = ["name", "document", "phone", "status", "plan", "owner", "tags", "updated_at"]
COLUMN_KEYS = frozenset(c.key for c in COLUMNS)


def _restore_columns(saved: dict[str, object]) -> list[str]:
    """The user's stored choice of columns (preferences "customers.columns"), keeping only the columns the
    page still has; the default set when nothing usable was stored."""
    stored = saved.get("visible")
    if not isinstance(stored, list):
        return list(DEFAULT_VISIBLE)
    return list(dict.fromkeys(k for k in stored if isinstance(k, str) and k in COLUMN_KEYS))


STATUS_OPTIONS = [Option(k, v) for k, v in STATUSES.items()]
BULK_OPTIONS = [Option(k, v) for k, v in customers.BULK_ACTIONS.items()]
# The bulk form's field that holds each action's value: the dialog shows only that one.
BULK_VALUE_FIELDS = {
    "add_tag": "value",
    "remove_tag": "value",
    "assign_owner": "owner",
    "set_status": "status_value",
    "set_wallet": "wallet",
}
ALL = "__all__"  # radix select items cannot have an empty value
# The create form's inputs for the contacts it sends (a field error names the contact's position).
CONTACT_FIELDS = {"contacts.0.value": "phone", "contacts.1.value": "email"}


def _fmt_custom(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Sim" if value else "Não"
    return str(value)


class CustomersState(SessionState):
    # A dict per row, not a model: the custom-field columns (cf_<key>) are known only at run time.
    rows: list[dict[str, str]] = []
    text: str = ""
    # The search box is uncontrolled (typing stays smooth while the debounced search runs); bumping its
    # key remounts it empty when the search is cleared or the page is entered again.
    search_box: int = 0
    status: str = ALL
    plan: str = ""
    tag: str = ALL
    owner: str = ALL
    wallet: str = ALL
    custom_key: str = ALL
    custom_value: str = ""
    score_min: str = ""
    updated_from: str = ""
    # Date-only bounds (YYYY-MM-DD from <input type=date>): whole days in the user's zone, ends included.
    updated_to: str = ""
    created_from: str = ""
    created_to: str = ""
    # A saved segment applied on top of the filters (opened from /admin/segmentos as ?segmento=<id>).
    segment: str = ""
    segment_name: str = ""
    sort: str = "-updated_at"
    next_cursor: str = ""
    page_no: int = 1
    _cursors: list[str] = []
    selected: list[str] = []
    # The columns chooser, stored per user (app.crm.preferences, "customers.columns").
    visible: list[str] = DEFAULT_VISIBLE
    total_label: str = ""
    _count_text: str = ""
    tag_options: list[Option] = []
    owner_options: list[Option] = []
    wallet_options: list[Option] = []
    custom_options: list[Option] = []
    custom_columns: list[ExtraColumn] = []
    _owner_names: dict[str, str] = {}
    _wallet_names: dict[str, str] = {}
    _tz: str = DEFAULT_TZ
    # dialogs
    new_open: bool = False
    bulk_open: bool = False
    bulk_scope: str = "selection"
    bulk_action: str = "add_tag"
    segment_open: bool = False
    errors: dict[str, str] = {}
    error: str = ""
    job_id: int = 0
    job_state: str = ""
    job_done: int = 0
    job_total: int = 0

    # ---- queries --------------------------------------------------------------------
    def _filter(self) -> CustomerFilter:
        data: dict[str, Any] = {"text": self.text or None}
        if self.status != ALL:
            data["status"] = [self.status]
        if self.plan:
            data["plan"] = [self.plan]
        if self.tag != ALL:
            data["tags"] = [self.tag]
        if self.owner != ALL:
            data["owner_id"] = [int(self.owner)]
        if self.wallet != ALL:
            data["wallet_id"] = [int(self.wallet)]
        if self.custom_key != ALL and self.custom_value:
            data["custom"] = {self.custom_key: self.custom_value}
        if self.score_min:
            data["score_min"] = int(self.score_min) if self.score_min.isdigit() else None
        for bound in ("created_from", "created_to", "updated_from", "updated_to"):
            if getattr(self, bound):
                data[bound] = getattr(self, bound)
        if self.segment:
            data["segment_id"] = int(self.segment)
        return CustomerFilter.model_validate(data)

    def _row(self, r: customers.CustomerRow) -> dict[str, str]:
        return {
            "id": str(r.id),
            "name": r.name,
            "document": document_br(r.document),
            "phone": phone_br(r.phone),
            "status": STATUSES.get(r.status, r.status),
            "plan": r.plan or "",
            "owner": self._owner_names.get(str(r.owner_id), ""),
            "wallet": self._wallet_names.get(str(r.wallet_id), ""),
            "tags": ", ".join(r.tags),
            "score": str(r.score),
            "created_at": date_br(r.created_at, self._tz),
            "updated_at": date_br(r.updated_at, self._tz),
            # Custom fields shown as columns are read as cf_<key> (see custom_columns).
            **{f"cf_{k}": _fmt_custom(v) for k, v in (r.custom or {}).items()},
        }

    def _reload(self, cursor: str | None = None, *, recount: bool = False) -> None:
        with self.db() as (db, actor):
            self._tz = actor.time_zone
            f = self._filter()
            query = CustomerQuery(**f.model_dump(), sort=self.sort, cursor=cursor or None, limit=50)
            result = customers.list_customers(db, actor, query)
            # The count (up to 10k rows walked) is taken when the filter changes, not on every page turn:
            # it cost more than the page itself, and paging does not change it.
            if recount or not self._count_text:
                count = customers.count_customers(db, actor, f, cap=10_000)
                self._count_text = ("mais de " if count["capped"] else "") + plural(count["count"], "cliente")
        self.rows = [self._row(r) for r in result.rows]
        self.next_cursor = result.next_cursor or ""
        self.total_label = f"{self._count_text} · página {self.page_no}"

    def _restart(self) -> Events:
        self._cursors, self.page_no, self.selected = [], 1, []
        return self.attempt(lambda: self._reload(recount=True))

    @event
    def load(self) -> Events:
        # Search text does not follow the user back to the page (issue 14): each visit starts unsearched.
        self._clear_text()
        raw = self.router.url.query_parameters.get("segmento", "")
        self.segment, self.segment_name = (raw, "") if raw.isdigit() else ("", "")
        with self._calling() as call, self.db() as (db, actor):
            if self.segment:
                # Only segments this user may see are listed, so another's private one is not found.
                found = [g.name for g in segments.list_segments(db, actor) if str(g.id) == self.segment]
                if not found:
                    self.segment = ""
                    return [rx.toast.error("Segmento não encontrado."), rx.redirect("/clientes")]
                self.segment_name = found[0]
            self.tag_options = [Option(t.name, t.name) for t in tags.list_tags(db, actor)]
            users = assignable_users(db, actor)
            self._owner_names = {str(u.id): u.name or u.email for u in users}
            self.owner_options = [Option(str(u.id), u.name or u.email) for u in users]
            ws = wallets.list_wallets(db, actor)
            self._wallet_names = {str(w.id): w.name for w in ws}
            self.wallet_options = [Option(str(w.id), w.name) for w in ws]
            definitions = custom_fields.list_fields(db, actor)
            self.custom_options = [Option(d.key, d.label) for d in definitions if d.show_in_filters]
            self.custom_columns = [ExtraColumn(f"cf_{d.key}", d.label) for d in definitions if d.show_in_list]
            self.visible = _restore_columns(preferences.get(db, actor, preferences.CUSTOMER_COLUMNS))
        if call.failed:
            return call.events
        return self._restart()

    @event
    def search(self, text: str) -> Events:
        self.text = text
        return self._restart()

    def _clear_text(self) -> None:
        self.text = ""
        self.search_box += 1

    @event
    def clear_search(self) -> Events:
        self._clear_text()
        return self._restart()

    @event
    def set_filter(self, name: str, value: str) -> Events:
        if name in {
            "status",
            "plan",
            "tag",
            "owner",
            "wallet",
            "custom_key",
            "custom_value",
            "score_min",
            "updated_from",
            "updated_to",
            "created_from",
            "created_to",
        }:
            setattr(self, name, value)
        return self._restart()

    @event
    def clear_filters(self) -> Events:
        self._clear_text()
        self.plan, self.custom_value, self.score_min, self.updated_from = "", "", "", ""
        self.updated_to = self.created_from = self.created_to = ""
        self.status = self.tag = self.owner = self.wallet = self.custom_key = ALL
        self.segment, self.segment_name = "", ""
        return self._restart()

    @event
    def clear_segment(self) -> Events:
        self.segment, self.segment_name = "", ""
        return [rx.redirect("/clientes")]

    @event
    def set_sort(self, sort: str) -> Events:
        self.sort = sort
        return self._restart()

    @event
    def next_page(self) -> Events:
        if not self.next_cursor:
            return None
        self._cursors = [*self._cursors, self.next_cursor]
        self.page_no += 1
        return self.attempt(lambda: self._reload(self.next_cursor))

    @event
    def prev_page(self) -> Events:
        if not self._cursors:
            return None
        self._cursors = self._cursors[:-1]
        self.page_no -= 1
        return self.attempt(lambda: self._reload(self._cursors[-1] if self._cursors else None))

    @event
    def toggle_select(self, row_id: str) -> None:
        self.selected = (
            [s for s in self.selected if s != row_id] if row_id in self.selected else [*self.selected, row_id]
        )

    @event
    def toggle_all(self, checked: bool) -> None:
        self.selected = [r["id"] for r in self.rows] if checked else []

    @event
    def toggle_column(self, key: str) -> Events:
        if key not in COLUMN_KEYS:
            return None
        visible = [k for k in self.visible if k != key] if key in self.visible else [*self.visible, key]

        def save() -> None:
            with self.db() as (db, actor):
                preferences.save(db, actor, preferences.CUSTOMER_COLUMNS, {"visible": visible})
            self.visible = visible  # shown once stored: a refused save leaves the table as it was

        return self.attempt(save)

    @event
    def open_customer(self, row_id: str) -> Events:
        return rx.redirect(f"/clientes/{row_id}")

    # ---- create ---------------------------------------------------------------------
    @event
    def set_new_open(self, open_: bool) -> None:
        self.new_open, self.errors, self.error = open_, {}, ""

    @event
    def create(self, form: dict[str, str]) -> Events:
        self.errors, self.error = {}, ""
        contacts = [{"kind": k, "value": form[k]} for k in ("phone", "email") if form.get(k)]
        with (
            self._calling(fields="errors", rename=CONTACT_FIELDS, message="error") as call,
            self.db() as (db, actor),
        ):
            customer = customers.create_customer(
                db,
                actor,
                CustomerIn.model_validate(
                    {
                        "name": form.get("name", ""),
                        "document": form.get("document") or None,
                        "plan": form.get("plan") or None,
                        "status": form.get("status") or "ativo",
                        "contacts": contacts,
                    }
                ),
            )
            new_id = customer.id
        if call.failed:
            return call.events
        self.new_open = False
        return [rx.toast.success("Cliente cadastrado."), rx.redirect(f"/clientes/{new_id}")]

    # ---- bulk -----------------------------------------------------------------------
    @event
    def open_bulk(self, scope: str) -> None:
        self.bulk_scope, self.bulk_open, self.error, self.job_state = scope, True, "", ""
        self.bulk_action = "add_tag"

    @event
    def set_bulk_action(self, action: str) -> None:
        if action in BULK_VALUE_FIELDS:
            self.bulk_action, self.error = action, ""

    @event
    def set_bulk_open(self, open_: bool) -> None:
        self.bulk_open = open_

    @event
    async def run_bulk(self, form: dict[str, str]) -> Events:
        self.error = ""
        action = self.bulk_action
        value: str | int = form.get(BULK_VALUE_FIELDS.get(action, "value"), "")
        request = BulkRequest(
            action=action,
            value=value,
            ids=[int(i) for i in self.selected] if self.bulk_scope == "selection" else None,
            filter=self._filter() if self.bulk_scope == "filter" else None,
        )
        with self._calling(message="error") as call, self.db() as (db, actor):
            job = customers.start_bulk(db, actor, request)
            self.job_id, self.job_state, self.job_total, self.job_done = (
                job.id or 0,
                job.state,
                job.total,
                job.done,
            )
            if job.state == "queued":
                enqueue_after_commit(db, run_bulk, actor.schema or "", self.job_id)
        if call.failed:
            return call.events
        if self.job_state == "queued":
            return CustomersState.watch_job
        self.bulk_open = False
        self._restart()
        return rx.toast.success(f"Ação aplicada a {plural(self.job_total, 'cliente')}.")

    @event(background=True)
    async def watch_job(self) -> Events:
        """Poll the job row so the dialog shows live progress of a large bulk action."""
        for _ in range(1200):
            await asyncio.sleep(0.5)
            async with self:
                with self._calling(quiet=True) as call, self.db() as (db, actor):
                    job = customers.get_bulk_job(db, actor, self.job_id)
                    self.job_state, self.job_done, self.job_total = job.state, job.done, job.total
                if call.failed:
                    return None
                if self.job_state in ("done", "failed"):
                    self.bulk_open = False
                    self._restart()
                    if self.job_state == "done":
                        return rx.toast.success(f"Ação concluída em {plural(self.job_total, 'cliente')}.")
                    return rx.toast.error("A ação em massa falhou; tente novamente.")
        return None

    # ---- export and segments --------------------------------------------------------
    @event
    def export(self, scope: str) -> Events:
        """Download the CSV of the selection or the filter, streamed by the REST export's code: the
        browser follows a one-minute ticket (app.api.ui_downloads) instead of receiving the file
        through the websocket."""
        ids = [int(i) for i in self.selected] if scope == "selection" else None
        with self._calling() as call:
            actor = self.actor()
            actor.require(Perm.CUSTOMERS_EXPORT)
            payload = {"filter": self._filter().model_dump(mode="json", exclude_defaults=True), "ids": ids}
            ticket = ui_tickets.issue(
                self._ui_key or "", actor.user_id or 0, ui_tickets.CUSTOMERS_EXPORT, payload
            )
        if call.failed:
            return call.events
        return rx.download(url=f"/api/ui/clientes/exportar/{ticket}", filename="clientes.csv")

    @event
    def set_segment_open(self, open_: bool) -> None:
        self.segment_open, self.error = open_, ""

    @event
    def save_segment(self, form: dict[str, str]) -> Events:
        f = self._filter()
        with self._calling(message="error") as call, self.db() as (db, actor):
            segments.create_segment(
                db,
                actor,
                segments.SegmentIn(name=form.get("name", ""), filters=f, shared=checked(form, "shared")),
            )
        if call.failed:
            return call.events
        self.segment_open = False
        return rx.toast.success("Segmento salvo; ele é recalculado a cada uso.")

    @rx.var
    def empty_search(self) -> str:
        """The text of a search that found nothing ("" otherwise): the page says so and offers to clear it."""
        return self.text.strip() if self.text.strip() and not self.rows else ""

    @rx.var
    def more_filters_count(self) -> int:
        """How many of the filters behind "Mais filtros" are set (the button shows it as a badge)."""
        return sum(
            (
                self.wallet != ALL,
                self.plan != "",
                self.custom_key != ALL and self.custom_value != "",
                self.score_min != "",
                self.created_from != "" or self.created_to != "",
                self.updated_from != "" or self.updated_to != "",
            )
        )

    @rx.var
    def all_selected(self) -> bool:
        return bool(self.rows) and len(self.selected) == len(self.rows)

    @rx.var
    def has_prev(self) -> bool:
        return self.page_no > 1

    @rx.var
    def has_next(self) -> bool:
        return self.next_cursor != ""

    @rx.var
    def job_percent(self) -> int:
        return int(100 * self.job_done / self.job_total) if self.job_total else 0


def _select(name: str, value: Any, options: Any, placeholder: str, all_label: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(placeholder=placeholder, min_width="140px", aria_label=placeholder),
        rx.select.content(
            rx.select.item(all_label, value=ALL),
            rx.foreach(options, lambda o: rx.select.item(o.label, value=o.value)),
        ),
        value=value,
        on_change=lambda v: CustomersState.set_filter(name, v),
    )


def date_range(label: str, prefix: str, start: StateVar[str], end: StateVar[str]) -> rx.Component:
    """Two date inputs (controlled, so "Limpar filtros" empties them): `label` de ... até ...."""

    def one(bound: str, value: StateVar[str], title: str) -> rx.Component:
        return rx.input(
            type="date",
            value=value,
            on_change=lambda v: CustomersState.set_filter(f"{prefix}_{bound}", v),
            title=title,
            aria_label=title,
            id=f"filter-{prefix}-{bound}",
            flex="1",
            min_width="0",
        )

    return _labelled(
        label,
        rx.hstack(
            one("from", start, f"{label} de (inclusive)"),
            rx.text("até", size="2", color_scheme="gray"),
            one("to", end, f"{label} até (inclusive)"),
            align="center",
            spacing="2",
            width="100%",
        ),
    )


def _labelled(label: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", weight="medium"), control, spacing="1", width="100%")


def more_filters() -> rx.Component:
    """The less used filters, in a popover behind "Mais filtros"; the button counts those that are set."""
    s = CustomersState
    count = s.more_filters_count
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.icon("sliders-horizontal"),
                "Mais filtros",
                rx.cond(
                    count > 0,
                    rx.fragment(
                        rx.badge(count, variant="solid", radius="full", id="more-filters-count"),
                        # Read after the number: "Mais filtros 2 ativos" (the visible text stays in the name).
                        rx.el.span(" ativos", class_name="sr-only"),
                    ),
                ),
                variant="soft",
                id="more-filters",
            )
        ),
        rx.popover.content(
            rx.vstack(
                _labelled(
                    "Carteira",
                    _select("wallet", s.wallet, s.wallet_options, "Carteira", "Todas as carteiras"),
                ),
                _labelled(
                    "Plano",
                    rx.input(
                        placeholder="Plano",
                        aria_label="Plano",
                        default_value=s.plan,
                        on_blur=lambda v: s.set_filter("plan", v),
                        width="100%",
                        id="filter-plan",
                    ),
                ),
                _labelled(
                    "Campo personalizado",
                    rx.hstack(
                        _select(
                            "custom_key",
                            s.custom_key,
                            s.custom_options,
                            "Campo personalizado",
                            "Campo personalizado",
                        ),
                        rx.input(
                            placeholder="Valor do campo",
                            aria_label="Valor do campo",
                            default_value=s.custom_value,
                            on_blur=lambda v: s.set_filter("custom_value", v),
                            width="100%",
                        ),
                        width="100%",
                    ),
                ),
                _labelled(
                    "Score mínimo",
                    rx.input(
                        placeholder="Score mínimo",
                        aria_label="Score mínimo",
                        default_value=s.score_min,
                        on_blur=lambda v: s.set_filter("score_min", v),
                        input_mode="numeric",
                        width="100%",
                    ),
                ),
                date_range("Criado", "created", s.created_from, s.created_to),
                date_range("Atualizado", "updated", s.updated_from, s.updated_to),
                spacing="3",
                width="100%",
            ),
            width="min(420px, calc(100vw - 2rem))",
            id="more-filters-panel",
            aria_label="Mais filtros",
        ),
    )


def filters_bar() -> rx.Component:
    """One row at desktop widths (issue 14): the search box, the three most used filters, "Mais filtros"
    and "Limpar filtros"; it wraps on a phone instead of scrolling sideways."""
    s = CustomersState
    return rx.vstack(
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search")),
                placeholder="Buscar por nome, CPF/CNPJ, telefone ou e-mail",
                default_value=s.text,
                on_change=s.search.debounce(300),
                flex="1 1 260px",
                max_width="420px",
                aria_label="Buscar clientes",
                id="customer-search",
                key=s.search_box,
            ),
            _select("status", s.status, STATUS_OPTIONS, "Status", "Todos os status"),
            _select("owner", s.owner, s.owner_options, "Responsável", "Todos os responsáveis"),
            _select("tag", s.tag, s.tag_options, "Etiqueta", "Todas as etiquetas"),
            more_filters(),
            rx.button("Limpar filtros", variant="ghost", on_click=s.clear_filters, id="clear-filters"),
            wrap="wrap",
            spacing="2",
            align="center",
            width="100%",
            id="filters-row",
        ),
        rx.cond(
            s.segment != "",
            rx.badge(
                rx.icon("filter", size=14),
                "Segmento: ",
                s.segment_name,
                rx.icon("x", size=14, cursor="pointer", on_click=s.clear_segment),
                size="2",
                id="segment-badge",
            ),
        ),
        width="100%",
        spacing="2",
    )


def actions_bar() -> rx.Component:
    s = CustomersState
    selected = array_var(s.selected).length()
    return rx.hstack(
        rx.text(selected, " selecionado(s)", size="2"),
        rx.menu.root(
            rx.menu.trigger(rx.button(rx.icon("layers"), "Ações em massa", variant="soft", id="bulk-menu")),
            rx.menu.content(
                rx.menu.item("Nos selecionados", on_select=s.open_bulk("selection"), disabled=selected == 0),
                rx.menu.item("Em todo o filtro", on_select=s.open_bulk("filter")),
                rx.menu.separator(),
                rx.menu.item(
                    "Exportar selecionados (CSV)",
                    on_select=s.export("selection"),
                    disabled=selected == 0,
                ),
                rx.menu.item("Exportar filtro (CSV)", on_select=s.export("filter")),
            ),
        ),
        rx.button(
            rx.icon("bookmark-plus"),
            "Salvar como segmento",
            variant="soft",
            on_click=s.set_segment_open(True),
        ),
        rx.spacer(),
        column_chooser(COLUMNS, s.visible, s.toggle_column),
        rx.button(rx.icon("user-plus"), "Novo cliente", on_click=s.set_new_open(True), id="new-customer"),
        width="100%",
        align="center",
    )


def new_customer_dialog() -> rx.Component:
    e = CustomersState.errors
    return modal_form(
        "Novo cliente",
        CustomersState.new_open,
        CustomersState.set_new_open,
        CustomersState.create,
        field("Nome ou razão social", "name", e.get("name", "")),
        field("CPF/CNPJ", "document", e.get("document", "")),
        field("Telefone", "phone", e.get("phone", ""), input_mode="tel"),
        field("E-mail", "email", e.get("email", ""), input_mode="email"),
        field("Plano atual", "plan", e.get("plan", "")),
        options_field("Status", "status", STATUS_OPTIONS, e.get("status", ""), default="ativo"),
        error=CustomersState.error,
        form_id="new-customer-form",
    )


def _bulk_value_field() -> rx.Component:
    """Only the chosen action's field: a tag, an owner, a status or a wallet."""
    s = CustomersState
    return rx.match(
        s.bulk_action,
        ("add_tag", options_field("Etiqueta", "value", s.tag_options)),
        ("remove_tag", options_field("Etiqueta", "value", s.tag_options)),
        ("assign_owner", options_field("Responsável", "owner", s.owner_options)),
        ("set_status", options_field("Novo status", "status_value", STATUS_OPTIONS)),
        ("set_wallet", options_field("Carteira", "wallet", s.wallet_options)),
        rx.fragment(),
    )


def bulk_dialog() -> rx.Component:
    s = CustomersState
    return modal_form(
        rx.cond(s.bulk_scope == "selection", "Ação nos selecionados", "Ação em todo o filtro"),
        s.bulk_open,
        s.set_bulk_open,
        s.run_bulk,
        options_field("Ação", "action", BULK_OPTIONS, value=s.bulk_action, on_change=s.set_bulk_action),
        _bulk_value_field(),
        rx.cond(
            s.job_state == "running",
            rx.vstack(
                rx.progress(value=s.job_percent), rx.text(s.job_done, " de ", s.job_total), width="100%"
            ),
        ),
        error=s.error,
        submit_label="Aplicar",
        form_id="bulk-form",
    )


def segment_dialog() -> rx.Component:
    return modal_form(
        "Salvar filtro como segmento",
        CustomersState.segment_open,
        CustomersState.set_segment_open,
        CustomersState.save_segment,
        field("Nome do segmento", "name"),
        rx.checkbox("Compartilhar com a equipe", name="shared", id="shared", default_checked=True),
        error=CustomersState.error,
        form_id="segment-form",
    )


def empty_search_notice() -> rx.Component:
    """Shown instead of a silent empty table when the typed text found no customer."""
    s = CustomersState
    return rx.cond(
        s.empty_search != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("search-x")),
            rx.hstack(
                rx.callout.text("Nenhum cliente encontrado para “", s.empty_search, "”."),
                rx.button(
                    "Limpar busca", variant="soft", size="1", on_click=s.clear_search, id="clear-search"
                ),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            color_scheme="gray",
            width="100%",
            id="empty-search",
        ),
    )


def _cell(row: ObjectVar[dict[str, str]], key: str) -> rx.Component:
    if key == "name":
        return rx.text(row[key], weight="medium")
    if key == "status":
        return rx.badge(row[key])
    if key == "phone":
        return rx.text(row[key], size="2", white_space="nowrap")
    return rx.text(row[key], size="2")


@page(
    "/clientes",
    "Clientes",
    permission=Perm.CUSTOMERS_READ,
    nav=("Clientes", "contact", 10),
    on_load=CustomersState.load,
)
def customers_page() -> rx.Component:
    s = CustomersState
    return rx.vstack(
        filters_bar(),
        actions_bar(),
        data_table(
            s.rows,
            COLUMNS,
            s.visible,
            sorting=Sorting(s.sort, s.set_sort),
            selection=Selection(s.selected, s.toggle_select, s.all_selected, s.toggle_all),
            on_open=s.open_customer,
            render_cell=_cell,
            extra_columns=s.custom_columns,
        ),
        empty_search_notice(),
        pager(s.has_prev, s.has_next, s.prev_page, s.next_page, s.total_label),
        new_customer_dialog(),
        bulk_dialog(),
        segment_dialog(),
        width="100%",
        spacing="3",
    )
