"""Admin: custom field definitions ("Campos personalizados"): type, options, required, order, where shown."""

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields
from app.pages.base import SessionState, checked, page
from app.pages.crud import CrudMixin, crud_view, lines
from components.crud import Column, FormField

FLAGS = ("required", "show_in_list", "show_in_filters")


def _yes(flag: bool) -> str:
    return "Sim" if flag else "Não"


class CustomFieldsState(CrudMixin, SessionState):
    saved_new: ClassVar[str] = "Campo criado."
    saved_edit: ClassVar[str] = "Campo salvo."
    deleted: ClassVar[str] = "Campo excluído; os valores já gravados nos clientes foram mantidos."

    def _rows(self, db: Session, actor: Actor) -> list[dict[str, str]]:
        return [
            {
                "id": str(f.id),
                "key": f.key,
                "label": f.label,
                "type": f.type,
                "type_label": custom_fields.TYPES.get(f.type, f.type),
                "options": "\n".join(f.options),
                "options_label": ", ".join(f.options),
                "position": str(f.position),
                **{flag: "on" if getattr(f, flag) else "" for flag in FLAGS},
                "required_label": _yes(f.required),
                "shown_label": ", ".join(
                    where for where, on in (("lista", f.show_in_list), ("filtros", f.show_in_filters)) if on
                )
                or "—",
            }
            for f in custom_fields.list_fields(db, actor)
        ]

    def _blank(self) -> dict[str, str]:
        return {
            "key": "",
            "label": "",
            "type": "text",
            "options": "",
            "position": "0",
            "required": "",
            "show_in_list": "on",
            "show_in_filters": "on",
        }

    def _save(self, db: Session, actor: Actor, row_id: int | None, form: dict[str, Any]) -> None:
        common: dict[str, Any] = {
            "label": form.get("label", ""),
            "options": lines(form.get("options") or ""),
            "position": form.get("position") or 0,
            **{flag: checked(form, flag) for flag in FLAGS},
        }
        if row_id is None:
            custom_fields.create_field(
                db,
                actor,
                custom_fields.CustomFieldIn(key=form.get("key", ""), type=form.get("type") or "", **common),
            )
        else:
            custom_fields.update_field(db, actor, row_id, custom_fields.CustomFieldUpdate(**common))

    def _remove(self, db: Session, actor: Actor, row_id: int) -> None:
        custom_fields.delete_field(db, actor, row_id)


@page(
    "/admin/campos",
    "Campos personalizados",
    permission=Perm.CUSTOM_FIELDS_WRITE,
    nav=("Campos personalizados", "list-plus", 64),
    on_load=CustomFieldsState.load,
)
def custom_fields_page() -> rx.Component:
    return crud_view(
        CustomFieldsState,
        noun="campo",
        description=(
            "Campos extras do cadastro de clientes; a chave também vira a variável {{chave}} dos templates."
        ),
        columns=[
            Column("position", "Ordem", kind="muted"),
            Column("label", "Rótulo"),
            Column("key", "Chave", kind="code"),
            Column("type_label", "Tipo", kind="badge"),
            Column("options_label", "Opções", kind="muted"),
            Column("required_label", "Obrigatório"),
            Column("shown_label", "Aparece em"),
        ],
        fields=[
            FormField("label", "Rótulo", placeholder="Ex.: Vencimento da fatura"),
            FormField(
                "key",
                "Chave",
                placeholder="ex.: vencimento_fatura",
                hint="Letras minúsculas, números e _; não pode ser alterada depois.",
                create_only=True,
            ),
            FormField(
                "type",
                "Tipo",
                kind="select",
                options=list(custom_fields.TYPES.items()),
                create_only=True,
            ),
            FormField(
                "options",
                "Opções (uma por linha)",
                kind="textarea",
                hint="Só para o tipo Lista de opções.",
            ),
            FormField("position", "Ordem", kind="number"),
            FormField("required", "Obrigatório", kind="checkbox"),
            FormField("show_in_list", "Mostrar na lista de clientes", kind="checkbox"),
            FormField("show_in_filters", "Usar nos filtros", kind="checkbox"),
        ],
        slug="custom-field",
        new_label="Novo campo",
        delete_message="A definição some; os valores já gravados nos clientes ficam guardados.",
    )
