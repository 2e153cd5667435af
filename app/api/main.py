"""Builds the FastAPI app: routers, and one translation of domain errors into HTTP.

Every error body is `ErrorOut` ({"error", "detail", "fields"}), whatever raised it: a service's
DomainError, request validation, a pydantic model built inside a route, Starlette's own HTTP errors,
a value the database refused, or a bug (500, logged with its traceback).
"""

import gc
import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import configure_mappers
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api import routers
from app.api.contract import document_errors
from app.api.security_headers import SecurityHeadersMiddleware
from app.errors import DomainError, Invalid, TooManyRequests, invalid_from
from tenants.database import domain_error_from

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


def _error(status: int, code: str, detail: str, fields: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "detail": detail, "fields": fields or {}})


@api.exception_handler(DomainError)
async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    fields: dict[str, str] = {}
    if isinstance(exc, Invalid):
        fields = exc.fields
    elif exc.details:
        fields = {k: exc.message for k in [exc.details.get("field")] if k}
    if exc.status >= 500:
        log.error("domain error %s on %s", exc.code, request.url.path)
    response = _error(exc.status, exc.code, exc.message, fields)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    elif exc.status == 413:
        # A refused upload's remaining bytes are not worth draining: the server closes the connection.
        response.headers["Connection"] = "close"
    return response


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return _error(422, "invalid", "Dados inválidos.", invalid_from(exc.errors()).fields)


@api.exception_handler(ValidationError)
async def _model_validation_error(request: Request, exc: ValidationError) -> JSONResponse:
    # A model built inside a route from request values (e.g. query parameters folded into a filter).
    return _error(422, "invalid", "Dados inválidos.", invalid_from(exc.errors()).fields)


_HTTP_CODES = {
    400: ("bad_request", "Requisição malformada."),
    404: ("not_found", "Endereço não encontrado."),
    405: ("method_not_allowed", "Método não permitido neste endereço."),
    413: ("too_large", "Conteúdo grande demais."),
    415: ("unsupported_media_type", "Tipo de conteúdo não suportado."),
}


def _allowed_methods(path: str) -> str:
    """Every method served at `path`. Starlette's 405 names only the first route that matched the
    path, while FastAPI registers one route per method: GET /x and POST /x are two routes."""

    methods: set[str] = set()
    sources: list[FastAPI | APIRouter] = [api, *routers.ALL]
    for router in sources:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path_regex.match(path):
                methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code, detail = _HTTP_CODES.get(exc.status_code, ("error", "Não foi possível atender a requisição."))
    response = _error(exc.status_code, code, detail)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed_methods(request.url.path)
    return response


@api.exception_handler(DBAPIError)
async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
    # Last resort for sessions outside a unit of work (which translates these itself).
    translated = domain_error_from(exc)
    if translated is None:
        return await _internal_error(request, exc)
    return await _domain_error(request, translated)


@api.exception_handler(Exception)
async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises after this handler, so the traceback still reaches the server log.
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return _error(500, "internal", "Erro interno. Tente novamente; se persistir, avise o suporte.")


class HealthOut(BaseModel):
    status: str


@api.get("/api/health", response_model=HealthOut, tags=["meta"])
def health() -> HealthOut:
    return HealthOut(status="ok")


def _include_routers() -> None:

    for router in routers.ALL:
        document_errors(router)
        api.include_router(router)
    document_errors(api)


_include_routers()

# Served alone (`uvicorn app.api:api`: the latency benchmark, an API-only deployment) nothing else freezes
# what the imports built, as app.app does for the Reflex process: full collections re-scanned ~250k
# long-lived objects, 35-240 ms each on the 500k bench (1.1 s with the machine's 2 cores shared 5 ways),
# which were the single >100 ms requests of otherwise 10-40 ms classes (issue 15). The ORM's mappers are
# configured first: otherwise the first query builds their attribute machinery after the freeze, objects
# every full collection re-scans for the life of the process.
configure_mappers()
gc.freeze()
# Young collections at 2,000 net allocations instead of 700: building a page allocates thousands of
# objects, so at 700 the full collections (which scan every object not frozen, tens of thousands once the
# statement and validator caches fill) came every few seconds of traffic. At 2,000 they are rare and a
# young collection stays under a millisecond; at 10,000 a young one paused for several (docs/benchmarks.md).
gc.set_threshold(2_000, 10, 10)
