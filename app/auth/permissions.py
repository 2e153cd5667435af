"""Role-based access control: one table in code, checked in the service layer."""

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"


TENANT_ROLES = (Role.ADMIN, Role.MANAGER, Role.AGENT)
ROLE_LABELS = {
    Role.SUPERADMIN: "Superadmin",
    Role.ADMIN: "Administrador",
    Role.MANAGER: "Gestor",
    Role.AGENT: "Atendente",
}


class Perm(StrEnum):
    CUSTOMERS_READ = "customers.read"
    CUSTOMERS_WRITE = "customers.write"
    CUSTOMERS_DELETE = "customers.delete"
    CUSTOMERS_BULK = "customers.bulk"
    CUSTOMERS_EXPORT = "customers.export"
    TIMELINE_WRITE = "timeline.write"
    CONVERSATIONS_REPLY = "conversations.reply"
    OPPORTUNITIES_WRITE = "opportunities.write"
    # Create, rename, reorder and archive sales pipelines and their stages.
    PIPELINES_MANAGE = "pipelines.manage"
    APPOINTMENTS_WRITE = "appointments.write"
    SEGMENTS_WRITE = "segments.write"
    IMPORTS_RUN = "imports.run"
    TEMPLATES_WRITE = "templates.write"
    # Create, start, pause and cancel mass sends (campaigns).
    CAMPAIGNS_MANAGE = "campaigns.manage"
    TAGS_WRITE = "tags.write"
    WALLETS_WRITE = "wallets.write"
    CUSTOM_FIELDS_WRITE = "custom_fields.write"
    # The user directory (names, e-mails, roles, teams, status). Pickers use the narrower
    # assignable list (visibility.assignable_users: id and name of users the actor may assign to).
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    API_CLIENTS_MANAGE = "api_clients.manage"
    AUDIT_READ = "audit.read"
    SETTINGS_MANAGE = "settings.manage"
    # Sending identities (WhatsApp numbers and sessions, e-mail accounts) and their credentials.
    CHANNELS_MANAGE = "channels.manage"
    PLATFORM_MANAGE = "platform.manage"
    # The platform audit log (logins, sign-ups, suspensions across every organisation).
    PLATFORM_AUDIT_READ = "platform.audit_read"


_AGENT = {
    Perm.CUSTOMERS_READ,
    Perm.CUSTOMERS_WRITE,
    Perm.TIMELINE_WRITE,
    Perm.CONVERSATIONS_REPLY,
    Perm.OPPORTUNITIES_WRITE,
    Perm.APPOINTMENTS_WRITE,
}
_MANAGER = _AGENT | {
    Perm.PIPELINES_MANAGE,
    Perm.CUSTOMERS_BULK,
    Perm.CUSTOMERS_EXPORT,
    Perm.SEGMENTS_WRITE,
    Perm.IMPORTS_RUN,
    Perm.TEMPLATES_WRITE,
    Perm.CAMPAIGNS_MANAGE,
    Perm.TAGS_WRITE,
    Perm.WALLETS_WRITE,
    Perm.USERS_READ,
}
_ADMIN = _MANAGER | {
    Perm.CUSTOMERS_DELETE,
    Perm.CUSTOM_FIELDS_WRITE,
    Perm.USERS_MANAGE,
    Perm.API_CLIENTS_MANAGE,
    Perm.AUDIT_READ,
    Perm.SETTINGS_MANAGE,
    Perm.CHANNELS_MANAGE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.AGENT: frozenset(_AGENT),
    Role.MANAGER: frozenset(_MANAGER),
    Role.ADMIN: frozenset(_ADMIN),
    # Superadmins manage the platform; they do not act inside tenants' data, whose audit log
    # (AUDIT_READ) lives in the tenant's schema: theirs is the platform's.
    Role.SUPERADMIN: frozenset({Perm.PLATFORM_MANAGE, Perm.PLATFORM_AUDIT_READ}),
}


# API-client scopes: what each one lets a client token do. A token's effective permissions are its
# role's permissions intersected with the union of its scopes' (checked by Actor.can, like roles).
SCOPE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    "customers:read": frozenset({Perm.CUSTOMERS_READ}),
    "customers:write": frozenset(
        {
            Perm.CUSTOMERS_READ,
            Perm.CUSTOMERS_WRITE,
            Perm.TIMELINE_WRITE,
            Perm.OPPORTUNITIES_WRITE,
            Perm.APPOINTMENTS_WRITE,
        }
    ),
    "imports:write": frozenset({Perm.IMPORTS_RUN}),
}


def scope_permissions(scopes: Iterable[str]) -> frozenset[Perm]:
    """The permissions a set of scopes grants; unknown scopes grant nothing."""
    granted: set[Perm] = set()
    for scope in scopes:
        granted |= SCOPE_PERMISSIONS.get(scope, frozenset())
    return frozenset(granted)


def has_permission(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
