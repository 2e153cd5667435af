"""Tags (etiquetas): definitions, and membership in customer_tags (one row per customer and tag).

Membership is keyed by tag id, so a rename is one row in `tags` and a delete cascades; neither
touches the customers table.
"""

from collections.abc import Iterable

from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Text, cast, delete, exists, false, func, literal
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.tables import table_of
from app.errors import Conflict, Invalid, NotFound
from app.validation import Str20, Str60
from models.tenant import Customer, CustomerTag, Tag

COLORS = ("gray", "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink")


class TagIn(BaseModel):
    name: Str60
    color: Str20 = "purple"


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
    tag.name, tag.color = name, data.color
    db.add(tag)
    record(db, actor, "tag.update", "tag", tag.id, before, tag)
    return tag


def delete_tag(db: Session, actor: Actor, tag_id: int) -> None:
    actor.require(Perm.TAGS_WRITE)
    tag = db.get(Tag, tag_id)
    if tag is None:
        raise NotFound("Etiqueta não encontrada.")
    record(db, actor, "tag.delete", "tag", tag.id, tag, None)
    db.delete(tag)  # customer_tags rows go with it (ON DELETE CASCADE)


# ---------------------------------------------------------------- membership
def any_of(db: Session, names: list[str]) -> ColumnElement[bool]:
    """SQL predicate on customers: the customer carries at least one of these tag names.

    The names are resolved to ids first (a tiny indexed lookup) and the EXISTS compares tag_id with
    constants: joined to tags by name inside the EXISTS, the planner cannot see how common the tag is
    (it estimated ~1k of 25k matches and sorted them all, 250 ms), while with the ids it knows and walks
    the sort index, probing customer_tags' primary key per row (about 10 ms), as the GIN filter did.
    """
    # Core on the session's connection: the ORM result machinery cost ~1 ms of a ~8 ms list page. Core
    # does not autoflush: pending renames/creations of this transaction must be visible.
    db.flush()
    tags = table_of(Tag)
    ids = [row[0] for row in db.connection().execute(select(tags.c.id).where(tags.c.name.in_(names)))]
    if not ids:
        return false()
    ct = table_of(CustomerTag)
    return exists(
        select(1).select_from(ct).where(ct.c.customer_id == table_of(Customer).c.id, ct.c.tag_id.in_(ids))
    )


def names_column() -> ColumnElement[list[str]]:
    """A correlated ARRAY(...) of the customer's tag names, sorted; for streams (export)."""
    ct, t = table_of(CustomerTag), table_of(Tag)
    inner = (
        select(func.array_agg(aggregate_order_by(t.c.name, t.c.name)))
        .select_from(ct.join(t, t.c.id == ct.c.tag_id))
        .where(ct.c.customer_id == table_of(Customer).c.id)
        .scalar_subquery()
    )
    return func.coalesce(inner, cast([], ARRAY(Text)))


def names_of(db: Session, customer_ids: Iterable[int]) -> dict[int, list[str]]:
    """Tag names (sorted) of these customers; one query for a whole page of rows."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    ct, t = table_of(CustomerTag), table_of(Tag)
    rows = db.execute(
        select(ct.c.customer_id, func.array_agg(aggregate_order_by(t.c.name, t.c.name)))
        .select_from(ct.join(t, t.c.id == ct.c.tag_id))
        .where(ct.c.customer_id.in_(ids))
        .group_by(ct.c.customer_id)
    )
    found = {cid: list(names) for cid, names in rows}
    return {i: found.get(i, []) for i in ids}


def set_names(db: Session, customer_id: int, names: list[str]) -> tuple[list[str], list[str]]:
    """Make the customer's tags exactly `names` (already validated); returns (added, removed).

    Only customer_tags changes: the customers row, and so its updated_at, is left alone.
    """
    wanted = set(names)
    current = set(names_of(db, [customer_id]).get(customer_id, []))
    added, removed = sorted(wanted - current), sorted(current - wanted)
    ct = table_of(CustomerTag)
    if removed:
        db.exec(
            delete(ct).where(
                ct.c.customer_id == customer_id,
                ct.c.tag_id.in_(select(Tag.id).where(col(Tag.name).in_(removed))),
            )
        )
    if added:
        db.exec(
            insert(ct)
            .from_select(
                ["customer_id", "tag_id"],
                select(literal(customer_id, BigInteger), Tag.id).where(col(Tag.name).in_(added)),
            )
            .on_conflict_do_nothing()
        )
    return added, removed
