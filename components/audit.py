"""Audit log table (tenant and platform share it)."""

from dataclasses import dataclass

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
    action: str
    entity: str
    before: str
    after: str
    ip: str
    tenant: str = ""


def audit_table(rows: StateVar[list[AuditRow]], show_tenant: bool = False) -> rx.Component:
    headers = ["Quando", "Quem", "Ação", "Entidade", "Antes", "Depois", "IP"]
    if show_tenant:
        headers.insert(1, "Organização")

    def row(r: ObjectVar[AuditRow]) -> rx.Component:
        cells = [
            rx.table.cell(r.at, white_space="nowrap"),
            rx.table.cell(r.actor),
            rx.table.cell(rx.code(r.action)),
            rx.table.cell(r.entity),
            rx.table.cell(rx.text(r.before, size="1", font_family="monospace", max_width="280px")),
            rx.table.cell(rx.text(r.after, size="1", font_family="monospace", max_width="280px")),
            rx.table.cell(r.ip),
        ]
        if show_tenant:
            cells.insert(1, rx.table.cell(r.tenant))
        return rx.table.row(*cells)

    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(rows, row)),
        width="100%",
        size="1",
        id="audit-table",
    )


def audit_filters(on_submit: EventType[dict[str, str]]) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="action", placeholder="Ação (ex.: user.)", aria_label="Ação"),
            rx.input(name="entity", placeholder="Entidade (ex.: customer)", aria_label="Entidade"),
            rx.input(name="actor_email", placeholder="E-mail de quem fez", aria_label="E-mail de quem fez"),
            rx.button(rx.icon("filter"), "Filtrar", type="submit"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=on_submit,
        reset_on_submit=False,
    )
