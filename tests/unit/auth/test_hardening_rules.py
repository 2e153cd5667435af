"""Pure rules of the auth hardening (issue 12): client address, backoff, scopes."""

import pytest
from pydantic import ValidationError

from app.auth.actor import Actor
from app.auth.clients import SCOPES
from app.auth.network import client_address
from app.auth.permissions import SCOPE_PERMISSIONS, Perm, Role, scope_permissions
from app.auth.throttle import backoff_delay, wait_message
from app.settings import Settings


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No trusted proxies: the header is the client's own text and is ignored.
        ("198.51.100.7", "6.6.6.6", "", "198.51.100.7"),
        # A peer we do not trust cannot speak for anyone else.
        ("198.51.100.7", "6.6.6.6", "10.0.0.1", "198.51.100.7"),
        # Our proxy appended the real client after whatever the client claimed.
        ("10.0.0.1", "6.6.6.6, 203.0.113.9", "10.0.0.1", "203.0.113.9"),
        # Two proxies of ours (CIDR): the right-most hop that is not ours.
        ("10.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.5.5", "10.0.0.0/16", "203.0.113.9"),
        # Everything is ours: the request started inside, the left-most hop is its origin.
        ("10.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.0/8", "10.0.0.2"),
        # No header from a trusted proxy: the proxy itself is the peer.
        ("10.0.0.1", None, "10.0.0.1", "10.0.0.1"),
        ("10.0.0.1", " , ", "10.0.0.1", "10.0.0.1"),
        # IPv6, normalised so one address has one spelling (one throttling bucket).
        ("::1", "2001:DB8:0:0::1", "::1", "2001:db8::1"),
        ("2001:db8::0001", None, "", "2001:db8::1"),
        (None, None, "", "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: str | None, trusted: str, expected: str) -> None:
    assert client_address(peer, forwarded, trusted) == expected


def test_trusted_proxies_setting_is_validated() -> None:
    assert Settings(trusted_proxies="10.0.0.1, 192.168.0.0/16, ::1").trusted_proxies
    with pytest.raises(ValidationError):
        Settings(trusted_proxies="10.0.0.1, proxy.local")


def test_backoff_is_free_then_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, 5, 30, 900) for n in range(12)]
    assert delays == [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert backoff_delay(10_000, 5, 30, 900) == 900


def test_wait_message_is_pt_br() -> None:
    assert wait_message(30) == "Muitas tentativas de acesso. Tente novamente em 30 segundos."
    assert wait_message(900) == "Muitas tentativas de acesso. Tente novamente em 15 minutos."


def test_every_scope_maps_to_permissions() -> None:
    assert set(SCOPES) == set(SCOPE_PERMISSIONS)
    assert scope_permissions(["customers:read"]) == {Perm.CUSTOMERS_READ}
    assert scope_permissions(["nonsense"]) == frozenset()


def test_client_actor_is_role_intersected_with_scopes() -> None:
    def client(role: Role, scopes: list[str]) -> Actor:
        return Actor(
            user_id=None,
            email="api:x",
            role=role,
            tenant_id=1,
            schema="t_1",
            scope_perms=scope_permissions(scopes),
        )

    reader = client(Role.AGENT, ["customers:read"])
    assert reader.can(Perm.CUSTOMERS_READ)
    assert not reader.can(Perm.CUSTOMERS_WRITE)
    assert not reader.can(Perm.TIMELINE_WRITE)
    writer = client(Role.AGENT, ["customers:write"])
    assert writer.can(Perm.OPPORTUNITIES_WRITE)
    assert not writer.can(Perm.CUSTOMERS_DELETE)  # the scope does not lift the role's ceiling
    importer = client(Role.MANAGER, ["imports:write"])
    assert importer.can(Perm.IMPORTS_RUN) and not importer.can(Perm.CUSTOMERS_READ)
    person = Actor(user_id=1, email="a@b.c", role=Role.AGENT, tenant_id=1, schema="t_1")
    assert person.can(Perm.CUSTOMERS_WRITE)
