"""UI tickets: a page's one-minute permission for its browser to fetch one thing over plain HTTP.

The web app never hands the browser a session token (app/pages/base.py), yet a download has to be a
plain GET the browser streams to disk (a CSV export of a whole tenant does not fit a websocket event).
So the page signs a ticket naming its UI session, its user, what to fetch (`purpose`) and how
(`payload`), and hands the browser a URL carrying it. The route accepts it only with the UI session's
HttpOnly cookie (app.auth.ui_sessions.resolve), so a leaked URL is useless in another browser, and
the session, user and tenant are re-checked as on any UI event.
"""

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from app.errors import Unauthorized
from app.security.keys import jwt_secret

TTL_S = 60  # the browser follows the URL right away
_HEADER = {"alg": "HS256"}
# What a ticket lets the browser fetch (the route checks it is the one it serves).
CUSTOMERS_EXPORT = "customers-export"
CAMPAIGN_RECIPIENTS = "campaign-recipients"
ATTACHMENT = "attachment"
# An attachment's preview URL sits in an open chat and is fetched again whenever the panel re-renders,
# so it lives longer than a download's; it still needs the UI session's cookie.
ATTACHMENT_TTL_S = 3600
INVALID = "Link de download inválido ou expirado. Tente de novo."


@dataclass(frozen=True)
class Ticket:
    ui_key: str
    user_id: int
    payload: dict[str, Any]


def _key() -> OctKey:
    # Derived, so a ticket can never be replayed as (or forged from) an access token; not cached, as
    # the secret's own cache may be cleared (tests do).
    return OctKey.import_key(hashlib.sha256(b"ui-ticket:" + jwt_secret()).digest())


def issue(ui_key: str, user_id: int, purpose: str, payload: dict[str, Any], *, ttl_s: int = TTL_S) -> str:
    claims = {"k": ui_key, "u": user_id, "p": purpose, "d": payload, "exp": int(time.time()) + ttl_s}
    return jwt.encode(_HEADER, claims, _key())


def verify(token: str, purpose: str) -> Ticket:
    """The ticket in `token` if it is genuine, unexpired and for `purpose`."""
    try:
        claims = jwt.decode(token, _key(), algorithms=["HS256"]).claims
        jwt.JWTClaimsRegistry(exp={"essential": True}).validate(claims)
        ticket = Ticket(ui_key=str(claims["k"]), user_id=int(claims["u"]), payload=dict(claims["d"]))
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized(INVALID) from exc
    if claims.get("p") != purpose:
        raise Unauthorized(INVALID)
    return ticket
