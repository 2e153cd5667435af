"""A template rendered for a customer (or sample values), unknown variables flagged. Pure: values in."""

from dataclasses import dataclass

import reflex as rx
from reflex.event import EventCallback
from reflex.vars import ObjectVar

from components.theme import PRIMARY
from components.types import Option, StateVar, array_var


@dataclass
class PreviewPart:
    """A piece of rendered text; kind: text | value | empty | unknown (see app.crm.templates.PreviewPart)."""

    text: str
    kind: str
    variable: str


def _part(part: ObjectVar[PreviewPart]) -> rx.Component:
    return rx.match(
        part.kind,
        ("value", rx.text.span(part.text, color=PRIMARY, weight="medium")),
        (
            "unknown",
            rx.text.span(
                part.text,
                color="var(--red-11)",
                background="var(--red-a3)",
                border_radius="4px",
                padding_x="2px",
                class_name="preview-unknown",
            ),
        ),
        ("empty", rx.text.span("∅", color="var(--amber-11)", title=part.variable)),
        rx.text.span(part.text),
    )


def rendered(parts: StateVar[list[PreviewPart]], id_: str) -> rx.Component:
    return rx.text(rx.foreach(parts, _part), white_space="pre-wrap", size="2", id=id_)


def customer_picker(
    chosen_label: StateVar[str],
    query: StateVar[str],
    on_query: EventCallback[str],
    options: StateVar[list[Option]],
    on_choose: EventCallback[str],
    on_clear: EventCallback[()],
) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Cliente:", size="2", weight="medium"),
            rx.badge(chosen_label, variant="soft", id="preview-customer"),
            rx.button("Usar valores de exemplo", size="1", variant="ghost", on_click=on_clear),
            align="center",
            spacing="2",
        ),
        rx.input(
            rx.input.slot(rx.icon("search")),
            placeholder="Buscar cliente pelo nome, CPF/CNPJ ou telefone",
            aria_label="Buscar cliente para a prévia",
            value=query,
            on_change=on_query.debounce(300),
            width="100%",
            id="preview-customer-search",
        ),
        rx.cond(
            array_var(options).length() > 0,
            rx.flex(
                rx.foreach(
                    options,
                    lambda o: rx.button(
                        o.label,
                        size="1",
                        variant="soft",
                        on_click=on_choose(o.value),
                        class_name="preview-customer-option",
                    ),
                ),
                wrap="wrap",
                gap="6px",
            ),
        ),
        spacing="2",
        width="100%",
    )


def template_preview_dialog(
    open_: StateVar[bool],
    on_open_change: EventCallback[bool],
    title: StateVar[str],
    subject_parts: StateVar[list[PreviewPart]],
    body_parts: StateVar[list[PreviewPart]],
    unknown_label: StateVar[str],
    empty_label: StateVar[str],
    picker: rx.Component,
) -> rx.Component:
    """unknown_label / empty_label: "" when nothing to flag, else the variables as a sentence."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.text("Pré-visualizar: ", title)),
            rx.vstack(
                picker,
                rx.separator(),
                rx.cond(
                    array_var(subject_parts).length() > 0,
                    rx.vstack(
                        rx.text("Assunto", size="1", color_scheme="gray"),
                        rendered(subject_parts, "preview-subject"),
                        spacing="1",
                        width="100%",
                    ),
                ),
                rx.card(rendered(body_parts, "preview-body"), width="100%"),
                rx.cond(
                    unknown_label != "",
                    rx.callout(
                        unknown_label, icon="triangle-alert", color_scheme="red", id="preview-unknown"
                    ),
                ),
                rx.cond(
                    empty_label != "",
                    rx.callout(empty_label, icon="info", color_scheme="amber", id="preview-empty"),
                ),
                rx.hstack(
                    rx.dialog.close(rx.button("Fechar", variant="soft", color_scheme="gray")),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            max_width="640px",
            id="template-preview",
        ),
        open=open_,
        on_open_change=on_open_change,
    )
