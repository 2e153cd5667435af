"""Platform superadmins (users with tenant_id NULL)."""

from sqlmodel import Session, col, select

from app.audit.log import record_platform
from app.auth.passwords import hash_password
from app.auth.permissions import Role
from app.auth.users import validate_email
from app.errors import Conflict
from models.platform import User


def create_superadmin(db: Session, email: str, password: str, name: str = "Superadmin") -> User:
    email = validate_email(email)
    if db.exec(select(User.id).where(col(User.tenant_id).is_(None), User.email == email)).first():
        raise Conflict("Já existe um superadmin com este e-mail.")
    user = User(
        tenant_id=None, email=email, name=name, role=Role.SUPERADMIN, password_hash=hash_password(password)
    )
    db.add(user)
    db.flush()
    record_platform(db, None, "superadmin.create", "user", user.id, after={"email": email})
    return user
