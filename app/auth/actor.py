"""The actor: who is calling a service, for which tenant, from where."""

from dataclasses import dataclass, field, replace

from app.auth.permissions import Perm, Role, has_permission
from app.errors import Forbidden
from app.formatting import DEFAULT_TZ


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    email: str
    role: str
    tenant_id: int | None
    schema: str | None
    tenant_slug: str | None = None
    name: str = ""
    team: str | None = None
    ip: str | None = None
    # Users the actor may see customers of (managers: their team); None = everyone in the tenant.
    visible_owner_ids: frozenset[int] | None = field(default=None, compare=False)
    # API clients: the permissions their token's scopes grant; None for people (the role alone decides).
    scope_perms: frozenset[Perm] | None = None
    # Where the actor reads dates: their own zone, else the organisation's (app.formatting.effective_zone).
    time_zone: str = DEFAULT_TZ

    def can(self, perm: Perm) -> bool:
        """Role permission, narrowed by the token's scopes for API clients (role ∩ scopes)."""
        if self.scope_perms is not None and perm not in self.scope_perms:
            return False
        return has_permission(self.role, perm)

    def require(self, perm: Perm) -> None:
        if not self.can(perm):
            raise Forbidden()

    @property
    def is_superadmin(self) -> bool:
        return self.role == Role.SUPERADMIN

    @property
    def sees_all(self) -> bool:
        return self.role == Role.ADMIN

    def with_ip(self, ip: str | None) -> "Actor":

        return replace(self, ip=ip)


SYSTEM = Actor(user_id=None, email="system", role=Role.ADMIN, tenant_id=None, schema=None, name="Sistema")


def system_actor(tenant_id: int | None, schema: str) -> Actor:
    """The actor tasks use for work nobody clicked (imports resumed by a worker, webhooks)."""
    return Actor(
        user_id=None, email="system", role=Role.ADMIN, tenant_id=tenant_id, schema=schema, name="Sistema"
    )
