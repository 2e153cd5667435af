"""A CRUD screen built from a spec: table of rows, create/edit modal form, delete confirmation.

Pure: the rows, the values being edited, the errors and the event handlers come in; the admin screens
(tags, wallets, custom fields, templates, segments) differ only by their Column/FormField lists.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import reflex as rx
from reflex.event import EventCallback
from reflex.vars import ObjectVar

from components.forms import field, select_field
from components.modal_form import modal_form, options_field, textarea_field
from components.types import Option, StateVar, array_var, object_var

# A row of an admin table: its "id" and one formatted string per column key.
Row = dict[str, str]

ALL_KINDS = ("text", "textarea", "number", "date", "select", "checkbox")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    # text | badge (row[color_key] picks the Radix colour) | code | muted
    kind: str = "text"
    color_key: str = ""


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str = "text"  # one of ALL_KINDS
    # Static (value, label) pairs, or a state var of Option (e.g. users).
    options: Sequence[tuple[str, str]] | StateVar[list[Option]] = ()
    placeholder: str = ""
    hint: str = ""
    # Shown when creating only: things the service keeps permanent (a custom field's key and type).
    create_only: bool = False


def _cell(row: ObjectVar[Row], col: Column) -> rx.Component:
    if col.kind == "badge":
        color = row[col.color_key] if col.color_key else "purple"
        return rx.cond(row[col.key] != "", rx.badge(row[col.key], color_scheme=color, variant="soft"))
    if col.kind == "code":
        return rx.cond(row[col.key] != "", rx.code(row[col.key], size="1"))
    if col.kind == "muted":
        return rx.text(row[col.key], size="2", color_scheme="gray")
    return rx.text(row[col.key], size="2")


def crud_table(
    rows: StateVar[list[Row]],
    columns: Sequence[Column],
    *,
    on_edit: EventCallback[str],
    on_delete: EventCallback[str] | None = None,
    on_open: EventCallback[str] | None = None,
    table_id: str,
    edit_label: str = "Editar",
    delete_label: str = "Excluir",
    open_label: str = "Abrir",
    empty_text: str = "Nada cadastrado ainda.",
) -> rx.Component:
    """rows: list of dicts with "id" and one string per column key; actions per row on the right."""

    def row_view(row: ObjectVar[Row]) -> rx.Component:
        actions = []
        if on_open is not None:
            actions.append(rx.button(open_label, size="1", variant="soft", on_click=on_open(row["id"])))
        actions.append(
            rx.button(
                edit_label, size="1", variant="soft", on_click=on_edit(row["id"]), class_name="row-edit"
            )
        )
        if on_delete is not None:
            actions.append(
                rx.button(
                    delete_label,
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=on_delete(row["id"]),
                    class_name="row-delete",
                )
            )
        return rx.table.row(
            *[rx.table.cell(_cell(row, c)) for c in columns],
            rx.table.cell(rx.hstack(*actions, spacing="2", justify="end")),
            _hover={"background": "var(--gray-a3)"},
        )

    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[rx.table.column_header_cell(c.label) for c in columns],
                    rx.table.column_header_cell(rx.text("Ações", align="right")),
                )
            ),
            rx.table.body(rx.foreach(rows, row_view)),
            variant="surface",
            size="2",
            width="100%",
            id=table_id,
        ),
        rx.cond(array_var(rows).length() == 0, rx.text(empty_text, color_scheme="gray", size="2")),
        width="100%",
        spacing="3",
    )


def _select(f: FormField, default: StateVar[str], error: StateVar[str]) -> rx.Component:
    if isinstance(f.options, rx.Var):
        return options_field(f.label, f.name, f.options, error, default=default)
    return select_field(f.label, f.name, [o for o in f.options if isinstance(o, tuple)], default, error)


def form_input(f: FormField, values: StateVar[Row], errors: StateVar[Row]) -> rx.Component:
    """One input of the modal, pre-filled from values[name], with errors[name] under it."""
    default, error = object_var(values)[f.name], object_var(errors).get(f.name, "")
    if f.kind == "select":
        widget = _select(f, default, error)
    elif f.kind == "textarea":
        widget = textarea_field(
            f.label, f.name, error, default_value=default, placeholder=f.placeholder, rows="5"
        )
    elif f.kind == "checkbox":
        widget = rx.vstack(
            rx.checkbox(f.label, name=f.name, id=f.name, default_checked=default == "on"),
            rx.cond(error != "", rx.text(error, color_scheme="red", size="1", class_name="field-error")),
            spacing="1",
        )
    else:
        props: dict[str, Any] = {"default_value": default, "placeholder": f.placeholder}
        if f.kind == "number":
            props["input_mode"] = "numeric"
        elif f.kind == "date":
            props["type"] = "date"
        widget = field(f.label, f.name, error, **props)
    if f.hint:
        widget = rx.vstack(widget, rx.text(f.hint, size="1", color_scheme="gray"), spacing="1", width="100%")
    return widget


def crud_form(
    title: StateVar[str],
    open_: StateVar[bool],
    on_open_change: EventCallback[bool],
    on_submit: EventCallback[Any],
    fields: Sequence[FormField],
    values: StateVar[Row],
    errors: StateVar[Row],
    error: StateVar[str],
    creating: StateVar[bool],
    *,
    form_id: str,
    extra: rx.Component | None = None,
) -> rx.Component:
    """The create/edit modal; `creating` (a bool var) shows the create-only fields."""
    inputs = [
        rx.cond(creating, form_input(f, values, errors)) if f.create_only else form_input(f, values, errors)
        for f in fields
    ]
    if extra is not None:
        inputs.append(extra)
    return modal_form(title, open_, on_open_change, on_submit, *inputs, error=error, form_id=form_id)


def confirm_dialog(
    title: str,
    message: str,
    open_: StateVar[bool],
    on_open_change: EventCallback[bool],
    on_confirm: EventCallback[()],
    *,
    confirm_id: str,
) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(message),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancelar", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button("Excluir", color_scheme="red", on_click=on_confirm, id=confirm_id)
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
        open=open_,
        on_open_change=on_open_change,
    )


def crud_toolbar(
    description: str, new_label: str = "", on_new: EventCallback[()] | None = None, new_id: str = ""
) -> rx.Component:
    parts: list[rx.Component] = [rx.text(description, size="2", color_scheme="gray"), rx.spacer()]
    if on_new is not None:
        parts.append(rx.button(rx.icon("plus"), new_label, on_click=on_new, id=new_id or None))
    return rx.hstack(*parts, width="100%", align="center")
