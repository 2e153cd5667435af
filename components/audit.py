"""Audit log table (tenant and platform share it)."""

from dataclasses import dataclass, field

import reflex as rx
from reflex.event import EventType
from reflex.vars import ObjectVar

from components.types import StateVar


@dataclass
class AuditRow:
    """One audit entry as shown: every value already formatted for the table."""

    id: str
    at: str
    actor: str
    action: str  # the pt-BR name
    code: str  # the stored code, kept as the cell's tooltip for whoever filters or reads the API
    entity: str
    changes: list[str] = field(default_factory=list)  # "campo: antes → depois"
    ip: str = ""
    tenant: str = ""


def _changes(lines: StateVar[list[str]]) -> rx.Component:
    return rx.vstack(
        rx.foreach(lines, lambda line: rx.text(line, size="1", class_name="audit-change")),
        spacing="0",
        align="start",
    )


def audit_table(rows: StateVar[list[AuditRow]], show_tenant: bool = False) -> rx.Component:
    """Fits 1366 px: the changes column wraps (values are cut at labels.VALUE_MAX), the others are short."""
    headers = ["Quando", "Quem", "Ação", "Entidade", "Alterações", "IP"]
    if show_tenant:
        headers.insert(1, "Organização")

    def row(r: ObjectVar[AuditRow]) -> rx.Component:
        cells = [
            rx.table.cell(r.at, white_space="nowrap"),
            rx.table.cell(r.actor, word_break="break-all", max_width="220px"),
            rx.table.cell(rx.text(r.action, title=r.code), max_width="220px"),
            rx.table.cell(r.entity, max_width="160px"),
            rx.table.cell(_changes(r.changes), word_break="break-word"),
            rx.table.cell(r.ip, white_space="nowrap", class_name="audit-ip"),
        ]
        if show_tenant:
            cells.insert(1, rx.table.cell(r.tenant, max_width="160px"))
        return rx.table.row(*cells)

    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(rx.foreach(rows, row)),
            width="100%",
            size="1",
            id="audit-table",
        ),
        width="100%",
        overflow_x="auto",
    )


def audit_filters(on_submit: EventType[dict[str, str]]) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="action", placeholder="Código da ação (ex.: user.)", aria_label="Código da ação"),
            rx.input(name="entity", placeholder="Entidade (ex.: customer)", aria_label="Entidade"),
            rx.input(name="actor_email", placeholder="E-mail de quem fez", aria_label="E-mail de quem fez"),
            rx.button(rx.icon("filter"), "Filtrar", type="submit"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=on_submit,
        reset_on_submit=False,
    )
