"""Admin: e-mail and WhatsApp templates ("Templates") with the Portuguese variables they may use."""

from dataclasses import dataclass
from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields, customers, templates
from app.formatting import datetime_br
from app.pages.base import Events, SessionState, event, page
from app.pages.crud import CrudMixin, crud_view
from components.crud import Column, FormField
from components.template_preview import PreviewPart, customer_picker, template_preview_dialog
from components.types import Option

SAMPLE_LABEL = "exemplo (nenhum cliente escolhido)"


@dataclass
class Variable:
    """A {{variable}} a template may use, and what it stands for."""

    name: str
    label: str


class TemplatesState(CrudMixin, SessionState):
    # {{variable}} chips shown in the form: built-ins plus this tenant's custom field keys.
    variables: list[Variable] = []

    saved_new: ClassVar[str] = "Template criado."
    saved_edit: ClassVar[str] = "Template salvo."
    deleted: ClassVar[str] = "Template excluído."

    def _extra_load(self, db: Session, actor: Actor) -> None:
        self.variables = [Variable("{{" + k + "}}", v) for k, v in templates.BUILTIN_VARIABLES.items()] + [
            Variable("{{" + d.key + "}}", d.label) for d in custom_fields.list_fields(db, actor)
        ]

    def _rows(self, db: Session, actor: Actor) -> list[dict[str, str]]:
        return [
            {
                "id": str(t.id),
                "name": t.name,
                "channel": t.channel,
                "channel_label": templates.CHANNELS.get(t.channel, t.channel),
                "subject": t.subject or "",
                "body": t.body,
                "provider_name": t.provider_name or "",
                "language": t.language,
                "variables_label": " ".join("{{" + v + "}}" for v in t.variables),
                "updated": datetime_br(t.updated_at, actor.time_zone),
            }
            for t in templates.list_templates(db, actor)
        ]

    def _blank(self) -> dict[str, str]:
        return {
            "name": "",
            "channel": "whatsapp",
            "subject": "",
            "body": "",
            "provider_name": "",
            "language": "pt_BR",
        }

    def _save(self, db: Session, actor: Actor, row_id: int | None, form: dict[str, Any]) -> None:
        data = templates.TemplateIn(
            name=form.get("name", ""),
            channel=form.get("channel") or "",
            subject=(form.get("subject") or "").strip() or None,
            body=form.get("body", ""),
            provider_name=(form.get("provider_name") or "").strip() or None,
            language=(form.get("language") or "").strip() or "pt_BR",
        )
        if row_id is None:
            templates.create_template(db, actor, data)
        else:
            templates.update_template(db, actor, row_id, data)

    def _remove(self, db: Session, actor: Actor, row_id: int) -> None:
        templates.delete_template(db, actor, row_id)

    # ---- preview ------------------------------------------------------------------------
    preview_open: bool = False
    preview_id: str = ""
    preview_title: str = ""
    preview_customer: str = ""  # customer id; "" = sample values
    preview_customer_label: str = SAMPLE_LABEL
    preview_query: str = ""
    preview_options: list[Option] = []
    preview_subject: list[PreviewPart] = []
    preview_body: list[PreviewPart] = []
    preview_unknown: str = ""
    preview_empty: str = ""

    def _render_preview(self) -> Events:
        customer_id = int(self.preview_customer) if self.preview_customer.isdigit() else None
        with self._calling() as call, self.db() as (db, actor):
            result = templates.preview_template(db, actor, int(self.preview_id), customer_id=customer_id)
        if call.failed:
            return call.events

        def plain(parts: list[templates.PreviewPart]) -> list[PreviewPart]:
            return [PreviewPart(text=p.text, kind=p.kind, variable=p.variable or "") for p in parts]

        def braces(names: list[str]) -> str:
            return ", ".join("{{" + n + "}}" for n in names)

        self.preview_subject, self.preview_body = plain(result.subject_parts), plain(result.body_parts)
        self.preview_customer_label = result.customer_name or SAMPLE_LABEL
        self.preview_unknown = (
            f"Variáveis desconhecidas (sairiam vazias): {braces(result.unknown)}." if result.unknown else ""
        )
        self.preview_empty = (
            f"Sem valor para este cliente (sairiam vazias): {braces(result.empty)}." if result.empty else ""
        )
        return None

    @event
    def open_preview(self, row_id: str) -> Events:
        row = next((r for r in self.rows if r["id"] == row_id), None)
        if row is None:
            return None
        self.preview_id, self.preview_title = row_id, row["name"]
        self.preview_query, self.preview_options = "", []
        self.preview_open = True
        # Keep the customer chosen for the previous template: comparing templates for one customer.
        return self._render_preview()

    @event
    def set_preview_open(self, open_: bool) -> None:
        self.preview_open = open_

    @event
    def search_preview_customer(self, text: str) -> Events:
        self.preview_query = text
        if len(text.strip()) < 2:
            self.preview_options = []
            return None
        with self._calling() as call, self.db() as (db, actor):
            page_ = customers.list_customers(db, actor, customers.CustomerQuery(text=text.strip(), limit=8))
        if call.failed:
            return call.events
        self.preview_options = [Option(str(r.id), r.name) for r in page_.rows]
        return None

    @event
    def choose_preview_customer(self, customer_id: str) -> Events:
        self.preview_customer = customer_id if customer_id.isdigit() else ""
        self.preview_query, self.preview_options = "", []
        return self._render_preview()

    @event
    def clear_preview_customer(self) -> Events:
        self.preview_customer = ""
        return self._render_preview()


def variables_help() -> rx.Component:
    return rx.vstack(
        rx.text("Variáveis disponíveis", size="2", weight="medium"),
        rx.flex(
            rx.foreach(
                TemplatesState.variables,
                lambda v: rx.tooltip(rx.code(v.name, size="1"), content=v.label),
            ),
            wrap="wrap",
            gap="6px",
        ),
        rx.text(
            "Escreva a variável no texto, ex.: Olá {{nome}}, seu plano {{plano_atual}}...",
            size="1",
            color_scheme="gray",
        ),
        spacing="1",
        width="100%",
        id="template-variables",
    )


@page(
    "/admin/templates",
    "Templates",
    permission=Perm.TEMPLATES_WRITE,
    nav=("Templates", "file-text", 66),
    on_load=TemplatesState.load,
)
def templates_page() -> rx.Component:
    s = TemplatesState
    preview = template_preview_dialog(
        s.preview_open,
        s.set_preview_open,
        s.preview_title,
        s.preview_subject,
        s.preview_body,
        s.preview_unknown,
        s.preview_empty,
        customer_picker(
            s.preview_customer_label,
            s.preview_query,
            s.search_preview_customer,
            s.preview_options,
            s.choose_preview_customer,
            s.clear_preview_customer,
        ),
    )
    return rx.fragment(templates_crud(), preview)


def templates_crud() -> rx.Component:
    return crud_view(
        TemplatesState,
        noun="template",
        description=(
            "Mensagens prontas de e-mail e WhatsApp; as variáveis são preenchidas com os dados do cliente."
        ),
        columns=[
            Column("name", "Nome"),
            Column("channel_label", "Canal", kind="badge"),
            Column("subject", "Assunto"),
            Column("variables_label", "Variáveis", kind="code"),
            Column("updated", "Atualizado em", kind="muted"),
        ],
        fields=[
            FormField("name", "Nome"),
            FormField("channel", "Canal", kind="select", options=list(templates.CHANNELS.items())),
            FormField("subject", "Assunto (e-mail)"),
            FormField("body", "Texto", kind="textarea", placeholder="Olá {{nome}}, ..."),
            FormField(
                "provider_name",
                "Nome do template aprovado na Meta (opcional)",
                hint="Só para WhatsApp Cloud API.",
            ),
            FormField("language", "Idioma", placeholder="pt_BR"),
        ],
        slug="template",
        new_label="Novo template",
        on_open=TemplatesState.open_preview,
        open_label="Pré-visualizar",
        form_extra=variables_help(),
    )
