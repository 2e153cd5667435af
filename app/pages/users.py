"""Admin: users of the organisation ("Usuários"): create, change role, deactivate, reset password; and the
organisation's time zone (every date its users read is shown in it)."""

from dataclasses import dataclass

import reflex as rx
from reflex.vars import ObjectVar

from app.auth import time_zones, users
from app.auth.permissions import ROLE_LABELS, TENANT_ROLES, Perm
from app.formatting import time_zone_choices
from app.pages.base import Events, SessionState, event, page
from components.forms import field, field_label, form_error, select_field
from components.modal_form import modal_form

ROLE_OPTIONS = [(r.value, ROLE_LABELS[r]) for r in TENANT_ROLES]
_LABELS = {r.value: ROLE_LABELS[r] for r in TENANT_ROLES}


@dataclass
class UserRow:
    id: str
    name: str
    email: str
    role: str
    status: str
    team: str


class UsersState(SessionState):
    rows: list[UserRow] = []
    dialog_open: bool = False
    errors: dict[str, str] = {}
    error: str = ""
    reset_user_id: str = ""
    org_time_zone: str = ""
    time_zone_error: str = ""

    def _reload(self) -> None:
        with self.db() as (db, actor):
            self.org_time_zone = time_zones.get_time_zones(db, actor).organisation
            self.rows = [
                UserRow(
                    id=str(u.id),
                    name=u.name,
                    email=u.email,
                    role=_LABELS.get(u.role, u.role),
                    status="Ativo" if u.status == "active" else "Inativo",
                    team=u.team or "",
                )
                for u in users.list_users(db, actor)
            ]

    @event
    def load(self) -> Events:
        return self.attempt(self._reload)

    @event
    def set_dialog(self, open_: bool) -> None:
        self.dialog_open = open_
        self.errors, self.error = {}, ""

    @event
    def create(self, form: dict[str, str]) -> Events:
        self.errors, self.error = {}, ""
        with self._calling(fields="errors", message="error") as call, self.db() as (db, actor):
            users.create_user(
                db,
                actor,
                users.UserInput(
                    email=form.get("email", ""),
                    name=form.get("name", ""),
                    role=form.get("role", "agent"),
                    password=form.get("password", ""),
                    team=form.get("team") or None,
                ),
            )
        if call.failed:
            return call.events
        self.dialog_open = False
        self._reload()
        return rx.toast.success("Usuário criado.")

    @event
    def toggle_active(self, user_id: str, active: bool) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            users.set_active(db, actor, int(user_id), active)
        if call.failed:
            return call.events
        self._reload()
        return rx.toast.success("Usuário reativado." if active else "Usuário desativado.")

    @event
    def set_org_time_zone(self, value: str) -> None:
        self.org_time_zone, self.time_zone_error = value, ""

    @event
    def save_time_zone(self, form: dict[str, str]) -> Events:
        self.time_zone_error = ""
        with self._calling(invalid="time_zone_error") as call, self.db() as (db, actor):
            tenant = time_zones.set_organisation_zone(db, actor, form.get("time_zone", ""))
            self.org_time_zone = tenant.time_zone
        if call.failed:
            return call.events
        return rx.toast.success("Fuso horário da organização salvo.")

    @event
    def open_reset(self, user_id: str) -> None:
        self.reset_user_id = user_id
        self.error = ""

    @event
    def close_reset(self, _open: bool = False) -> None:
        self.reset_user_id = ""

    @event
    def reset_password(self, form: dict[str, str]) -> Events:
        with self._calling(message="error") as call, self.db() as (db, actor):
            users.reset_password(db, actor, int(self.reset_user_id), form.get("password", ""))
        if call.failed:
            return call.events
        self.reset_user_id = ""
        return rx.toast.success("Senha redefinida; as sessões do usuário foram encerradas.")


def create_dialog() -> rx.Component:
    e = UsersState.errors
    return modal_form(
        "Novo usuário",
        UsersState.dialog_open,
        UsersState.set_dialog,
        UsersState.create,
        field("Nome", "name", e.get("name", "")),
        field("E-mail", "email", e.get("email", ""), input_mode="email"),
        select_field("Perfil", "role", ROLE_OPTIONS, "agent", e.get("role", "")),
        field("Equipe (opcional)", "team", e.get("team", "")),
        field("Senha inicial", "password", e.get("password", ""), type="password"),
        error=UsersState.error,
        trigger=rx.button(rx.icon("user-plus"), "Novo usuário", id="new-user"),
        submit_id="save-user",
    )


def reset_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Redefinir senha"),
            rx.form(
                rx.vstack(
                    field("Nova senha", "password", type="password"),
                    form_error(UsersState.error),
                    rx.hstack(rx.button("Redefinir", type="submit"), justify="end", width="100%"),
                    spacing="3",
                ),
                on_submit=UsersState.reset_password,
            ),
        ),
        open=UsersState.reset_user_id != "",
        on_open_change=UsersState.close_reset,
    )


def user_row(u: ObjectVar[UserRow]) -> rx.Component:
    active = u.status == "Ativo"
    return rx.table.row(
        rx.table.cell(u.name),
        rx.table.cell(u.email),
        rx.table.cell(rx.badge(u.role)),
        rx.table.cell(u.team),
        rx.table.cell(rx.badge(u.status, color_scheme=rx.cond(active, "green", "gray"))),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.cond(active, "Desativar", "Reativar"),
                    size="1",
                    variant="soft",
                    color_scheme=rx.cond(active, "red", "green"),
                    on_click=UsersState.toggle_active(u.id, ~active),
                ),
                rx.button("Redefinir senha", size="1", variant="soft", on_click=UsersState.open_reset(u.id)),
            )
        ),
    )


def time_zone_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.vstack(
                field_label("Fuso horário da organização", "time_zone"),
                rx.el.select(
                    *[rx.el.option(z.replace("_", " "), value=z) for z in time_zone_choices()],
                    name="time_zone",
                    id="time_zone",
                    value=UsersState.org_time_zone,
                    on_change=UsersState.set_org_time_zone,
                    style={"padding": "6px 8px", "border_radius": "6px", "min_width": "260px"},
                ),
                rx.text(
                    "Datas e horários aparecem neste fuso para todos os usuários (telas e exportações).",
                    size="1",
                    color_scheme="gray",
                ),
                rx.cond(
                    UsersState.time_zone_error != "",
                    rx.text(
                        UsersState.time_zone_error, color_scheme="red", size="1", class_name="field-error"
                    ),
                ),
                spacing="1",
            ),
            rx.button("Salvar fuso", type="submit", id="save-time-zone"),
            align="center",
            spacing="3",
        ),
        on_submit=UsersState.save_time_zone,
        reset_on_submit=False,
        id="time-zone-form",
    )


@page(
    "/admin/usuarios",
    "Usuários",
    permission=Perm.USERS_MANAGE,
    nav=("Usuários", "users-round", 80),
    on_load=UsersState.load,
)
def users_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.spacer(), create_dialog(), width="100%"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Nome", "E-mail", "Perfil", "Equipe", "Situação", "Ações")
                    ]
                )
            ),
            rx.table.body(rx.foreach(UsersState.rows, user_row)),
            width="100%",
            id="users-table",
        ),
        reset_dialog(),
        rx.card(time_zone_form(), width="100%"),
        width="100%",
        spacing="4",
    )
