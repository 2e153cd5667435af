"""A server-side data table: sortable headers, row selection, column chooser. Pure: values and handlers in."""

from typing import Any

import reflex as rx


def sort_header(label: str, key: str, sort: Any, on_sort: Any) -> rx.Component:
    """A header cell that asks for `key` (or `-key` when already ascending) when clicked."""
    arrow = rx.cond(
        sort == key, rx.icon("arrow-up", size=14), rx.cond(sort == "-" + key, rx.icon("arrow-down", size=14))
    )
    return rx.table.column_header_cell(
        rx.hstack(rx.text(label), arrow, spacing="1", align="center", cursor="pointer"),
        on_click=on_sort(rx.cond(sort == key, "-" + key, key)),
    )


def column_chooser(columns: list[tuple[str, str]], visible: Any, on_toggle: Any) -> rx.Component:
    """A popover of checkboxes, one per column, calling on_toggle(key)."""
    return rx.popover.root(
        rx.popover.trigger(rx.button(rx.icon("columns-3"), "Colunas", variant="soft", id="column-chooser")),
        rx.popover.content(
            rx.vstack(
                *[
                    rx.checkbox(
                        label, checked=visible.contains(key), on_change=lambda _v, k=key: on_toggle(k)
                    )
                    for key, label in columns
                ],
                spacing="2",
            )
        ),
    )


def data_table(
    rows: Any,
    columns: list[tuple[str, str, bool]],
    visible: Any,
    sort: Any,
    on_sort: Any,
    selected: Any,
    on_select: Any,
    all_selected: Any,
    on_select_all: Any,
    on_open: Any,
    render_cell: Any = None,
    extra_columns: Any = None,
) -> rx.Component:
    """rows: list of dicts with "id"; columns: (key, label, sortable); visible: keys shown.

    `render_cell(row, key)` may format a cell; by default the value is printed as text.
    `extra_columns` is a state list of {"key", "label"} known only at run time (custom fields);
    their cells read row[key] as text.
    """
    cell = render_cell or (lambda row, key: rx.text(row[key]))
    header = [
        rx.table.column_header_cell(rx.checkbox(checked=all_selected, on_change=on_select_all), width="32px")
    ]
    for key, label, sortable in columns:
        head = sort_header(label, key, sort, on_sort) if sortable else rx.table.column_header_cell(label)
        header.append(rx.cond(visible.contains(key), head, rx.fragment()))
    if extra_columns is not None:
        header.append(rx.foreach(extra_columns, lambda c: rx.table.column_header_cell(c["label"])))

    def row_view(row: Any) -> rx.Component:
        cells = [
            rx.table.cell(
                rx.checkbox(checked=selected.contains(row["id"]), on_change=lambda _v: on_select(row["id"]))
            )
        ]
        for key, _label, _sortable in columns:
            cells.append(
                rx.cond(
                    visible.contains(key),
                    rx.table.cell(cell(row, key), on_click=on_open(row["id"]), cursor="pointer"),
                    rx.fragment(),
                )
            )
        if extra_columns is not None:
            cells.append(
                rx.foreach(
                    extra_columns,
                    lambda c: rx.table.cell(
                        rx.text(row[c["key"]]), on_click=on_open(row["id"]), cursor="pointer"
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


def pager(has_prev: Any, has_next: Any, on_prev: Any, on_next: Any, label: Any = "") -> rx.Component:
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
