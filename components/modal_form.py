"""A dialog with a form, pt-BR field errors and Cancel/Save. Pure: fields and handlers in."""

from collections.abc import Sequence
from typing import Any

import reflex as rx
from reflex.event import EventCallback

from components.forms import field_label, form_error
from components.types import Option, StateVar


def modal_form(
    title: StateVar[str],
    open_: StateVar[bool],
    on_open_change: EventCallback[bool],
    on_submit: EventCallback[Any],
    *fields: rx.Component,
    error: StateVar[str] = "",
    submit_label: str = "Salvar",
    form_id: str = "",
    trigger: rx.Component | None = None,
    submit_id: str = "",
    cancel_id: str = "",
) -> rx.Component:
    """`trigger`: the button that opens it, when the dialog owns one; `submit_id` / `cancel_id` name the
    buttons for tests (the submit one defaults to `<form_id>-save`)."""
    parts = [rx.dialog.trigger(trigger)] if trigger is not None else []
    return rx.dialog.root(
        *parts,
        rx.dialog.content(
            rx.dialog.title(title),
            rx.form(
                rx.vstack(
                    *fields,
                    form_error(error),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button(
                                "Cancelar",
                                variant="soft",
                                color_scheme="gray",
                                type="button",
                                id=cancel_id or None,
                            )
                        ),
                        rx.button(
                            submit_label,
                            type="submit",
                            id=submit_id or (f"{form_id}-save" if form_id else None),
                        ),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=on_submit,
                reset_on_submit=False,
                no_validate=True,
                id=form_id or None,
            ),
        ),
        open=open_,
        on_open_change=on_open_change,
    )


def textarea_field(label: str, name: str, error: StateVar[str] = "", **props: Any) -> rx.Component:
    return rx.vstack(
        field_label(label, name),
        rx.text_area(name=name, id=name, width="100%", **props),
        rx.cond(error != "", rx.text(error, color_scheme="red", size="1", class_name="field-error")),
        spacing="1",
        width="100%",
    )


def options_field(
    label: str,
    name: str,
    options: StateVar[Sequence[Option]],
    error: StateVar[str] = "",
    default: StateVar[str] | None = None,
    *,
    value: StateVar[str] | None = None,
    on_change: EventCallback[str] | None = None,
) -> rx.Component:
    """A select whose options are a state var (or a fixed list) of Option; uncontrolled (`default`) unless
    `value` and `on_change` are given (e.g. a choice that decides which other fields the form shows)."""
    controlled: dict[str, Any] = (
        {"value": value, "on_change": on_change} if value is not None else {"default_value": default}
    )
    return rx.vstack(
        field_label(label, name),
        rx.select.root(
            rx.select.trigger(width="100%", id=name, placeholder="Selecione"),
            rx.select.content(rx.foreach(options, lambda o: rx.select.item(o.label, value=o.value))),
            name=name,
            **controlled,
        ),
        rx.cond(error != "", rx.text(error, color_scheme="red", size="1", class_name="field-error")),
        spacing="1",
        width="100%",
    )


def attachment_picker(
    upload_id: str,
    on_pick: Any,
    on_rejected: Any,
    on_clear: EventCallback[()],
    chosen: StateVar[dict[str, str]],
    error: StateVar[str],
    *,
    max_size: int,
) -> rx.Component:
    """A file for the message: one file, uploaded as soon as it is picked (`on_pick` receives it); the
    browser refuses a file over `max_size` before uploading it (`on_rejected`). `chosen` holds the
    uploaded file's name and size, `error` why it was refused (pt-BR)."""
    picked = rx.Var.create(chosen).to(dict)
    return rx.vstack(
        rx.text("Anexo (opcional)", size="2", weight="medium"),
        rx.upload(
            rx.button(rx.icon("paperclip", size=16), "Escolher arquivo", type="button", variant="soft"),
            id=upload_id,
            multiple=False,
            max_files=1,
            max_size=max_size,
            no_drag=False,
            on_drop=on_pick,
            # The rejected File objects stay in the browser: the handler only learns that it happened.
            on_drop_rejected=lambda _rejected: on_rejected(),
            border="none",
            padding="0",
        ),
        rx.cond(
            picked["name"].to(str) != "",
            rx.hstack(
                rx.icon("file-check", size=16),
                rx.text(picked["name"].to(str), size="2", class_name="attachment-chosen"),
                rx.text(picked["size"].to(str), size="1", color_scheme="gray"),
                rx.icon_button(
                    rx.icon("x", size=14),
                    size="1",
                    variant="ghost",
                    type="button",
                    on_click=on_clear,
                    aria_label="Remover anexo",
                ),
                spacing="2",
                align="center",
            ),
        ),
        rx.cond(
            error != "",
            rx.text(error, size="1", color_scheme="red", role="alert", class_name="attachment-error"),
        ),
        spacing="1",
        width="100%",
    )
