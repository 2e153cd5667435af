"""Domain errors raised by services, translated once: to HTTP in app/api, to toasts in pages.

Messages are pt-BR because users read them; logs use the English `code`.
"""

from collections.abc import Iterable, Mapping
from typing import Any


class DomainError(Exception):
    code = "error"
    status = 400

    def __init__(self, message_pt: str, **details: Any) -> None:
        super().__init__(message_pt)
        self.message = message_pt
        self.details = details


class NotFound(DomainError):
    code = "not_found"
    status = 404

    def __init__(self, message_pt: str = "Registro não encontrado.", **details: Any) -> None:
        super().__init__(message_pt, **details)


class Forbidden(DomainError):
    code = "forbidden"
    status = 403

    def __init__(self, message_pt: str = "Você não tem permissão para esta ação.", **details: Any) -> None:
        super().__init__(message_pt, **details)


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class Conflict(DomainError):
    code = "conflict"
    status = 409


class TooManyRequests(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, message_pt: str, retry_after: int = 60, **details: Any) -> None:
        super().__init__(message_pt, **details)
        # Seconds until a retry can succeed: sent as the Retry-After header.
        self.retry_after = max(1, int(retry_after))


class RetryLater(DomainError):
    """Not now, but the same request will succeed later (a provider's webhook that overtook our record
    of the send): 503, so the provider delivers it again."""

    code = "retry_later"
    status = 503


class TooLarge(DomainError):
    """A body, file or upload over a size limit or the tenant's storage quota."""

    code = "too_large"
    status = 413


class LengthRequired(DomainError):
    code = "length_required"
    status = 411


class Invalid(DomainError):
    """Validation failure of one or more fields: {field: pt-BR message}."""

    code = "invalid"
    status = 422

    def __init__(self, field: str | dict[str, str], message_pt: str | None = None) -> None:
        self.fields: dict[str, str] = (
            field if isinstance(field, dict) else {field: message_pt or "Valor inválido."}
        )
        super().__init__("; ".join(self.fields.values()))


# pydantic error types -> what a user reads under the field.
_PT_MESSAGES = {
    "no_nul": "Texto com caractere inválido.",
    "too_long": "Itens demais.",
    "finite_number": "Informe um número finito.",
    "extra_forbidden": "Campo não permitido.",
    "int_from_float": "Informe um número inteiro.",
    "int_type": "Informe um número inteiro.",
    "string_type": "Informe um texto.",
    "list_type": "Informe uma lista.",
    "dict_type": "Formato inválido.",
    "model_type": "Formato inválido.",
    "model_attributes_type": "Formato inválido.",
    "recursion_loop": "Estrutura aninhada demais.",
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
    "greater_than_equal": "Valor abaixo do mínimo permitido.",
    "greater_than": "Valor abaixo do mínimo permitido.",
    "less_than_equal": "Valor acima do máximo permitido.",
    "less_than": "Valor acima do máximo permitido.",
    "decimal_max_digits": "Número grande demais.",
    "decimal_max_places": "Use no máximo duas casas decimais.",
}


def invalid_from(errors: Iterable[Mapping[str, Any]]) -> Invalid:
    """pydantic errors (model or request validation) as one Invalid with pt-BR messages per field."""
    fields: dict[str, str] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        kind = err.get("type", "")
        # min_length=1 means "required": say so rather than "too short".
        if kind == "string_too_short" and (err.get("ctx") or {}).get("min_length") == 1:
            kind = "missing"
        fields.setdefault(".".join(loc) or "body", _PT_MESSAGES.get(kind, "Valor inválido."))
    return Invalid(fields)
