"""Domain errors raised by services, translated once: to HTTP in app/api, to toasts in pages.

Messages are pt-BR because users read them; logs use the English `code`.
"""

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


class Invalid(DomainError):
    """Validation failure of one or more fields: {field: pt-BR message}."""

    code = "invalid"
    status = 422

    def __init__(self, field: str | dict[str, str], message_pt: str | None = None) -> None:
        self.fields: dict[str, str] = (
            field if isinstance(field, dict) else {field: message_pt or "Valor inválido."}
        )
        super().__init__("; ".join(self.fields.values()))
