"""Bounded input types shared by every request schema, query and path parameter (REST and UI alike).

PostgreSQL refuses what Python accepts: integers beyond the column's range, text with NUL bytes,
unbounded strings. Refusing them here makes them a 422 naming the field instead of a 500 from the
driver. Integer aliases follow the column types (ids are bigint identities, counters and positions
are integer); every string has a length limit and no NUL byte.
"""

from datetime import date, datetime
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import AfterValidator, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _not_bool(value: object) -> object:
    # pydantic's lax mode reads JSON true/false as 1/0; an integer field must not accept them.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "booleans are not integers")
    return value


NotBool = BeforeValidator(_not_bool)
# An integer, never a boolean; for fields with their own narrower bounds (Field(ge=..., le=...)).
# (The validator comes last: it runs first, and the bounds stay in the OpenAPI schema.)
Int = Annotated[int, NotBool]
Int32 = Annotated[int, Ge(INT32_MIN), Le(INT32_MAX), NotBool]
Int64 = Annotated[int, Ge(INT64_MIN), Le(INT64_MAX), NotBool]
# Row ids: bigint identities start at 1, so 0 and negatives are unknown ids, not errors of range.
Id = Annotated[int, Ge(1), Le(INT64_MAX), NotBool]
NonNegInt32 = Annotated[int, Ge(0), Le(INT32_MAX), NotBool]


def _not_number(value: object) -> object:
    # pydantic's lax mode reads a number (and a numeric string, as query parameters arrive) as a Unix
    # timestamp; a day or an instant is written out.
    if isinstance(value, int | float):
        raise PydanticCustomError("date_type", "dates are written as text")
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise PydanticCustomError("date_type", "dates are written as text")
    return value


Day = Annotated[date, BeforeValidator(_not_number)]
Instant = Annotated[datetime, BeforeValidator(_not_number)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("no_nul", "text must not contain NUL bytes")
    return value


NoNul = AfterValidator(_no_nul)


# The sizes the columns use; pick the one of the column the value is stored in.
Str10 = Annotated[str, StringConstraints(max_length=10), NoNul]
Str20 = Annotated[str, StringConstraints(max_length=20), NoNul]
Str30 = Annotated[str, StringConstraints(max_length=30), NoNul]
Str60 = Annotated[str, StringConstraints(max_length=60), NoNul]
Str120 = Annotated[str, StringConstraints(max_length=120), NoNul]
Str200 = Annotated[str, StringConstraints(max_length=200), NoNul]
Str300 = Annotated[str, StringConstraints(max_length=300), NoNul]
Str320 = Annotated[str, StringConstraints(max_length=320), NoNul]  # e-mail addresses (RFC 5321)
Str500 = Annotated[str, StringConstraints(max_length=500), NoNul]
Str1000 = Annotated[str, StringConstraints(max_length=1000), NoNul]
Str2000 = Annotated[str, StringConstraints(max_length=2000), NoNul]
Str4096 = Annotated[str, StringConstraints(max_length=4096), NoNul]
Str5000 = Annotated[str, StringConstraints(max_length=5000), NoNul]
Str10000 = Annotated[str, StringConstraints(max_length=10_000), NoNul]
Str20000 = Annotated[str, StringConstraints(max_length=20_000), NoNul]
Secret = Annotated[
    str, StringConstraints(max_length=1024), NoNul
]  # passwords, client secrets, tokens: long enough for any sane value
