"""Badges whose colour carries meaning (pure: values in, component out)."""

from typing import Any

import reflex as rx

# Radix colour per severity label: errors and warnings must not look alike (red vs amber).
SEVERITY_COLORS = {"Erro": "red", "Aviso": "amber"}


def severity_badge(kind: Any) -> rx.Component:
    """'Erro' in red, 'Aviso' in amber, anything else grey."""
    return rx.badge(
        kind,
        color_scheme=rx.match(kind, *SEVERITY_COLORS.items(), "gray"),
        variant="soft",
        class_name="severity-badge",
    )
