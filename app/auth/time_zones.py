"""The organisation's time zone and each user's override: where every date a person reads is shown."""

from dataclasses import dataclass

from sqlmodel import Session

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Forbidden, Invalid, NotFound
from app.formatting import effective_zone, is_time_zone
from models.platform import Tenant, User

INVALID = "Fuso horário inválido: use um nome IANA, como America/Sao_Paulo."


@dataclass(frozen=True)
class TimeZones:
    organisation: str
    user: str | None  # None = follows the organisation
    effective: str


def _tenant(db: Session, actor: Actor) -> Tenant:
    tenant = db.get(Tenant, actor.tenant_id) if actor.tenant_id is not None else None
    if tenant is None:
        raise Forbidden("Esta ação é de uma organização; entre com um usuário dela.")
    return tenant


def _check(name: str, field: str = "time_zone") -> str:
    name = name.strip()
    if not is_time_zone(name):
        raise Invalid(field, INVALID)
    return name


def get_time_zones(db: Session, actor: Actor) -> TimeZones:
    """The organisation's zone, the actor's own override and the one their dates are shown in."""
    tenant = _tenant(db, actor)
    user = db.get(User, actor.user_id) if actor.user_id is not None else None
    own = user.time_zone if user is not None else None
    return TimeZones(tenant.time_zone, own, effective_zone(tenant.time_zone, own))


def set_organisation_zone(db: Session, actor: Actor, name: str) -> Tenant:
    """Change the organisation's zone (admins); users without their own zone follow it at once."""
    actor.require(Perm.SETTINGS_MANAGE)
    tenant = _tenant(db, actor)
    name = _check(name)
    before = {"time_zone": tenant.time_zone}
    tenant.time_zone = name
    db.add(tenant)
    record(db, actor, "tenant.time_zone", "tenant", tenant.id, before, {"time_zone": name})
    return tenant


def set_user_zone(db: Session, actor: Actor, user_id: int, name: str | None) -> User:
    """A user's own zone (None or "" = the organisation's): anyone for themselves, admins for anyone."""
    if user_id != actor.user_id:
        actor.require(Perm.USERS_MANAGE)
    user = db.get(User, user_id)
    if user is None or actor.tenant_id is None or user.tenant_id != actor.tenant_id:
        raise NotFound("Usuário não encontrado.")
    value = _check(name) if name and name.strip() else None
    before = {"time_zone": user.time_zone}
    user.time_zone = value
    db.add(user)
    record(db, actor, "user.time_zone", "user", user.id, before, {"time_zone": value})
    return user
