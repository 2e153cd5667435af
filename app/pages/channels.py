"""Admin: "Canais", the organisation's sending identities (WhatsApp numbers and sessions, e-mail accounts).

The form shows the fields of the chosen kind (app.messaging.kinds); secrets are password inputs that
start empty, marked "••••" when a value is stored: left empty, the stored secret is kept (the service
keeps secrets not re-sent). Secret values never reach the browser.
"""

import types
import typing
from typing import Any, ClassVar, Literal

import reflex as rx
from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Conflict, Invalid
from app.formatting import datetime_br
from app.messaging import channels
from app.messaging.kinds import KINDS
from app.pages.base import Events, SessionState, event, page
from app.pages.channel_session import session_links
from app.pages.crud import CrudMixin
from components.crud import Column, confirm_dialog, crud_table, crud_toolbar
from components.forms import field
from components.modal_form import modal_form, options_field
from components.types import Option, array_var

PREFIX = "cfg_"
MEDIUM_LABELS = {"whatsapp": "WhatsApp", "email": "E-mail"}
STATUS_COLORS = {"active": "green", "paused": "gray", "error": "red", "disconnected": "orange"}
FIELD_LABELS = {
    "phone_number_id": "ID do número (phone_number_id)",
    "waba_id": "ID da conta WhatsApp Business (WABA)",
    "display_phone": "Número exibido",
    "access_token": "Token de acesso",
    "app_secret": "App secret do app Meta",
    "verify_token": "Token de verificação do webhook",
    "api_base_url": "URL da API",
    "api_version": "Versão da API",
    "messages_per_second": "Mensagens por segundo",
    "daily_unique_recipients": "Destinatários únicos por 24 h (nível da Meta)",
    "server_url": "URL do servidor WPPConnect",
    "secret_key": "Chave secreta do servidor",
    "session": "Nome da sessão",
    "min_gap_s": "Intervalo mínimo entre envios (s)",
    "max_gap_s": "Intervalo máximo entre envios (s)",
    "daily_cap": "Limite diário de envios",
    "warmup": "Aquecimento gradual (número novo)",
    "api_key": "Chave de API",
    "from_email": "E-mail do remetente",
    "from_name": "Nome do remetente",
    "webhook_secret": "Segredo do webhook (whsec_…)",
    "host": "Servidor SMTP",
    "port": "Porta",
    "username": "Usuário",
    "password": "Senha",
    "security": "Segurança",
    "fail_every": "Falhar a cada N mensagens (0 = nunca)",
}
SECURITY_LABELS = {"starttls": "STARTTLS", "ssl": "SSL/TLS", "none": "Nenhuma"}


def _literal_options(annotation: Any) -> list[str] | None:
    """The choices of a Literal field (None allowed → no choice offered for it)."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for arg in args:
        if typing.get_origin(arg) is Literal:
            return [str(v) for v in typing.get_args(arg)]
    return None


def _spec(kind_name: str) -> list[dict[str, Any]]:
    """The inputs of one kind: name, label, kind of input and choices."""
    kind = KINDS[kind_name]
    specs = []
    for name, info in kind.config.model_fields.items():
        choices = _literal_options(info.annotation)
        if name in kind.secret_fields:
            widget = "secret"
        elif info.annotation is bool:
            widget = "checkbox"
        elif choices and name == "security":
            widget = "select"
        else:
            widget = "text"
        specs.append(
            {
                "name": name,
                "label": FIELD_LABELS.get(name, name),
                "widget": widget,
                "choices": choices or [],
                "required": info.is_required(),
            }
        )
    return specs


SPECS = {name: _spec(name) for name in KINDS}


def _coerce(kind_name: str, name: str, raw: str) -> Any:
    """A form's text as the config field wants it: numbers stay numbers where the field is numeric."""
    info = KINDS[kind_name].config.model_fields.get(name)
    if info is None or info.annotation is None:
        return raw
    adapter: TypeAdapter[Any] = TypeAdapter(info.annotation)
    for candidate in (raw, int(raw) if raw.lstrip("-").isdigit() else None):
        if candidate is None:
            continue
        try:
            adapter.validate_python(candidate)
            return candidate
        except ValidationError:
            continue
    return raw


def config_from_form(kind_name: str, form: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for spec in SPECS[kind_name]:
        key = PREFIX + spec["name"]
        if spec["widget"] == "checkbox":
            config[spec["name"]] = form.get(key) == "on"
            continue
        raw = str(form.get(key) or "").strip()
        if raw == "":
            # Empty: a secret keeps its stored value, a setting takes its default.
            continue
        config[spec["name"]] = _coerce(kind_name, spec["name"], raw)
    return config


def _renamed(fields: dict[str, str]) -> dict[str, str]:
    return {
        (PREFIX + k.removeprefix("config.") if k.startswith("config.") else k): v for k, v in fields.items()
    }


class ChannelsState(CrudMixin, SessionState):
    form_kind: str = "sandbox_whatsapp"
    secrets_set: list[str] = []

    saved_new: ClassVar[str] = "Canal criado."
    saved_edit: ClassVar[str] = "Canal salvo."
    deleted: ClassVar[str] = "Canal removido."

    def _rows(self, db: Session, actor: Actor) -> list[dict[str, str]]:
        rows = []
        for c in channels.list_channels(db, actor):
            row = {
                "id": str(c.id),
                "name": c.name,
                "kind": c.kind,
                "kind_label": c.kind_label,
                "medium_label": MEDIUM_LABELS.get(c.medium, c.medium),
                "status_label": c.status_label,
                "status_color": STATUS_COLORS.get(c.status, "orange"),
                "default_label": "Padrão" if c.is_default else "",
                "is_default": "on" if c.is_default else "",
                "secrets_set": ",".join(c.secrets_set),
                "updated": datetime_br(c.updated_at, actor.time_zone),
            }
            for key, value in c.config.items():
                secret = key in c.secrets_set or value == channels.MASK
                row[PREFIX + key] = (
                    ""
                    if secret
                    else ("on" if value is True else "" if value in (None, False) else str(value))
                )
            rows.append(row)
        return rows

    def _blank(self) -> dict[str, str]:
        return {"name": "", "is_default": ""}

    def _save(self, db: Session, actor: Actor, row_id: int | None, form: dict[str, Any]) -> None:
        kind = (
            self.form_kind
            if row_id is None
            else next((r["kind"] for r in self.rows if r["id"] == str(row_id)), "")
        )
        if kind not in KINDS:
            raise Invalid("kind", "Escolha o tipo de canal.")
        config = config_from_form(kind, form)
        try:
            if row_id is None:
                channels.create_channel(
                    db,
                    actor,
                    channels.ChannelIn(
                        kind=kind,
                        name=form.get("name", ""),
                        config=config,
                        is_default=form.get("is_default") == "on",
                    ),
                )
            else:
                channels.update_channel(
                    db,
                    actor,
                    row_id,
                    channels.ChannelUpdate(
                        name=form.get("name", ""), config=config, is_default=form.get("is_default") == "on"
                    ),
                )
        except Invalid as exc:
            raise Invalid(_renamed(exc.fields)) from exc
        except Conflict as exc:
            field_name = str(exc.details.get("field", ""))
            raise Conflict(
                exc.message, field=_renamed({field_name: ""}).popitem()[0] if field_name else ""
            ) from exc

    def _remove(self, db: Session, actor: Actor, row_id: int) -> None:
        channels.delete_channel(db, actor, row_id)

    @event
    def open_new(self) -> None:
        self.editing, self.form_values, self.errors, self.error = "", self._blank(), {}, ""
        self.secrets_set = []
        self.dialog_open = True

    @event
    def open_edit(self, row_id: str) -> None:
        row = next((r for r in self.rows if r["id"] == row_id), None)
        if row is None:
            return
        self.editing, self.form_values, self.errors, self.error = row_id, dict(row), {}, ""
        self.form_kind = row["kind"]
        self.secrets_set = [s for s in row["secrets_set"].split(",") if s]
        self.dialog_open = True

    @event
    def set_form_kind(self, kind: str) -> None:
        if kind in KINDS and self.editing == "":
            self.form_kind = kind
            self.errors = {}

    @event
    def make_default(self, row_id: str) -> Events:
        with self._calling() as call, self.db() as (db, actor):
            channels.update_channel(db, actor, int(row_id), channels.ChannelUpdate(is_default=True))
        if call.failed:
            return call.events
        if (failed := self.attempt(self._reload)) is not None:
            return failed
        return rx.toast.success("Canal padrão alterado.")


KIND_OPTIONS = [Option(name, kind.label) for name, kind in KINDS.items()]


def _config_input(spec: dict[str, Any]) -> rx.Component:
    s = ChannelsState
    name = PREFIX + spec["name"]
    error = s.errors.get(name, "")
    label = spec["label"] + (" *" if spec["required"] and spec["widget"] != "secret" else "")
    if spec["widget"] == "checkbox":
        return rx.checkbox(
            spec["label"], name=name, id=name, default_checked=s.form_values.get(name, "on") == "on"
        )
    if spec["widget"] == "select":
        return options_field(
            label,
            name,
            [Option(c, SECURITY_LABELS.get(c, c)) for c in spec["choices"]],
            error,
            default=s.form_values.get(name, spec["choices"][0]),
        )
    if spec["widget"] == "secret":
        return field(
            spec["label"],
            name,
            error,
            type="password",
            auto_complete="new-password",
            # "••••" says a value is stored; typing replaces it, leaving it empty keeps it.
            placeholder=rx.cond(
                array_var(s.secrets_set).contains(spec["name"]),
                channels.MASK,
                "obrigatório" if spec["required"] else "",
            ),
        )
    return field(label, name, error, default_value=s.form_values.get(name, ""))


def _kind_fields(kind_name: str) -> rx.Component:
    return rx.vstack(*[_config_input(spec) for spec in SPECS[kind_name]], spacing="3", width="100%")


def channel_form() -> rx.Component:
    s = ChannelsState
    return modal_form(
        rx.cond(s.creating, "Novo canal", "Editar canal"),
        s.dialog_open,
        s.set_dialog,
        s.submit,
        rx.cond(
            s.creating,
            options_field(
                "Tipo",
                "kind",
                KIND_OPTIONS,
                s.errors.get("kind", ""),
                value=s.form_kind,
                on_change=s.set_form_kind,
            ),
        ),
        field("Nome *", "name", s.errors.get("name", ""), default_value=s.form_values.get("name", "")),
        rx.match(s.form_kind, *[(name, _kind_fields(name)) for name in KINDS], rx.fragment()),
        rx.checkbox(
            "Canal padrão para este meio (WhatsApp ou e-mail)",
            name="is_default",
            id="is_default",
            default_checked=s.form_values.get("is_default", "") == "on",
        ),
        error=s.error,
        form_id="channel-form",
    )


@page(
    "/admin/canais",
    "Canais",
    permission=Perm.CHANNELS_MANAGE,
    nav=("Canais", "radio-tower", 65),
    on_load=ChannelsState.load,
)
def channels_page() -> rx.Component:
    s = ChannelsState
    return rx.vstack(
        crud_toolbar(
            "Números de WhatsApp, sessões e contas de e-mail usados para falar com os clientes. "
            "As credenciais ficam criptografadas e nunca são exibidas.",
            "Novo canal",
            s.open_new,
            "new-channel",
        ),
        crud_table(
            s.rows,
            [
                Column("name", "Nome"),
                Column("kind_label", "Tipo"),
                Column("medium_label", "Meio", kind="badge"),
                Column("status_label", "Status", kind="badge", color_key="status_color"),
                Column("default_label", "Padrão", kind="badge"),
                Column("updated", "Atualizado em", kind="muted"),
            ],
            on_edit=s.open_edit,
            on_delete=s.ask_delete,
            on_open=s.make_default,
            open_label="Tornar padrão",
            table_id="channel-table",
            empty_text="Nenhum canal configurado ainda.",
        ),
        session_links(
            s.rows
        ),  # WPPConnect: start the session, read its QR code (app/pages/channel_session.py)
        channel_form(),
        confirm_dialog(
            "Remover canal?",
            "O canal deixa de enviar e receber mensagens; o histórico é mantido.",
            s.confirm_open,
            s.set_confirm,
            s.confirm_delete,
            confirm_id="channel-confirm-delete",
        ),
        width="100%",
        spacing="4",
    )
