"""The client's IP address, for login throttling and the audit log (REST and the Reflex UI alike).

`X-Forwarded-For` is written by whoever sent the request, so it is believed only as far as it was
appended by proxies we trust (`TRUSTED_PROXIES`): walking it from the right, the first hop that is not
one of ours is the client (what uvicorn's ProxyHeadersMiddleware does). With no trusted proxies, the
header is ignored and the TCP peer is the client.
"""

import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from app.settings import get_settings

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longest text stored for an address (audit_log.ip, login_failures.ip).
MAX_LEN = 64


@lru_cache(maxsize=8)
def parse_trusted(spec: str) -> tuple[IpNetwork, ...]:
    """`TRUSTED_PROXIES` ("10.0.0.1, 10.1.0.0/16, ::1") as networks; a bad entry is a startup error."""
    networks: list[IpNetwork] = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def _normalise(host: str) -> str:
    host = host.strip()
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host[:MAX_LEN] or "unknown"


def _trusted(host: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: str | None = None) -> str:
    """The client's address: the right-most `X-Forwarded-For` hop not added by a trusted proxy.

    `peer` is the TCP peer; `forwarded_for` all X-Forwarded-For values joined by commas;
    `trusted` defaults to the `TRUSTED_PROXIES` setting.
    """
    networks = parse_trusted(get_settings().trusted_proxies if trusted is None else trusted)
    peer = _normalise(peer or "unknown")
    if not forwarded_for or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if not hops:
        return peer
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return _normalise(hop)
    # Every hop is one of our proxies: the request started inside, the left-most is the origin.
    return _normalise(hops[0])


def reflex_client_address(router: Any) -> str:
    """The same rule for a Reflex event: its websocket's peer and forwarded header.

    Reflex's own `trusted_proxy_hops` stays 0, so `router.session.client_ip` is the TCP peer.
    """
    headers: Mapping[str, str] = getattr(router.headers, "raw_headers", {}) or {}
    return client_address(router.session.client_ip or None, headers.get("x-forwarded-for"))
