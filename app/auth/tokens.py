"""JWT access tokens and opaque, rotating refresh tokens.

JWTs use joserfc, the JOSE library of the Authlib project (authlib.jose is deprecated in its favour).
"""

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from app.errors import Unauthorized
from app.security.keys import jwt_secret
from app.settings import get_settings

_HEADER = {"alg": "HS256"}


@dataclass(frozen=True)
class AccessClaims:
    user_id: int | None
    tenant_id: int | None
    role: str
    kind: str  # "user" | "client"
    client_id: str | None
    scopes: tuple[str, ...]
    family: str | None


def _key() -> OctKey:
    return OctKey.import_key(jwt_secret())


def issue_access_token(
    *,
    user_id: int | None,
    tenant_id: int | None,
    role: str,
    family: str | None = None,
    client_id: str | None = None,
    scopes: list[str] | None = None,
) -> tuple[str, int]:
    settings = get_settings()
    now = int(time.time())
    ttl = settings.access_token_minutes * 60
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + ttl,
        "sub": str(user_id) if user_id is not None else f"client:{client_id}",
        "tid": tenant_id,
        "role": role,
        "kind": "client" if client_id else "user",
    }
    if family:
        claims["fam"] = family
    if client_id:
        claims["cid"] = client_id
        claims["scope"] = " ".join(scopes or [])
    token = jwt.encode(_HEADER, claims, _key())
    return token, ttl


# Verifying a JWT's signature and claims is most of the per-request cost of authentication, and the
# same token comes back on every request of a session. A verified token's claims are kept (keyed by the
# signing secret and issuer too, so a rotated secret or another issuer never reuses them) until the
# token expires. Only the signature check is skipped: whether the user, tenant and login session are
# still live is read from the database on every request (sessions.actor_for_user).
_VERIFIED_MAX = 4096
_VERIFIED: OrderedDict[tuple[bytes, str, str], tuple[AccessClaims, int]] = OrderedDict()
_VERIFIED_LOCK = threading.Lock()


def decode_access_token(token: str) -> AccessClaims:
    settings = get_settings()
    key = (jwt_secret(), settings.jwt_issuer, token)
    with _VERIFIED_LOCK:
        hit = _VERIFIED.get(key)
        if hit is not None:
            _VERIFIED.move_to_end(key)
    if hit is not None:
        claims, expires = hit
        if time.time() < expires:
            return claims
        with _VERIFIED_LOCK:
            _VERIFIED.pop(key, None)
        raise Unauthorized(_EXPIRED)
    claims, expires = _verify(token, key[0], settings.jwt_issuer)
    with _VERIFIED_LOCK:
        _VERIFIED[key] = (claims, expires)
        if len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)
    return claims


_EXPIRED = "Sessão inválida ou expirada. Entre novamente."


def _verify(token: str, secret: bytes, issuer: str) -> tuple[AccessClaims, int]:
    """Check signature, issuer and expiry; the claims and the expiry (epoch seconds)."""
    try:
        claims = jwt.decode(token, OctKey.import_key(secret), algorithms=["HS256"]).claims
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer}, exp={"essential": True}).validate(
            claims
        )
        expires = int(claims["exp"])
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Unauthorized(_EXPIRED) from exc
    kind = claims.get("kind", "user")
    sub = claims.get("sub", "")
    access = AccessClaims(
        user_id=int(sub) if kind == "user" and str(sub).isdigit() else None,
        tenant_id=claims.get("tid"),
        role=claims.get("role", ""),
        kind=kind,
        client_id=claims.get("cid"),
        scopes=tuple(str(claims.get("scope", "")).split()),
        family=claims.get("fam"),
    )
    return access, expires


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
