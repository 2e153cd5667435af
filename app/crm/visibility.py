"""RBAC on customers: admins see the whole tenant, managers their team's portfolio, agents their own.

A customer the actor cannot see is reported as NotFound (never Forbidden), so ids of other
portfolios and of other tenants are indistinguishable from ids that do not exist.
"""

from typing import Any

from sqlalchemy import ColumnElement, false, true
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Invalid, NotFound
from models.platform import User
from models.tenant import Customer

CUSTOMER_NOT_FOUND = "Cliente não encontrado."


def customer_visible(actor: Actor, owner_column: Any = None) -> ColumnElement[bool]:
    """SQL predicate: the customer's owner is one the actor may see."""
    owner = Customer.owner_id if owner_column is None else owner_column
    ids = actor.visible_owner_ids
    if ids is None:
        return true()
    if not ids:
        return false()
    return col(owner).in_(sorted(ids))


def can_see_owner(actor: Actor, owner_id: int | None) -> bool:
    ids = actor.visible_owner_ids
    return ids is None or (owner_id is not None and owner_id in ids)


def get_visible_customer(
    db: Session, actor: Actor, customer_id: int, *, for_update: bool = False
) -> Customer:
    """The live (not deleted) customer if the actor may see it, else NotFound."""
    stmt = select(Customer).where(Customer.id == customer_id, col(Customer.deleted_at).is_(None))
    if for_update:
        stmt = stmt.with_for_update()
    customer = db.exec(stmt).first()
    if customer is None or not can_see_owner(actor, customer.owner_id):
        raise NotFound(CUSTOMER_NOT_FOUND)
    return customer


def check_assignable(db: Session, actor: Actor, user_id: int, *, field: str = "owner_id") -> User:
    """A user the actor may hand work to: active, of the same tenant, inside the actor's visibility."""
    user = db.get(User, user_id)
    if user is None or user.tenant_id != actor.tenant_id or user.status != "active":
        raise Invalid(field, "Usuário não encontrado nesta organização.")
    if not can_see_owner(actor, user_id):
        raise Invalid(field, "Você só pode atribuir a você mesmo ou à sua equipe.")
    return user


def assignable_users(db: Session, actor: Actor) -> list[User]:
    """Active users of the actor's tenant it may assign work to (pickers for owner/assignee)."""
    actor.require(Perm.CUSTOMERS_READ)
    stmt = (
        select(User)
        .where(User.tenant_id == actor.tenant_id, User.status == "active")
        .order_by(col(User.name))
    )
    ids = actor.visible_owner_ids
    if ids is not None:
        stmt = stmt.where(col(User.id).in_(sorted(ids)))
    return list(db.exec(stmt).all())
