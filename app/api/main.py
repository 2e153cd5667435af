"""Builds the FastAPI app: routers, and one translation of domain errors into HTTP."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.errors import DomainError, Invalid

log = logging.getLogger(__name__)

api = FastAPI(
    title="CRM Telecom API",
    version="0.1.0",
    description="API REST do CRM multi-tenant para operadoras e revendas.",
    docs_url="/api/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(DomainError)
async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    body: dict[str, object] = {"error": exc.code, "detail": exc.message}
    if isinstance(exc, Invalid):
        body["fields"] = exc.fields
    elif exc.details:
        body["fields"] = {k: exc.message for k in [exc.details.get("field")] if k}
    if exc.status >= 500:
        log.error("domain error %s on %s", exc.code, request.url.path)
    return JSONResponse(status_code=exc.status, content=body)


_PT_MESSAGES = {
    "missing": "Campo obrigatório.",
    "string_too_long": "Texto longo demais.",
    "string_too_short": "Texto curto demais.",
    "int_parsing": "Informe um número inteiro.",
    "float_parsing": "Informe um número.",
    "decimal_parsing": "Informe um número.",
    "bool_parsing": "Informe verdadeiro ou falso.",
    "date_from_datetime_parsing": "Informe uma data válida.",
    "datetime_from_date_parsing": "Informe data e hora válidas.",
    "date_parsing": "Informe uma data válida.",
    "datetime_parsing": "Informe data e hora válidas.",
    "json_invalid": "JSON inválido.",
    "literal_error": "Valor não permitido.",
    "enum": "Valor não permitido.",
}


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        fields[".".join(loc) or "body"] = _PT_MESSAGES.get(err.get("type", ""), "Valor inválido.")
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
