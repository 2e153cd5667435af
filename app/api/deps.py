"""FastAPI dependencies: the calling Actor and a tenant Session that commits when the route succeeds.

The Sessions are function-scoped yield dependencies: FastAPI runs their exit (the commit) after the
route returned and its result was serialised, but before the first byte of the response is sent. A
request-scoped dependency would commit after the response left: a client could read its own write
back as a 404, a revoked credential would work for a moment, and a failing commit would follow a 2xx.
A commit that fails propagates as an exception, i.e. a 500 with the usual error body.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import Annotated

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from app.auth.actor import Actor
from app.auth.network import client_address
from app.auth.sessions import actor_for_user, actor_from_token
from app.errors import Forbidden, Unauthorized
from app.importing import upload_grants
from app.validation import Str120, Str2000
from tenants.database import open_transaction, platform_session, read, read_session, session, unit_of_work

_bearer = HTTPBearer(auto_error=False)


def client_ip(request: Request) -> str:
    """The caller's address: X-Forwarded-For is believed only from `TRUSTED_PROXIES` (app.auth.network)."""
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for"))
    return client_address(request.client.host if request.client else None, forwarded or None)


def get_platform_db() -> Iterator[Session]:
    """A platform Session owned by the route: committed if it returns, rolled back if it raises."""
    with platform_session() as db, unit_of_work(db):
        yield db


def get_actor(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Autenticação necessária.")
    token, ip = credentials.credentials, client_ip(request)
    return read(lambda db: actor_from_token(db, token, ip))


def _tenant_only(actor: Actor) -> Actor:
    if actor.schema is None:
        raise Forbidden("Esta ação é de uma organização; entre com um usuário dela.")
    return actor


async def get_tenant_actor(actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
    # async: no I/O here, so FastAPI runs it on the event loop instead of a thread-pool hop.
    return _tenant_only(actor)


def get_upload_actor(
    upload_id: Str120,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    upload_token: Str2000 | None = Header(default=None, alias="Upload-Token"),
) -> Actor:
    """A tenant actor from a Bearer token, or from the page's grant for this one upload (the web app
    keeps session tokens out of the browser): user, tenant and login session are checked again."""
    if credentials is not None or upload_token is None:
        return _tenant_only(get_actor(request, credentials))
    grant = upload_grants.verify(upload_token, upload_id)
    ip = client_ip(request)
    actor = read(lambda db: actor_for_user(db, grant.user_id, ip, grant.family))
    if actor.schema != grant.schema:
        raise Forbidden("Esta autorização é de outra organização.")
    return actor


@asynccontextmanager
async def _exit_in_thread(cm: AbstractContextManager[Session]) -> AsyncIterator[Session]:
    """A unit of work entered on the event loop and left in a worker thread.

    Opening a Session does no I/O (its first statement checks a connection out), so entering it on the
    loop spares the thread-pool hop a sync dependency pays before the route's own; the commit or rollback
    does I/O and runs in a worker thread, shielded from cancellation, as FastAPI runs a sync dependency's
    exit (`fastapi.concurrency.contextmanager_in_threadpool`)."""
    db = cm.__enter__()
    try:
        yield db
    except BaseException as exc:
        with CancelScope(shield=True):
            suppressed = await anyio.to_thread.run_sync(
                cm.__exit__, type(exc), exc, exc.__traceback__, limiter=CapacityLimiter(1)
            )
        if not suppressed:
            raise
    else:
        with CancelScope(shield=True):
            await anyio.to_thread.run_sync(cm.__exit__, None, None, None, limiter=CapacityLimiter(1))


@contextmanager
def _tenant_unit(schema: str) -> Iterator[Session]:
    with session(schema) as db, unit_of_work(db):
        yield db


async def get_tenant_db(actor: Annotated[Actor, Depends(get_tenant_actor)]) -> AsyncIterator[Session]:
    """The actor's own tenant Session: the schema comes from the token, never from the request."""
    assert actor.schema is not None
    async with _exit_in_thread(_tenant_unit(actor.schema)) as db:
        yield db


async def get_tenant_read_db(actor: Annotated[Actor, Depends(get_tenant_actor)]) -> AsyncIterator[Session]:
    """The actor's tenant Session for routes that only read (`tenants.database.read_session`): nothing to
    commit, so leaving it is a thread-pool hop only when a statement opened a transaction (its COMMIT)."""
    assert actor.schema is not None
    cm = read_session(actor.schema)
    db = cm.__enter__()
    try:
        yield db
    finally:
        try:
            rollback = open_transaction(db)
        except Exception:  # a connection that died in use: closing it is I/O as well
            rollback = True
        if rollback:
            with CancelScope(shield=True):
                await anyio.to_thread.run_sync(cm.__exit__, None, None, None, limiter=CapacityLimiter(1))
        else:
            cm.__exit__(None, None, None)


CurrentActor = Annotated[Actor, Depends(get_actor)]
TenantActor = Annotated[Actor, Depends(get_tenant_actor)]
UploadActor = Annotated[Actor, Depends(get_upload_actor)]
TenantDB = Annotated[Session, Depends(get_tenant_db, scope="function")]
TenantReadDB = Annotated[Session, Depends(get_tenant_read_db, scope="function")]
PlatformDB = Annotated[Session, Depends(get_platform_db, scope="function")]
