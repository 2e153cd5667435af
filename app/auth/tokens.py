"""JWT access tokens and opaque, rotating refresh tokens.

JWTs use joserfc, the JOSE library of the Authlib project (authlib.jose is deprecated in its favour).
"""

import hashlib
import secrets
import time
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


def decode_access_token(token: str) -> AccessClaims:
    settings = get_settings()
    try:
        claims = jwt.decode(token, _key(), algorithms=["HS256"]).claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": settings.jwt_issuer}, exp={"essential": True}
        ).validate(claims)
    except (JoseError, ValueError) as exc:
        raise Unauthorized("Sessão inválida ou expirada. Entre novamente.") from exc
    kind = claims.get("kind", "user")
    sub = claims.get("sub", "")
    return AccessClaims(
        user_id=int(sub) if kind == "user" and str(sub).isdigit() else None,
        tenant_id=claims.get("tid"),
        role=claims.get("role", ""),
        kind=kind,
        client_id=claims.get("cid"),
        scopes=tuple(str(claims.get("scope", "")).split()),
        family=claims.get("fam"),
    )


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
