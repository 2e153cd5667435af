"""Superadmin: tenants with usage, create / suspend / reactivate (the audit log: platform_audit.py)."""

from dataclasses import dataclass

import reflex as rx
from reflex.vars import ObjectVar

from app.auth.permissions import Perm
from app.formatting import label, number_br
from app.pages.base import Events, SessionState, event, page
from app.platform import admin
from app.platform.provisioning import SignupInput, provision_tenant
from components.forms import field
from components.modal_form import modal_form
from tenants.queues import queue_stats

STATUS_LABELS = {
    "active": "Ativa",
    "suspended": "Suspensa",
    "provisioning": "Provisionando",
    "unconfirmed": "Aguardando confirmação",
}


@dataclass
class TenantRow:
    slug: str
    name: str
    status: str
    status_label: str
    schema: str
    users: str
    customers: str
    plan: str


class PlatformState(SessionState):
    tenants: list[TenantRow] = []
    dialog_open: bool = False
    errors: dict[str, str] = {}
    error: str = ""
    queue: str = ""

    def _reload(self) -> None:
        stats = queue_stats()
        self.queue = f"Fila de tarefas: {stats.backend}" + (
            f", {stats.pending} pendentes" if stats.pending is not None else ""
        )
        with self.platform_db() as (db, actor):
            self.tenants = [
                TenantRow(
                    slug=t.slug,
                    name=t.name,
                    status=t.status,
                    status_label=label(t.status, STATUS_LABELS),
                    schema=t.schema or "",
                    users=number_br(t.users),
                    customers=number_br(t.customers),
                    plan=t.plan,
                )
                for t in admin.list_tenants(db, actor)
            ]

    @event
    def load(self) -> Events:
        return self.attempt(self._reload)

    @event
    def set_status(self, slug: str, status: str) -> Events:
        with self._calling() as call, self.platform_db() as (db, actor):
            admin.set_status(db, actor, slug, status)
        if call.failed:
            return call.events
        self._reload()
        return rx.toast.success(
            "Organização suspensa." if status == "suspended" else "Organização reativada."
        )

    @event
    def set_dialog(self, open_: bool) -> None:
        self.dialog_open = open_
        self.errors, self.error = {}, ""

    @event
    def create(self, form: dict[str, str]) -> Events:
        self.errors, self.error = {}, ""
        with self._calling(fields="errors", message="error") as call:
            actor = self.actor()
            provision_tenant(
                SignupInput(
                    form.get("name", ""),
                    form.get("slug", ""),
                    form.get("admin_name", ""),
                    form.get("admin_email", ""),
                    form.get("admin_password", ""),
                ),
                actor=actor,
            )
        if call.failed:
            return call.events
        self.dialog_open = False
        self._reload()
        return rx.toast.success("Organização criada.")


def tenant_row(t: ObjectVar[TenantRow]) -> rx.Component:
    active = t.status == "active"
    return rx.table.row(
        rx.table.cell(rx.code(t.slug)),
        rx.table.cell(t.name),
        rx.table.cell(rx.badge(t.status_label, color_scheme=rx.cond(active, "green", "orange"))),
        rx.table.cell(t.schema),
        rx.table.cell(t.users),
        rx.table.cell(t.customers),
        rx.table.cell(
            rx.cond(
                active,
                rx.button(
                    "Suspender",
                    size="1",
                    color_scheme="red",
                    variant="soft",
                    on_click=PlatformState.set_status(t.slug, "suspended"),
                ),
                rx.button(
                    "Reativar",
                    size="1",
                    color_scheme="green",
                    variant="soft",
                    on_click=PlatformState.set_status(t.slug, "active"),
                ),
            )
        ),
        id=f"tenant-{t.slug}",
    )


def create_dialog() -> rx.Component:
    e = PlatformState.errors
    return modal_form(
        "Nova organização",
        PlatformState.dialog_open,
        PlatformState.set_dialog,
        PlatformState.create,
        field("Nome", "name", e.get("name", "")),
        field("Identificador (slug)", "slug", e.get("slug", "")),
        field("Nome do administrador", "admin_name", e.get("admin_name", "")),
        field("E-mail do administrador", "admin_email", e.get("admin_email", ""), input_mode="email"),
        field("Senha inicial", "admin_password", e.get("admin_password", ""), type="password"),
        error=PlatformState.error,
        submit_label="Criar",
        trigger=rx.button(rx.icon("building-2"), "Nova organização"),
        submit_id="create-tenant",
        cancel_id="cancel-tenant",
    )


@page(
    "/plataforma",
    "Plataforma",
    permission=Perm.PLATFORM_MANAGE,
    superadmin=True,
    nav=("Organizações", "building-2", 10),
    on_load=PlatformState.load,
)
def platform_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Organizações", size="4", as_="h2"),
            rx.spacer(),
            rx.badge(PlatformState.queue, id="queue-stats"),
            create_dialog(),
            width="100%",
            align="center",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Slug", "Nome", "Situação", "Schema", "Usuários", "Clientes", "")
                    ]
                )
            ),
            rx.table.body(rx.foreach(PlatformState.tenants, tenant_row)),
            width="100%",
            id="tenants-table",
        ),
        width="100%",
        spacing="4",
    )
