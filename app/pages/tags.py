"""Admin: tags ("Etiquetas"): create, rename/recolour (propagates to customers), delete."""

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import tags
from app.pages.base import SessionState, page
from app.pages.crud import CrudMixin, crud_view
from components.crud import Column, FormField

COLOR_LABELS = {
    "gray": "Cinza",
    "red": "Vermelho",
    "orange": "Laranja",
    "yellow": "Amarelo",
    "green": "Verde",
    "teal": "Verde-azulado",
    "blue": "Azul",
    "purple": "Roxo",
    "pink": "Rosa",
}
COLUMNS = [Column("name", "Nome", kind="badge", color_key="color"), Column("color_label", "Cor")]
FIELDS = [
    FormField("name", "Nome"),
    FormField("color", "Cor", kind="select", options=[(c, COLOR_LABELS.get(c, c)) for c in tags.COLORS]),
]


class TagsState(CrudMixin, SessionState):
    saved_new: ClassVar[str] = "Etiqueta criada."
    saved_edit: ClassVar[str] = "Etiqueta salva; os clientes com ela foram atualizados."
    deleted: ClassVar[str] = "Etiqueta excluída e retirada dos clientes."

    def _rows(self, db: Session, actor: Actor) -> list[dict[str, str]]:
        return [
            {
                "id": str(t.id),
                "name": t.name,
                "color": t.color,
                "color_label": COLOR_LABELS.get(t.color, t.color),
            }
            for t in tags.list_tags(db, actor)
        ]

    def _blank(self) -> dict[str, str]:
        return {"name": "", "color": "purple"}

    def _save(self, db: Session, actor: Actor, row_id: int | None, form: dict[str, Any]) -> None:
        data = tags.TagIn(name=form.get("name", ""), color=form.get("color") or "purple")
        if row_id is None:
            tags.create_tag(db, actor, data)
        else:
            tags.update_tag(db, actor, row_id, data)

    def _remove(self, db: Session, actor: Actor, row_id: int) -> None:
        tags.delete_tag(db, actor, row_id)


@page(
    "/admin/etiquetas",
    "Etiquetas",
    permission=Perm.TAGS_WRITE,
    nav=("Etiquetas", "tags", 60),
    on_load=TagsState.load,
)
def tags_page() -> rx.Component:
    return crud_view(
        TagsState,
        noun="etiqueta",
        description="Etiquetas marcam clientes para filtros, segmentos e ações em massa.",
        columns=COLUMNS,
        fields=FIELDS,
        slug="tag",
        new_label="Nova etiqueta",
        delete_message="A etiqueta será retirada de todos os clientes que a usam.",
    )
