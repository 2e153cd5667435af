"""Segments: saved customer filters, shared with the team, re-evaluated every time they are used."""

from typing import Any

from pydantic import BaseModel, StrictBool
from sqlalchemy import or_
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.customers import (
    CustomerFilter,
    CustomerQuery,
    CustomerRow,
    count_customers,
    list_customers,
    stored_filter,
)
from app.crm.pagination import Page
from app.errors import Forbidden, Invalid, NotFound
from app.validation import Str120
from models.base import utcnow
from models.tenant import Segment


class SegmentIn(BaseModel):
    name: Str120
    filters: CustomerFilter
    shared: StrictBool = True


def _visible(db: Session, actor: Actor, segment_id: int) -> Segment:
    segment = db.get(Segment, segment_id)
    if segment is None or (not segment.shared and segment.created_by != actor.user_id):
        raise NotFound("Segmento não encontrado.")
    return segment


def list_segments(db: Session, actor: Actor) -> list[Segment]:
    actor.require(Perm.CUSTOMERS_READ)
    return list(
        db.exec(
            select(Segment)
            .where(or_(col(Segment.shared).is_(True), col(Segment.created_by) == actor.user_id))
            .order_by(col(Segment.name))
        ).all()
    )


def _filters(data: SegmentIn) -> dict[str, Any]:
    if data.filters.segment_id is not None:
        raise Invalid("filters", "Um segmento não pode conter outro segmento.")
    return data.filters.model_dump(mode="json", exclude_defaults=True)


def create_segment(db: Session, actor: Actor, data: SegmentIn) -> Segment:
    """Save the current filter as a dynamic segment (stores the filter, never a list of ids)."""
    actor.require(Perm.SEGMENTS_WRITE)
    name = data.name.strip()
    if not name:
        raise Invalid("name", "Informe o nome do segmento.")
    segment = Segment(name=name, filters=_filters(data), created_by=actor.user_id, shared=data.shared)
    db.add(segment)
    db.flush()
    record(db, actor, "segment.create", "segment", segment.id, None, segment)
    return segment


def update_segment(db: Session, actor: Actor, segment_id: int, data: SegmentIn) -> Segment:
    actor.require(Perm.SEGMENTS_WRITE)
    segment = _visible(db, actor, segment_id)
    if segment.created_by != actor.user_id and not actor.sees_all:
        raise Forbidden("Só quem criou o segmento pode alterá-lo.")
    before = segment.model_dump()
    name = data.name.strip()
    if not name:
        raise Invalid("name", "Informe o nome do segmento.")
    segment.name, segment.filters, segment.shared, segment.updated_at = (
        name,
        _filters(data),
        data.shared,
        utcnow(),
    )
    db.add(segment)
    record(db, actor, "segment.update", "segment", segment.id, before, segment)
    return segment


def delete_segment(db: Session, actor: Actor, segment_id: int) -> None:
    actor.require(Perm.SEGMENTS_WRITE)
    segment = _visible(db, actor, segment_id)
    if segment.created_by != actor.user_id and not actor.sees_all:
        raise Forbidden("Só quem criou o segmento pode excluí-lo.")
    record(db, actor, "segment.delete", "segment", segment.id, segment, None)
    db.delete(segment)


def evaluate(
    db: Session, actor: Actor, segment_id: int, *, cursor: str | None = None, limit: int = 50
) -> tuple[Page[CustomerRow], dict[str, Any]]:
    """The segment's customers right now, as the actor sees them (RBAC applies), plus a count."""
    segment = _visible(db, actor, segment_id)
    query = stored_filter(CustomerQuery, {**segment.filters, "cursor": cursor, "limit": limit})
    return list_customers(db, actor, query), count_customers(db, actor, query)
