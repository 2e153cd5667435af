"""Admin: e-mail and WhatsApp templates ("Templates") with the Portuguese variables they may use."""

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields, templates
from app.pages.base import SessionState, page
from app.pages.crud import CrudMixin, crud_view
from components.crud import Column, FormField


class TemplatesState(CrudMixin, SessionState):
    # {{variable}} chips shown in the form: built-ins plus this tenant's custom field keys.
    variables: list[dict[str, str]] = []

    saved_new: ClassVar[str] = "Template criado."
    saved_edit: ClassVar[str] = "Template salvo."
    deleted: ClassVar[str] = "Template excluído."

    def _extra_load(self, db: Session, actor: Actor) -> None:
        self.variables = [
            {"name": "{{" + k + "}}", "label": v} for k, v in templates.BUILTIN_VARIABLES.items()
        ] + [{"name": "{{" + d.key + "}}", "label": d.label} for d in custom_fields.list_fields(db, actor)]

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
                "updated": t.updated_at.strftime("%d/%m/%Y %H:%M"),
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


def variables_help() -> rx.Component:
    return rx.vstack(
        rx.text("Variáveis disponíveis", size="2", weight="medium"),
        rx.flex(
            rx.foreach(
                TemplatesState.variables,
                lambda v: rx.tooltip(rx.code(v["name"], size="1"), content=v["label"]),
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
        form_extra=variables_help(),
    )
