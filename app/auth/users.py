"""Tenant user management: invite/create, change role, deactivate, reset password."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from app.audit.log import record, snapshot
from app.auth.actor import Actor
from app.auth.passwords import hash_password
from app.auth.permissions import TENANT_ROLES, Perm, Role
from app.errors import Conflict, Forbidden, Invalid, NotFound
from models.platform import RefreshToken, User

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z0-9-]{2,}$", re.IGNORECASE)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def validate_email(email: str, field: str = "email") -> str:
    email = normalise_email(email)
    if not EMAIL_RE.match(email):
        raise Invalid(field, "Informe um e-mail válido.")
    return email


@dataclass
class UserInput:
    email: str
    name: str
    role: str
    password: str
    team: str | None = None


def _validate_role(role: str) -> str:
    if role not in {r.value for r in TENANT_ROLES}:
        raise Invalid("role", "Perfil inválido: escolha administrador, gestor ou atendente.")
    return role


def list_users(db: Session, actor: Actor) -> list[User]:
    """The tenant's user directory; agents get the assignable list instead (visibility.assignable_users)."""
    actor.require(Perm.USERS_READ)
    return list(
        db.exec(select(User).where(User.tenant_id == actor.tenant_id).order_by(col(User.name), col(User.id)))
    )


def get_user(db: Session, actor: Actor, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None or user.tenant_id != actor.tenant_id or actor.tenant_id is None:
        raise NotFound("Usuário não encontrado.")
    return user


def create_user(db: Session, actor: Actor, data: UserInput) -> User:
    """Create a user in the actor's tenant (admins only); e-mails are unique per tenant."""
    actor.require(Perm.USERS_MANAGE)
    email = validate_email(data.email)
    name = data.name.strip()
    if not name:
        raise Invalid("name", "Informe o nome.")
    role = _validate_role(data.role)
    if db.exec(select(User.id).where(User.tenant_id == actor.tenant_id, User.email == email)).first():
        raise Conflict("Já existe um usuário com este e-mail nesta organização.", field="email")
    user = User(
        tenant_id=actor.tenant_id,
        email=email,
        name=name,
        role=role,
        team=(data.team or "").strip() or None,
        password_hash=hash_password(data.password),
    )
    db.add(user)
    db.flush()
    record(db, actor, "user.create", "user", user.id, after=user)
    return user


def update_user(
    db: Session,
    actor: Actor,
    user_id: int,
    *,
    name: str | None = None,
    role: str | None = None,
    team: str | None = None,
) -> User:
    actor.require(Perm.USERS_MANAGE)
    user = get_user(db, actor, user_id)
    before = snapshot(user)
    if name is not None:
        if not name.strip():
            raise Invalid("name", "Informe o nome.")
        user.name = name.strip()
    if role is not None:
        if user.id == actor.user_id and role != Role.ADMIN:
            raise Forbidden("Você não pode remover o seu próprio perfil de administrador.")
        user.role = _validate_role(role)
    if team is not None:
        user.team = team.strip() or None
    db.add(user)
    record(db, actor, "user.update", "user", user.id, before=before, after=user)
    return user


def set_active(db: Session, actor: Actor, user_id: int, active: bool) -> User:
    """Deactivating a user revokes their sessions at once (API tokens and open tabs)."""
    actor.require(Perm.USERS_MANAGE)
    user = get_user(db, actor, user_id)
    if user.id == actor.user_id and not active:
        raise Forbidden("Você não pode desativar a si mesmo.")
    before = snapshot(user)
    user.status = "active" if active else "inactive"
    db.add(user)
    if not active:
        _revoke_all(db, user)
    record(
        db,
        actor,
        "user.activate" if active else "user.deactivate",
        "user",
        user.id,
        before=before,
        after=user,
    )
    return user


def reset_password(db: Session, actor: Actor, user_id: int, new_password: str) -> User:
    actor.require(Perm.USERS_MANAGE)
    user = get_user(db, actor, user_id)
    user.password_hash = hash_password(new_password)
    db.add(user)
    _revoke_all(db, user)
    record(db, actor, "user.reset_password", "user", user.id)
    return user


def _revoke_all(db: Session, user: User) -> None:

    for token in db.exec(
        select(RefreshToken).where(RefreshToken.user_id == user.id, col(RefreshToken.revoked_at).is_(None))
    ):
        token.revoked_at = datetime.now(UTC)
        db.add(token)
