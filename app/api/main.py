"""Builds the FastAPI app: routers, and one translation of domain errors into HTTP."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.security_headers import SecurityHeadersMiddleware
from app.errors import DomainError, Invalid, TooManyRequests, invalid_from

log = logging.getLogger(__name__)

api = FastAPI(
    title="CRM Telecom API",
    version="0.1.0",
    description="API REST do CRM multi-tenant para operadoras e revendas.",
    docs_url="/api/docs",
    openapi_url="/openapi.json",
)
# Outermost: Reflex mounts its backend and prod frontend inside this app (app/app.py), so the headers
# reach every response of the Reflex port as well.
api.add_middleware(SecurityHeadersMiddleware)


@api.exception_handler(DomainError)
async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    body: dict[str, object] = {"error": exc.code, "detail": exc.message}
    if isinstance(exc, Invalid):
        body["fields"] = exc.fields
    elif exc.details:
        body["fields"] = {k: exc.message for k in [exc.details.get("field")] if k}
    if exc.status >= 500:
        log.error("domain error %s on %s", exc.code, request.url.path)
    headers: dict[str, str] | None = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    elif exc.status == 413:
        # A refused upload's remaining bytes are not worth draining: the server closes the connection.
        headers = {"Connection": "close"}
    return JSONResponse(status_code=exc.status, content=body, headers=headers)


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = invalid_from(exc.errors()).fields
    return JSONResponse(
        status_code=422, content={"error": "invalid", "detail": "Dados inválidos.", "fields": fields}
    )


@api.get("/api/health", tags=["meta"])
def health() -> dict[str, str]:
    return {"status": "ok"}


def _include_routers() -> None:
    from app.api import routers

    for router in routers.ALL:
        api.include_router(router)


_include_routers()
