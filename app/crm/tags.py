"""Tags (etiquetas): definitions here, membership in customers.tags (renames and deletes propagate)."""

from pydantic import BaseModel, Field
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Conflict, Invalid, NotFound
from models.tenant import Customer, Tag

COLORS = ("gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink")


class TagIn(BaseModel):
    name: str = Field(max_length=60)
    color: str = "purple"


def list_tags(db: Session, actor: Actor) -> list[Tag]:
    actor.require(Perm.CUSTOMERS_READ)
    return list(db.exec(select(Tag).order_by(col(Tag.name))).all())


def _validate(db: Session, data: TagIn, own_id: int | None = None) -> str:
    name = data.name.strip()
    errors = {}
    if not name:
        errors["name"] = "Informe o nome da etiqueta."
    if data.color not in COLORS:
        errors["color"] = "Cor inválida."
    if errors:
        raise Invalid(errors)
    other = db.exec(select(Tag).where(Tag.name == name)).first()
    if other is not None and other.id != own_id:
        raise Conflict("Já existe uma etiqueta com este nome.", field="name")
    return name


def create_tag(db: Session, actor: Actor, data: TagIn) -> Tag:
    actor.require(Perm.TAGS_WRITE)
    tag = Tag(name=_validate(db, data), color=data.color)
    db.add(tag)
    db.flush()
    record(db, actor, "tag.create", "tag", tag.id, None, tag)
    return tag


def update_tag(db: Session, actor: Actor, tag_id: int, data: TagIn) -> Tag:
    """Rename/recolour; a rename is applied to every customer carrying the tag."""
    actor.require(Perm.TAGS_WRITE)
    tag = db.get(Tag, tag_id)
    if tag is None:
        raise NotFound("Etiqueta não encontrada.")
    name = _validate(db, data, tag.id)
    before = tag.model_dump()
    if name != tag.name:
        table = Customer.__table__
        db.exec(  # type: ignore[call-overload]
            update(table)
            .where(table.c.tags.contains([tag.name]))
            .values(tags=func.array_replace(table.c.tags, tag.name, name))
        )
    tag.name, tag.color = name, data.color
    db.add(tag)
    record(db, actor, "tag.update", "tag", tag.id, before, tag)
    return tag


def delete_tag(db: Session, actor: Actor, tag_id: int) -> None:
    actor.require(Perm.TAGS_WRITE)
    tag = db.get(Tag, tag_id)
    if tag is None:
        raise NotFound("Etiqueta não encontrada.")
    table = Customer.__table__
    db.exec(  # type: ignore[call-overload]
        update(table)
        .where(table.c.tags.contains([tag.name]))
        .values(tags=func.array_remove(table.c.tags, tag.name))
    )
    record(db, actor, "tag.delete", "tag", tag.id, tag, None)
    db.delete(tag)
