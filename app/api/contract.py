"""What the OpenAPI document promises about errors: one error model and the statuses each route can
answer, derived from the route itself (auth dependency, path parameters, method) so a new route is
documented the same way without anyone remembering to.

Generated clients (and schemathesis) read this: a status or body the document does not declare is a
contract violation.
"""

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from pydantic import BaseModel, Field

from app.api.deps import get_actor, get_upload_actor


class ErrorOut(BaseModel):
    """Every 4xx/5xx body of the API."""

    error: str = Field(description="Código estável em inglês (not_found, invalid, conflict, ...)")
    detail: str = Field(description="Mensagem em português para o usuário")
    fields: dict[str, str] = Field(
        default_factory=dict, description="Mensagem por campo (caminho com pontos), quando houver"
    )


_DESCRIPTIONS = {
    400: "Requisição malformada",
    401: "Não autenticado (token ausente, inválido, expirado ou revogado)",
    403: "Sem permissão para esta ação",
    404: "Não encontrado (ou não visível para quem chama)",
    409: "Conflito (valor já usado, estado que não permite a ação)",
    411: "Tamanho do envio (Content-Length) obrigatório",
    413: "Conteúdo grande demais (limite por envio, cota da organização ou tamanho declarado)",
    422: "Dados inválidos: `fields` diz o que corrigir",
    429: "Tentativas demais: aguarde (ver Retry-After)",
    503: "Serviço indisponível no momento (ex.: e-mail da plataforma): tente de novo",
}

# Public routes that authenticate by what they receive (credentials, refresh token) or are limited
# per client: their own statuses, by route name.
_PUBLIC = {
    "login": {401, 403, 429},
    "refresh": {401, 429},
    "client_token": {401, 429},
    "signup": {409, 429, 503},
}

# Routes that receive files: the per-upload cap, the tenant's quota and the declared size.
_UPLOADS = {
    "start_upload": {413},
    "upload_chunk": {413},
    "create_import": {411, 413},
}


def _calls(dependant: Dependant) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def error_statuses(route: APIRoute) -> set[int]:
    """The error statuses `route` can answer."""

    statuses = {422}
    if route.body_field is not None:
        statuses.add(400)  # a body that is not parseable JSON / form
    calls = _calls(route.dependant)
    if get_actor in calls or get_upload_actor in calls:
        statuses |= {401, 403}
    has_input = bool(route.dependant.path_params or route.dependant.query_params or route.body_field)
    # Authenticated inputs name rows (path ids, `customer_id` in a body, `segment_id` in a query):
    # unknown or invisible ones are 404.
    if route.dependant.path_params or (401 in statuses and has_input):
        statuses.add(404)
    if statuses & {401} and route.methods and route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
        statuses.add(409)
    statuses |= _PUBLIC.get(route.name, set())
    statuses |= _UPLOADS.get(route.name, set())
    return statuses


def document_errors(router: FastAPI | APIRouter) -> None:
    """Declare ErrorOut for each route's error statuses (replacing FastAPI's HTTPValidationError).
    Call it on a router before it is included: the app builds its routes from the router's."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for status in sorted(error_statuses(route)):
            if status in route.responses:
                continue
            route.responses[status] = {"model": ErrorOut, "description": _DESCRIPTIONS[status]}
            # FastAPI builds these fields when the route is created; ours are added afterwards.
            route.response_fields[status] = create_model_field(
                name=f"Response_{status}_{route.unique_id}", type_=ErrorOut, mode="serialization"
            )
