"""A server-side data table: sortable headers, row selection, column chooser. Pure: values and handlers in."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import reflex as rx
from reflex.event import EventCallback
from reflex.vars import ObjectVar

from components.types import StateVar, array_var

Row = dict[str, str]


@dataclass(frozen=True)
class TableColumn:
    """A column known when the page is built: the row key it prints, its header, whether it sorts."""

    key: str
    label: str
    sortable: bool = False


@dataclass
class ExtraColumn:
    """A column known only at run time (a custom field), held in a state var; its cells print row[key]."""

    key: str
    label: str


@dataclass(frozen=True)
class Sorting:
    """The sort key the state holds ("name", or "-name" for descending) and the handler that sets it."""

    sort: StateVar[str]
    on_sort: EventCallback[str]


@dataclass(frozen=True)
class Selection:
    """The selected row ids, whether every row is selected, and the handlers that change them."""

    selected: StateVar[list[str]]
    on_select: EventCallback[str]
    all_selected: StateVar[bool]
    on_select_all: EventCallback[bool]


def sort_header(label: str, key: str, sorting: Sorting) -> rx.Component:
    """A header cell that asks for `key` (or `-key` when already ascending) when clicked.

    The click target is a button (reachable by keyboard) and the cell carries aria-sort, so a screen
    reader announces the current order.
    """
    sort = sorting.sort
    arrow = rx.cond(
        sort == key, rx.icon("arrow-up", size=14), rx.cond(sort == "-" + key, rx.icon("arrow-down", size=14))
    )
    return rx.table.column_header_cell(
        rx.el.button(
            rx.hstack(rx.text(label), arrow, spacing="1", align="center"),
            type="button",
            on_click=sorting.on_sort(rx.cond(sort == key, "-" + key, key)),
            class_name="sort-button",
        ),
        aria_sort=rx.cond(sort == key, "ascending", rx.cond(sort == "-" + key, "descending", "none")),
    )


def column_chooser(
    columns: Sequence[TableColumn], visible: StateVar[list[str]], on_toggle: EventCallback[str]
) -> rx.Component:
    """A popover of checkboxes, one per column, calling on_toggle(key)."""
    shown = array_var(visible)
    return rx.popover.root(
        rx.popover.trigger(rx.button(rx.icon("columns-3"), "Colunas", variant="soft", id="column-chooser")),
        rx.popover.content(
            rx.vstack(
                *[
                    rx.checkbox(
                        c.label,
                        checked=shown.contains(c.key),
                        on_change=lambda _v, k=c.key: on_toggle(k),
                    )
                    for c in columns
                ],
                spacing="2",
            )
        ),
    )


def _text_cell(row: ObjectVar[Row], key: str) -> rx.Component:
    return rx.text(row[key])


def data_table(
    rows: StateVar[list[Row]],
    columns: Sequence[TableColumn],
    visible: StateVar[list[str]],
    *,
    sorting: Sorting,
    selection: Selection,
    on_open: EventCallback[str],
    render_cell: Callable[[ObjectVar[Row], str], rx.Component] = _text_cell,
    extra_columns: StateVar[list[ExtraColumn]] | None = None,
) -> rx.Component:
    """rows: dicts with "id" and one value per column key; visible: the keys shown.

    `render_cell(row, key)` may format a cell; by default the value is printed as text.
    """
    shown, selected = array_var(visible), array_var(selection.selected)
    header = [
        rx.table.column_header_cell(
            rx.checkbox(
                checked=selection.all_selected,
                on_change=selection.on_select_all,
                aria_label="Selecionar todos",
                id="select-all",
            ),
            width="32px",
        )
    ]
    for c in columns:
        head = sort_header(c.label, c.key, sorting) if c.sortable else rx.table.column_header_cell(c.label)
        header.append(rx.cond(shown.contains(c.key), head, rx.fragment()))
    if extra_columns is not None:
        header.append(rx.foreach(extra_columns, lambda x: rx.table.column_header_cell(x.label)))

    def row_view(row: ObjectVar[Row]) -> rx.Component:
        cells = [
            rx.table.cell(
                rx.checkbox(
                    checked=selected.contains(row["id"]),
                    on_change=lambda _v: selection.on_select(row["id"]),
                    aria_label="Selecionar linha",
                    class_name="row-select",
                )
            )
        ]
        for c in columns:
            cells.append(
                rx.cond(
                    shown.contains(c.key),
                    rx.table.cell(render_cell(row, c.key), on_click=on_open(row["id"]), cursor="pointer"),
                    rx.fragment(),
                )
            )
        if extra_columns is not None:
            cells.append(
                rx.foreach(
                    extra_columns,
                    lambda x: rx.table.cell(
                        rx.text(row[x.key]), on_click=on_open(row["id"]), cursor="pointer"
                    ),
                )
            )
        return rx.table.row(*cells, _hover={"background": "var(--gray-a3)"})

    return rx.table.root(
        rx.table.header(rx.table.row(*header)),
        rx.table.body(rx.foreach(rows, row_view)),
        variant="surface",
        size="1",
        width="100%",
        id="data-table",
    )


def pager(
    has_prev: StateVar[bool],
    has_next: StateVar[bool],
    on_prev: EventCallback[()],
    on_next: EventCallback[()],
    label: StateVar[str] = "",
) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color_scheme="gray", id="list-total"),
        rx.spacer(),
        rx.button(rx.icon("chevron-left"), "Anterior", variant="soft", disabled=~has_prev, on_click=on_prev),
        rx.button(
            "Próxima",
            rx.icon("chevron-right"),
            variant="soft",
            disabled=~has_next,
            on_click=on_next,
            id="next-page",
        ),
        width="100%",
        align="center",
    )
