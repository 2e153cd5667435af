"""Upload grants: the browser's capability to send the bytes of one upload session, and nothing else.

The web app never hands the browser a session token (app/pages/base.py). A 10 GB file still has to go
from the browser to the server in resumable chunks (the REST protocol: GET/PATCH
/api/imports/uploads/{id} with Upload-Offset), so the page mints a grant for the one upload session it
just opened: an HMAC-signed (upload id, user, login session, tenant, expiry). The REST routes accept it
in an `Upload-Token` header for that upload only; the user, the tenant and the login session are
re-checked on every chunk, so logging out, deactivating the user or suspending the tenant stops it.
"""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from functools import lru_cache

from app.auth.actor import Actor
from app.errors import Forbidden, Unauthorized
from app.security.keys import jwt_secret

TTL_S = 24 * 3600  # a day: a 10 GB upload over a slow, flaky line


@dataclass(frozen=True)
class Grant:
    upload_id: str
    user_id: int
    family: str | None
    schema: str
    expires: int


@lru_cache
def _key() -> bytes:
    # Derived, so a grant can never be replayed as (or forged from) a JWT signed with the same secret.
    return hashlib.sha256(b"upload-grant:" + jwt_secret()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    actor: Actor, family: str | None, upload_id: str, ttl_s: int = TTL_S, now: float | None = None
) -> str:
    """A grant for `upload_id`, on behalf of `actor` (who opened it) within login session `family`."""
    if actor.user_id is None or not actor.schema:
        raise Forbidden("Envios pertencem a um usuário de uma organização.")
    claims = {
        "u": upload_id,
        "id": actor.user_id,
        "f": family,
        "s": actor.schema,
        "exp": int((now or time.time()) + ttl_s),
    }
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(_key(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def verify(token: str, upload_id: str, now: float | None = None) -> Grant:
    """The grant in `token` if it is genuine, unexpired and for `upload_id`."""
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(_key(), payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(signature, expected):
        raise Unauthorized("Autorização de envio inválida.")
    try:
        claims = json.loads(_unb64(payload))
        grant = Grant(
            upload_id=str(claims["u"]),
            user_id=int(claims["id"]),
            family=claims.get("f"),
            schema=str(claims["s"]),
            expires=int(claims["exp"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("Autorização de envio inválida.") from exc
    if grant.expires < (now or time.time()):
        raise Unauthorized("A autorização deste envio expirou. Escolha o arquivo de novo.")
    if not hmac.compare_digest(grant.upload_id, upload_id):
        raise Forbidden("Esta autorização é de outro envio.")
    return grant
