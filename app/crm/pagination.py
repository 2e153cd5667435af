"""Opaque keyset cursors: the last row's sort value and id, base64-encoded JSON."""

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from app.errors import Invalid

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(key: str, value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = {"dt": value.isoformat()}
    raw = json.dumps({"k": key, "v": value, "i": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, key: str) -> tuple[Any, int]:
    """(sort value, id) of a cursor made for the same sort `key`; a foreign or broken cursor is a 422."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if data["k"] != key:
            raise ValueError("cursor of another sort")
        value = data["v"]
        if isinstance(value, dict) and "dt" in value:
            value = datetime.fromisoformat(value["dt"])
        return value, int(data["i"])
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise Invalid("cursor", "Cursor de paginação inválido; recarregue a lista.") from exc
