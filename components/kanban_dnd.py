"""Drag and drop for the Kanban board: our own few lines around dnd-kit (assets/js/kanban_dnd.jsx).

`dnd_board(on_move, ...)` is the drag context, `dnd_column(stage_id, card_ids, ...)` a column that takes
drops and keeps its cards' order, `dnd_card(card_id, stage_id, ...)` a card that can be dragged. A drop
calls `on_move(card_id, stage_id, before_id)` ("" = end of the column) and moves nothing by itself.
Why dnd-kit and not reflex-pragmatic-drag-and-drop: docs/architecture.md, "Sales Kanban".
"""

from typing import Any

import reflex as rx
from reflex.event import passthrough_event_spec

# The module is served from assets/ (Reflex copies it into the frontend's public dir).
_MODULE = "$/public/js/kanban_dnd.jsx"
_DEPENDENCIES = ["@dnd-kit/core@6.3.1", "@dnd-kit/sortable@10.0.0", "@dnd-kit/utilities@3.2.2"]


class _DndComponent(rx.Component):
    library = _MODULE
    lib_dependencies: list[str] = _DEPENDENCIES


class KanbanDndBoard(_DndComponent):
    tag = "KanbanDndBoard"

    # (card_id, stage_id, before_id); Reflex reads the spec from the annotation, which mypy cannot type.
    on_move: rx.EventHandler[passthrough_event_spec(str, str, str)]  # type: ignore[type-arg,valid-type]


class KanbanDndColumn(_DndComponent):
    tag = "KanbanDndColumn"

    stage_id: rx.Var[str]
    card_ids: rx.Var[list[str]]


class KanbanDndCard(_DndComponent):
    tag = "KanbanDndCard"

    card_id: rx.Var[str]
    stage_id: rx.Var[str]


def dnd_board(*children: rx.Component, on_move: Any, **props: Any) -> rx.Component:
    """The drag context around the columns; `on_move(card_id, stage_id, before_id)` on every drop."""
    return KanbanDndBoard.create(*children, on_move=on_move, **props)


def dnd_column(*children: rx.Component, stage_id: Any, card_ids: Any, **props: Any) -> rx.Component:
    """A column that takes drops (on a card: before/after it; on empty space: at the end)."""
    return KanbanDndColumn.create(*children, stage_id=stage_id, card_ids=card_ids, **props)


def dnd_card(*children: rx.Component, card_id: Any, stage_id: Any, **props: Any) -> rx.Component:
    """A draggable card: mouse after 5 px, touch after a 150 ms press (see the module)."""
    return KanbanDndCard.create(*children, card_id=card_id, stage_id=stage_id, **props)
