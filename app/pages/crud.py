"""What the admin CRUD screens share: a state mixin (list, create/edit modal, delete confirmation, errors
translated once) and the view that binds it to components/crud.py.

A Reflex mixin copies its vars and handlers into each screen's state (declared `(CrudMixin, SessionState)`:
a state whose bases are all mixins is itself a mixin), so two screens never share rows
or an open dialog. A screen supplies `_rows`, `_save` and `_remove`, each calling one service.
"""

from typing import Any, ClassVar

import reflex as rx
from reflex.event import EventCallback
from sqlmodel import Session

from app.auth.actor import Actor
from app.pages.base import Events, SessionState, event
from components.crud import Column, FormField, confirm_dialog, crud_form, crud_table, crud_toolbar


def lines(raw: str) -> list[str]:
    """Options typed one per line (commas also separate), blanks dropped; the service checks repeats."""
    return [part.strip() for line in raw.splitlines() for part in line.split(",") if part.strip()]


class CrudMixin(SessionState, mixin=True):
    # A dict per row, not a model: each admin screen has its own columns (Column.key -> text).
    rows: list[dict[str, str]] = []
    dialog_open: bool = False
    editing: str = ""  # id of the row in the modal; "" while creating
    form_values: dict[str, str] = {}
    errors: dict[str, str] = {}
    error: str = ""
    confirm_id: str = ""

    saved_new: ClassVar[str] = "Cadastrado."
    saved_edit: ClassVar[str] = "Alterações salvas."
    deleted: ClassVar[str] = "Excluído."

    # ---- what each screen supplies -------------------------------------------------------
    def _rows(self, db: Session, actor: Actor) -> list[dict[str, str]]:
        raise NotImplementedError

    def _blank(self) -> dict[str, str]:
        """Initial values of the create form."""
        return {}

    def _save(self, db: Session, actor: Actor, row_id: int | None, form: dict[str, Any]) -> None:
        raise NotImplementedError

    def _remove(self, db: Session, actor: Actor, row_id: int) -> None:
        raise NotImplementedError

    def _extra_load(self, db: Session, actor: Actor) -> None:
        """Options the form needs (users, custom field keys...); loaded with the rows."""

    # ---- shared behaviour -------------------------------------------------------------------
    def _reload(self) -> None:
        with self.db() as (db, actor):
            self._extra_load(db, actor)
            self.rows = self._rows(db, actor)

    @event
    def load(self) -> Events:
        self.dialog_open, self.confirm_id = False, ""
        return self.attempt(self._reload)

    @event
    def open_new(self) -> None:
        self.editing, self.form_values, self.errors, self.error = "", self._blank(), {}, ""
        self.dialog_open = True

    @event
    def open_edit(self, row_id: str) -> None:
        row = next((r for r in self.rows if r["id"] == row_id), None)
        if row is None:
            return
        self.editing, self.form_values, self.errors, self.error = row_id, dict(row), {}, ""
        self.dialog_open = True

    @event
    def set_dialog(self, open_: bool) -> None:
        self.dialog_open = open_
        if not open_:
            self.errors, self.error = {}, ""

    @event
    def submit(self, form: dict[str, Any]) -> Events:
        """Create or update through the service; field problems go under their inputs."""
        self.errors, self.error = {}, ""
        creating = self.editing == ""
        # A Conflict naming its field (duplicate name/key) belongs under that input too.
        with self._calling(fields="errors", field_conflicts=True) as call, self.db() as (db, actor):
            self._save(db, actor, None if creating else int(self.editing), form)
        if call.failed:
            return call.events
        self.dialog_open = False
        if (failed := self.attempt(self._reload)) is not None:
            return failed
        return rx.toast.success(self.saved_new if creating else self.saved_edit)

    @event
    def ask_delete(self, row_id: str) -> None:
        self.confirm_id = row_id

    @event
    def set_confirm(self, open_: bool) -> None:
        if not open_:
            self.confirm_id = ""

    @event
    def confirm_delete(self) -> Events:
        row_id, self.confirm_id = self.confirm_id, ""
        if not row_id.isdigit():
            return None
        with self._calling() as call:
            with self.db() as (db, actor):
                self._remove(db, actor, int(row_id))
            self._reload()
        if call.failed:
            return call.events
        return rx.toast.success(self.deleted)

    @rx.var
    def creating(self) -> bool:
        return self.editing == ""

    @rx.var
    def confirm_open(self) -> bool:
        return self.confirm_id != ""


def crud_view(
    state: type[CrudMixin],
    *,
    noun: str,
    description: str,
    columns: list[Column],
    fields: list[FormField],
    slug: str,
    new_label: str = "",
    delete_message: str = "Esta ação não pode ser desfeita.",
    can_create: bool = True,
    on_open: EventCallback[str] | None = None,
    open_label: str = "Abrir",
    form_extra: rx.Component | None = None,
) -> rx.Component:
    """A whole admin screen for `state` (a CrudMixin screen); ids derive from `slug` for tests."""
    return rx.vstack(
        crud_toolbar(description, new_label, state.open_new if can_create else None, f"new-{slug}"),
        crud_table(
            state.rows,
            columns,
            on_edit=state.open_edit,
            on_delete=state.ask_delete,
            on_open=on_open,
            open_label=open_label,
            table_id=f"{slug}-table",
        ),
        crud_form(
            rx.cond(state.creating, new_label or f"Cadastrar {noun}", f"Editar {noun}"),
            state.dialog_open,
            state.set_dialog,
            state.submit,
            fields,
            state.form_values,
            state.errors,
            state.error,
            state.creating,
            form_id=f"{slug}-form",
            extra=form_extra,
        ),
        confirm_dialog(
            f"Excluir {noun}?",
            delete_message,
            state.confirm_open,
            state.set_confirm,
            state.confirm_delete,
            confirm_id=f"{slug}-confirm-delete",
        ),
        width="100%",
        spacing="4",
    )
