"""A labelled progress bar: Radix Progress (role=progressbar, aria-valuenow) with its percentage beside it.
Pure: the percentage, the accessible name and the colour in."""

from typing import Any

import reflex as rx

from components.types import StateVar


def progress_bar(
    percent: StateVar[int],
    *,
    label: StateVar[str],
    color_scheme: StateVar[str] = "purple",
    id: StateVar[str] | None = None,
    size: str = "2",
    **props: Any,
) -> rx.Component:
    """`percent` 0..100; `label` names the bar for screen readers (it is not shown)."""
    return rx.hstack(
        rx.progress(
            value=percent,
            max=100,
            aria_label=label,
            color_scheme=color_scheme,
            size=size,
            id=id,
            flex="1",
            min_width="80px",
        ),
        rx.text(percent, "%", size="1", white_space="nowrap", aria_hidden="true"),
        align="center",
        spacing="2",
        width="100%",
        **props,
    )
