"""Segments ("Segmentos"): saved customer filters; rename, share, delete, open in the customers list.

New segments are saved from /clientes ("Salvar como segmento"), where the filter is built.
"""

from typing import Any, ClassVar

import reflex as rx
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import segments
from app.crm.customers import STATUSES, CustomerFilter
from app.errors import NotFound
from app.formatting import datetime_br
from app.pages.base import Events, SessionState, checked, event, page
from app.pages.crud import CrudMixin, crud_view
from components.crud import Column, FormField

_LABELS = {
    "text": "busca",
    "status": "status",
    "plan": "plano",
    "tags": "etiquetas",
    "wallet_id": "carteira",
    "owner_id": "responsável",
    "score_min": "score mínimo",
    "score_max": "score máximo",
    "created_from": "criado desde",
    "created_to": "criado até",
    "updated_from": "atualizado desde",
    "updated_to": "atualizado até",
}


def describe(filters: dict[str, Any]) -> str:
    """A short pt-BR summary of a stored filter, e.g. "status: Ativo · etiquetas: VIP"."""
    parts = []
    for key, value in filters.items():
        if key == "custom" and isinstance(value, dict):
            parts += [f"{k}: {v}" for k, v in value.items()]
            continue
        if key == "status":
            value = [STATUSES.get(s, s) for s in value]
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        parts.append(f"{_LABELS.get(key, key)}: {shown}")
    return " · ".join(parts) or "todos os clientes"


class SegmentsState(CrudMixin, SessionState):
    saved_edit: ClassVar[str] = "Segmento salvo."
    deleted: ClassVar[str] = "Segmento excluído."

    def _rows(self, db: Session, actor: Actor) -> list[dict[str, str]]:
        return [
            {
                "id": str(s.id),
                "name": s.name,
                "filters": describe(s.filters),
                "shared": "on" if s.shared else "",
                "shared_label": "Equipe" if s.shared else "Só eu",
                "updated": datetime_br(s.updated_at, actor.time_zone),
            }
            for s in segments.list_segments(db, actor)
        ]

    def _save(self, db: Session, actor: Actor, row_id: int | None, form: dict[str, Any]) -> None:
        if row_id is None:
            return  # segments are created from the customers list, where the filter is
        current = next((s for s in segments.list_segments(db, actor) if s.id == row_id), None)
        if current is None:
            raise NotFound("Segmento não encontrado.")
        segments.update_segment(
            db,
            actor,
            row_id,
            segments.SegmentIn(
                name=form.get("name", ""),
                filters=CustomerFilter.model_validate(current.filters),
                shared=checked(form, "shared"),
            ),
        )

    def _remove(self, db: Session, actor: Actor, row_id: int) -> None:
        segments.delete_segment(db, actor, row_id)

    @event
    def open_segment(self, row_id: str) -> Events:
        return rx.redirect(f"/clientes?segmento={row_id}")


@page(
    "/admin/segmentos",
    "Segmentos",
    permission=Perm.SEGMENTS_WRITE,
    nav=("Segmentos", "filter", 68),
    on_load=SegmentsState.load,
)
def segments_page() -> rx.Component:
    return crud_view(
        SegmentsState,
        noun="segmento",
        description=(
            "Filtros salvos, recalculados a cada uso. Para criar um, filtre em Clientes e use "
            "“Salvar como segmento”."
        ),
        columns=[
            Column("name", "Nome"),
            Column("filters", "Filtro", kind="muted"),
            Column("shared_label", "Visível para", kind="badge"),
            Column("updated", "Atualizado em", kind="muted"),
        ],
        fields=[
            FormField("name", "Nome"),
            FormField("shared", "Compartilhar com a equipe", kind="checkbox"),
        ],
        slug="segment",
        can_create=False,
        on_open=SegmentsState.open_segment,
    )
