"""Custom field definitions (admin) and validation of the values stored in customers.custom."""

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, Field, StrictBool
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Conflict, Invalid, NotFound
from app.validation import Int32, Str10, Str60, Str120, Str1000
from models.base import utcnow
from models.tenant import CustomField

TYPES = {"text": "Texto", "number": "Número", "select": "Lista de opções", "date": "Data", "bool": "Sim/Não"}
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
_TRUE = {"true", "1", "sim", "s", "yes"}
_FALSE = {"false", "0", "nao", "não", "n", "no"}


class CustomFieldIn(BaseModel):
    key: Str60
    label: Str120 = Field(min_length=1)
    type: Str10
    options: list[Str1000] = Field(default=[], max_length=200)
    required: StrictBool = False
    position: Int32 = 0
    show_in_list: StrictBool = True
    show_in_filters: StrictBool = True


class CustomFieldUpdate(BaseModel):
    label: Str120 | None = Field(default=None, min_length=1)
    options: list[Str1000] | None = Field(default=None, max_length=200)
    required: StrictBool | None = None
    position: Int32 | None = None
    show_in_list: StrictBool | None = None
    show_in_filters: StrictBool | None = None


def list_fields(db: Session, actor: Actor) -> list[CustomField]:
    actor.require(Perm.CUSTOMERS_READ)
    return list(db.exec(select(CustomField).order_by(col(CustomField.position), col(CustomField.id))).all())


def _check_options(type_: str, options: list[str]) -> list[str]:
    cleaned = [o.strip() for o in options if o.strip()]
    if type_ == "select" and not cleaned:
        raise Invalid("options", "Informe ao menos uma opção para a lista.")
    if len(set(cleaned)) != len(cleaned):
        raise Invalid("options", "Há opções repetidas.")
    return cleaned if type_ == "select" else []


def create_field(db: Session, actor: Actor, data: CustomFieldIn) -> CustomField:
    """Define a new custom field (admin only); the key is permanent, lower-case snake_case."""
    actor.require(Perm.CUSTOM_FIELDS_WRITE)
    key = data.key.strip().lower()
    if not _KEY.match(key):
        raise Invalid("key", "Use letras minúsculas, números e _ começando por letra.")
    if data.type not in TYPES:
        raise Invalid("type", "Tipo de campo inválido.")
    if db.exec(select(CustomField).where(CustomField.key == key)).first():
        raise Conflict("Já existe um campo com esta chave.", field="key")
    row = CustomField(
        key=key,
        label=data.label.strip(),
        type=data.type,
        options=_check_options(data.type, data.options),
        required=data.required,
        position=data.position,
        show_in_list=data.show_in_list,
        show_in_filters=data.show_in_filters,
    )
    db.add(row)
    db.flush()
    record(db, actor, "custom_field.create", "custom_field", row.id, None, row)
    return row


def update_field(db: Session, actor: Actor, field_id: int, data: CustomFieldUpdate) -> CustomField:
    actor.require(Perm.CUSTOM_FIELDS_WRITE)
    row = db.get(CustomField, field_id)
    if row is None:
        raise NotFound("Campo personalizado não encontrado.")
    before = row.model_dump()
    changes = data.model_dump(exclude_unset=True)
    if "options" in changes and changes["options"] is not None:
        changes["options"] = _check_options(row.type, changes["options"])
    for name, value in changes.items():
        if value is not None:
            setattr(row, name, value.strip() if isinstance(value, str) else value)
    row.updated_at = utcnow()
    db.add(row)
    record(db, actor, "custom_field.update", "custom_field", row.id, before, row)
    return row


def delete_field(db: Session, actor: Actor, field_id: int) -> None:
    """Remove a definition; stored values stay in customers.custom (kept for history and export)."""
    actor.require(Perm.CUSTOM_FIELDS_WRITE)
    row = db.get(CustomField, field_id)
    if row is None:
        raise NotFound("Campo personalizado não encontrado.")
    record(db, actor, "custom_field.delete", "custom_field", row.id, row, None)
    db.delete(row)


def _text(definition: CustomField, value: Any) -> Any:
    text = str(value).strip()
    if len(text) > 1000:
        raise ValueError("Texto longo demais (máximo 1000 caracteres).")
    return text


def _number(definition: CustomField, value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Informe um número.")
    if isinstance(value, int | float):
        return value
    raw = str(value).strip().replace(" ", "")
    if "," in raw:  # Brazilian notation: 1.234,56
        raw = raw.replace(".", "").replace(",", ".")
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValueError("Informe um número.") from None
    return int(number) if number == number.to_integral_value() else float(number)


def _select(definition: CustomField, value: Any) -> Any:
    if str(value) not in definition.options:
        raise ValueError("Escolha uma das opções: " + ", ".join(definition.options) + ".")
    return str(value)


def _date(definition: CustomField, value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raw = str(value).strip()
    try:
        if re.match(r"^\d{2}/\d{2}/\d{4}$", raw):
            day, month, year = raw.split("/")
            return date(int(year), int(month), int(day)).isoformat()
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ValueError("Informe uma data válida (dd/mm/aaaa).") from None


def _bool(definition: CustomField, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    raw = str(value).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError("Informe sim ou não.")


_COERCERS: dict[str, Callable[[CustomField, Any], Any]] = {
    "text": _text,
    "number": _number,
    "select": _select,
    "date": _date,
    "bool": _bool,
}


def coerce_value(definition: CustomField, value: Any) -> Any:
    """The stored JSON form of a value for this field, or raise ValueError with a pt-BR reason."""
    coerce = _COERCERS.get(definition.type)
    if coerce is None:
        raise ValueError("Tipo de campo desconhecido.")
    return coerce(definition, value)


def validate_values(definitions: list[CustomField], values: dict[str, Any]) -> dict[str, Any]:
    """The full, typed custom dict; unknown keys, bad values and missing required ones are 422 per field."""
    by_key = {d.key: d for d in definitions}
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        definition = by_key.get(key)
        if definition is None:
            errors[f"custom.{key}"] = "Campo personalizado desconhecido."
            continue
        if value is None or value == "":
            continue
        try:
            out[key] = coerce_value(definition, value)
        except ValueError as exc:
            errors[f"custom.{key}"] = str(exc)
    for definition in definitions:
        if definition.required and definition.key not in out and f"custom.{definition.key}" not in errors:
            errors[f"custom.{definition.key}"] = f"O campo “{definition.label}” é obrigatório."
    if errors:
        raise Invalid(errors)
    return out


def definitions(db: Session) -> list[CustomField]:
    return list(db.exec(select(CustomField).order_by(col(CustomField.position), col(CustomField.id))).all())
