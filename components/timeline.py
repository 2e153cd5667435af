"""Timeline items of the customer profile. Pure: typed items and handlers in."""

from dataclasses import dataclass, field

import reflex as rx
from reflex.event import EventCallback
from reflex.vars import ObjectVar

from components.types import StateVar, array_var


@dataclass
class AttachmentView:
    """A file on a message as shown: `state` is "image" (a thumbnail), "file" (an icon, name and size),
    "pending" (still being downloaded) or "failed" (`note` says why); `url` is an authenticated link."""

    state: str
    name: str
    size: str = ""
    url: str = ""
    note: str = ""


@dataclass
class TimelineRow:
    """One timeline entry as shown; conversation_id is "" when it does not open a conversation."""

    id: str
    kind: str
    label: str
    summary: str
    when: str
    conversation_id: str
    files: list[AttachmentView] = field(default_factory=list)


@dataclass
class MessageRow:
    """One message of the conversation panel; direction is "in" or "out"."""

    body: str
    direction: str
    meta: str
    status: str = ""  # queued | reserved | uncertain | sent | delivered | read | failed | skipped | received
    error: str = ""  # why it failed or was not sent (pt-BR)
    files: list[AttachmentView] = field(default_factory=list)


KIND_ICONS = {
    "message_in": "message-circle",
    "message_out": "send",
    "note": "sticky-note",
    "call": "phone",
    "status_change": "refresh-cw",
    "stage_change": "kanban",
    "appointment": "calendar-clock",
    "import": "file-up",
    "campaign": "megaphone",
    "opt_out": "ban",
    "field_change": "pencil",
    "opportunity": "badge-dollar-sign",
    "conversation": "messages-square",
}


def kind_icon(kind: rx.Var[str]) -> rx.Component:
    return rx.match(
        kind,
        *[(k, rx.icon(icon, size=18)) for k, icon in KIND_ICONS.items()],
        rx.icon("circle", size=18),
    )


def attachment_preview(f: ObjectVar[AttachmentView], thumb: str = "220px") -> rx.Component:
    """An image as a thumbnail (opens full size), a document as icon + name + size (opens or downloads)."""
    return rx.match(
        f.state,
        (
            "image",
            rx.link(
                rx.image(
                    src=f.url,
                    alt=f.name,
                    max_width=thumb,
                    max_height=thumb,
                    border_radius="8px",
                    class_name="attachment-thumb",
                ),
                href=f.url,
                is_external=True,
                title=f.name,
            ),
        ),
        (
            "file",
            rx.link(
                rx.hstack(
                    rx.icon("file-text", size=18),
                    rx.text(f.name, size="2", weight="medium"),
                    rx.text(f.size, size="1", color_scheme="gray"),
                    spacing="2",
                    align="center",
                ),
                href=f.url,
                is_external=True,
                class_name="attachment-file",
            ),
        ),
        (
            "pending",
            rx.hstack(
                rx.spinner(size="1"),
                rx.text(f.note, size="1", color_scheme="gray"),
                spacing="2",
                class_name="attachment-pending",
            ),
        ),
        rx.hstack(
            rx.icon("file-x", size=16, color="var(--red-9)"),
            rx.text(f.name, ": ", f.note, size="1", color_scheme="red"),
            spacing="2",
            class_name="attachment-failed",
        ),
    )


def timeline_item(item: ObjectVar[TimelineRow], on_open_conversation: EventCallback[str]) -> rx.Component:
    """One entry: icon, label, summary, when; conversation items open the side panel on click."""
    opens = item.conversation_id != ""
    return rx.hstack(
        rx.box(kind_icon(item.kind), padding="6px", border_radius="999px", background="var(--accent-a3)"),
        rx.vstack(
            rx.hstack(
                rx.text(item.label, weight="bold", size="2"),
                rx.text(item.when, size="1", color_scheme="gray"),
                spacing="2",
                align="baseline",
            ),
            rx.text(item.summary, size="2"),
            rx.foreach(item.files, lambda f: attachment_preview(f, "120px")),
            spacing="1",
            align="start",
        ),
        rx.spacer(),
        rx.cond(
            opens,
            rx.button(
                "Abrir conversa",
                size="1",
                variant="ghost",
                on_click=on_open_conversation(item.conversation_id),
            ),
        ),
        width="100%",
        padding_y="8px",
        border_bottom="1px solid var(--gray-a4)",
        align="start",
        class_name="timeline-item",
    )


def timeline(
    items: StateVar[list[TimelineRow]],
    on_open_conversation: EventCallback[str],
    has_more: StateVar[bool],
    on_more: EventCallback[()],
) -> rx.Component:
    return rx.vstack(
        rx.foreach(items, lambda item: timeline_item(item, on_open_conversation)),
        rx.cond(has_more, rx.button("Carregar mais", variant="soft", on_click=on_more, id="timeline-more")),
        rx.cond(array_var(items).length() == 0, rx.text("Nenhuma interação ainda.", color_scheme="gray")),
        width="100%",
        spacing="0",
        id="timeline",
    )


# Status ticks of an outbound message, as chat apps show them: (lucide icon, colour).
TICKS = {
    "queued": ("clock", "gray"),
    "reserved": ("clock", "gray"),
    "uncertain": ("clock-alert", "orange"),
    "sent": ("check", "gray"),
    "delivered": ("check-check", "gray"),
    "read": ("check-check", "blue"),
    "failed": ("circle-alert", "red"),
    "skipped": ("ban", "red"),
}


def _tick(status: rx.Var[str]) -> rx.Component:
    return rx.match(
        status,
        *[
            (key, rx.icon(icon, size=14, color=f"var(--{color}-9)", class_name=f"tick tick-{key}"))
            for key, (icon, color) in TICKS.items()
        ],
        rx.fragment(),
    )


def message_bubble(message: ObjectVar[MessageRow]) -> rx.Component:
    outbound = message.direction == "out"
    return rx.hstack(
        rx.box(
            rx.foreach(message.files, lambda f: attachment_preview(f)),
            rx.cond(message.body != "", rx.text(message.body, size="2", white_space="pre-wrap")),
            rx.hstack(
                rx.text(message.meta, size="1", color_scheme="gray"),
                rx.cond(outbound, _tick(message.status)),
                spacing="1",
                align="center",
                justify="end",
            ),
            rx.cond(message.error != "", rx.text(message.error, size="1", color_scheme="red")),
            background=rx.cond(outbound, "var(--accent-a4)", "var(--gray-a3)"),
            padding="8px 12px",
            border_radius="12px",
            max_width="80%",
            class_name=rx.cond(outbound, "message message-out", "message message-in"),
            data_status=message.status,
        ),
        justify=rx.cond(outbound, "end", "start"),
        width="100%",
    )
