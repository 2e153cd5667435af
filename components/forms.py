"""Form building blocks: labelled inputs with pt-BR field errors."""

from typing import Any

import reflex as rx

from components.types import StateVar


def field_label(label: str, control_id: str, size: str = "2") -> rx.Component:
    """A real <label for=...>: radix Text's `html_for` is rendered as a CSS property, binding nothing."""
    return rx.el.label(rx.text(label, size=size, weight="medium"), html_for=control_id)


# Inputs that ask for an e-mail or a phone get the matching type (screen readers announce it, phones
# show the right keyboard); forms use no_validate so the pt-BR field errors still come from the server.
_INPUT_TYPES = {"email": "email", "tel": "tel"}


# Field errors use the red text shade of the theme (color_scheme: Radix step 11, ≥ 4.5:1 on the page in
# both themes); CSS `red` (#ff0000) is 4.0:1 on white, which axe reports as serious.


def field(label: str, name: str, error: StateVar[str] = "", **input_props: Any) -> rx.Component:
    mode = input_props.get("input_mode")
    if isinstance(mode, str) and mode in _INPUT_TYPES:
        input_props.setdefault("type", _INPUT_TYPES[mode])
    return rx.vstack(
        field_label(label, name),
        rx.input(name=name, id=name, width="100%", **input_props),
        rx.cond(error != "", rx.text(error, color_scheme="red", size="1", class_name="field-error")),
        spacing="1",
        width="100%",
    )


def select_field(
    label: str, name: str, options: list[tuple[str, str]], default: StateVar[str], error: StateVar[str] = ""
) -> rx.Component:
    return rx.vstack(
        field_label(label, name),
        rx.select.root(
            rx.select.trigger(width="100%", id=name),
            rx.select.content(*[rx.select.item(text, value=value) for value, text in options]),
            name=name,
            default_value=default,
        ),
        rx.cond(error != "", rx.text(error, color_scheme="red", size="1", class_name="field-error")),
        spacing="1",
        width="100%",
    )


def form_error(message: StateVar[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(
            message, icon="triangle-alert", color_scheme="red", role="alert", width="100%", id="form-error"
        ),
    )


def primary_button(label: str, **props: Any) -> rx.Component:
    from components.theme import PRIMARY

    return rx.button(label, background=PRIMARY, color="white", width="100%", size="3", **props)
