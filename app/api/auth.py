"""/api/auth: login, refresh (rotating), logout, me, OAuth2 client-credentials token."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from app.api.deps import CurrentActor, PlatformDB, client_ip
from app.auth import clients, sessions
from app.auth.tokens import decode_access_token
from app.errors import DomainError, Invalid
from app.validation import Secret, Str60, Str120, Str320, Str1000
from tenants.database import platform_session

router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginBody(BaseModel):
    tenant: Str60 | None = None
    email: Str320
    password: Secret


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshBody(BaseModel):
    refresh_token: Secret


class ClientTokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


class MeOut(BaseModel):
    user: int | None
    name: str
    email: str
    tenant: str | None
    role: str


@router.post("/login", response_model=TokenOut)
def login(body: LoginBody, request: Request) -> dict[str, object]:
    # Failed attempts must be stored even though the call fails: own the transaction here.
    with platform_session() as db:
        try:
            pair = sessions.login(db, body.tenant, body.email, body.password, client_ip(request))
        except DomainError:
            db.commit()
            raise
        db.commit()
    return pair.as_dict()


@router.post("/refresh", response_model=TokenOut)
def refresh(body: RefreshBody, request: Request) -> dict[str, object]:
    with platform_session() as db:
        try:
            pair = sessions.refresh(db, body.refresh_token, client_ip(request))
        except DomainError:
            db.commit()  # a detected reuse revokes the family: keep that
            raise
        db.commit()
    return pair.as_dict()


@router.post("/logout", status_code=204, response_model=None)
def logout(actor: CurrentActor, db: PlatformDB, request: Request) -> None:
    token = request.headers.get("authorization", "").split(" ", 1)[-1]
    sessions.logout(db, actor, decode_access_token(token).family)


@router.get("/me", response_model=MeOut)
async def me(actor: CurrentActor) -> MeOut:
    # async: no I/O of its own, so it runs on the event loop instead of another thread-pool hop.
    return MeOut(
        user=actor.user_id, name=actor.name, email=actor.email, tenant=actor.tenant_slug, role=actor.role
    )


@router.post("/token", response_model=ClientTokenOut)
def client_token(
    db: PlatformDB,
    grant_type: Annotated[Str60, Form()],
    client_id: Annotated[Str120, Form()],
    client_secret: Annotated[Secret, Form()],
    scope: Annotated[Str1000 | None, Form()] = None,
) -> dict[str, object]:
    """OAuth2 client-credentials grant (RFC 6749 §4.4), form-encoded."""
    if grant_type != "client_credentials":
        raise Invalid("grant_type", "Somente client_credentials é suportado.")
    return clients.issue_client_token(db, client_id, client_secret, scope)
