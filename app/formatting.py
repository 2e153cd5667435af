"""How values read by people are written: Brazilian formats and the tenant's time zone.

One module for screens, exports, e-mails and PDFs alike (no Reflex, no database), so the same event
reads the same everywhere. Storage and APIs keep the machine forms (UTC timestamps, E.164 phones,
document digits, Decimal amounts); only what a person reads goes through here.

Time zones: the tenant sets one (`platform.tenants.time_zone`, default America/Sao_Paulo) and a user may
override it (`platform.users.time_zone`, NULL = the organisation's). The resolved name travels on the
Actor (`Actor.time_zone`), read once per request / UI event with the user and tenant rows.
"""

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers

DEFAULT_TZ = "America/Sao_Paulo"
DATETIME_FORMAT = "%d/%m/%Y %H:%M"
DATE_FORMAT = "%d/%m/%Y"

# Brazilian non-geographic prefixes (0800 toll free, 0300/0500/0900): dialled with a leading 0, no DDD.
_NON_GEOGRAPHIC = ("300", "500", "800", "900")


# ---------------------------------------------------------------- time zones
@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_time_zone(name: str | None) -> TypeGuard[str]:
    """Whether `name` is an IANA zone this system knows (e.g. America/Manaus)."""
    if not name or name != name.strip() or ("/" not in name and name != "UTC"):
        return False
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone(name: str | None) -> ZoneInfo:
    """The zone called `name`; the default (America/Sao_Paulo) when it is empty or unknown."""
    return _zone(name) if is_time_zone(name) else _zone(DEFAULT_TZ)


def effective_zone(tenant_zone: str | None, user_zone: str | None) -> str:
    """The user's own zone when set (and valid), else the organisation's, else the default."""
    for name in (user_zone, tenant_zone):
        if is_time_zone(name):
            return name
    return DEFAULT_TZ


@lru_cache(maxsize=1)
def time_zone_choices() -> list[str]:
    """Brazil's zones first (what nearly every tenant picks), then every other IANA zone."""
    brazil = [
        "America/Sao_Paulo",
        "America/Bahia",
        "America/Fortaleza",
        "America/Recife",
        "America/Belem",
        "America/Manaus",
        "America/Cuiaba",
        "America/Campo_Grande",
        "America/Porto_Velho",
        "America/Boa_Vista",
        "America/Rio_Branco",
        "America/Noronha",
    ]
    rest = sorted(
        z for z in available_timezones() if "/" in z and z not in brazil and not z.startswith("Etc/")
    )
    return [z for z in brazil if is_time_zone(z)] + rest


def local(value: datetime, tz: str | ZoneInfo | None) -> datetime:
    """`value` as wall-clock time in `tz`; a naive datetime is UTC (how the database stores them)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz if isinstance(tz, ZoneInfo) else zone(tz))


def datetime_br(value: datetime | None, tz: str | ZoneInfo | None) -> str:
    """dd/mm/aaaa HH:mm in the reader's zone; "" for no value."""
    return local(value, tz).strftime(DATETIME_FORMAT) if value is not None else ""


def date_br(value: date | datetime | None, tz: str | ZoneInfo | None = None) -> str:
    """dd/mm/aaaa; a datetime is first moved to the reader's zone (its day may differ from UTC's)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value, tz)
    return value.strftime(DATE_FORMAT)


def time_br(value: datetime | None, tz: str | ZoneInfo | None) -> str:
    """HH:mm in the reader's zone."""
    return local(value, tz).strftime("%H:%M") if value is not None else ""


# ---------------------------------------------------------------- phones and documents
def phone_br(value: str | None) -> str:
    """A stored phone (E.164) as people write it: (11) 98765-4321, (11) 3456-7890, 0800 123 4567.

    Foreign numbers get their international form (+1 415-555-2671); anything that is not E.164
    (a WhatsApp id, a legacy value) is shown as stored.
    """
    if not value:
        return ""
    if not value.startswith("+") or not value[1:].isdigit():
        return value
    if value.startswith("+55"):
        n = value[3:]
        if len(n) == 10 and n.startswith(_NON_GEOGRAPHIC):
            return f"0{n[:3]} {n[3:6]} {n[6:]}"
        if len(n) == 11 and n[2] == "9":
            return f"({n[:2]}) {n[2:7]}-{n[7:]}"
        if len(n) == 10 and n[0] != "0":
            return f"({n[:2]}) {n[2:6]}-{n[6:]}"
        if len(n) == 8:  # capitals' numbers without DDD (4004-1234, 3003-1234)
            return f"{n[:4]}-{n[4:]}"
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    fmt = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(
        parsed, fmt.NATIONAL if parsed.country_code == 55 else fmt.INTERNATIONAL
    )


def cpf(digits: str) -> str:
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def cnpj(digits: str) -> str:
    return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"


def document_br(value: str | None) -> str:
    """CPF (11 digits) as 123.456.789-09, CNPJ (14) as 12.345.678/0001-90; other values as stored."""
    if not value:
        return ""
    if value.isdigit() and len(value) == 11:
        return cpf(value)
    if value.isdigit() and len(value) == 14:
        return cnpj(value)
    return value


def contact_br(kind: str, value: str | None) -> str:
    """A contact as read: phones (and WhatsApp numbers) formatted, e-mails as stored."""
    return phone_br(value) if kind in ("phone", "whatsapp") else (value or "")


# ---------------------------------------------------------------- numbers, money, words
def _group(integer: str) -> str:
    out: list[str] = []
    while len(integer) > 3:
        out.insert(0, integer[-3:])
        integer = integer[:-3]
    out.insert(0, integer)
    return ".".join(out)


def number_br(value: int | float | Decimal, decimals: int = 0) -> str:
    """1234567 → 1.234.567; with decimals, 1234.5 → 1.234,50."""
    quant = Decimal(1).scaleb(-decimals)
    amount = Decimal(str(value)).quantize(quant, rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""
    integer, _, fraction = f"{abs(amount):f}".partition(".")
    return f"{sign}{_group(integer)}" + (f",{fraction}" if decimals else "")


def bytes_br(size: int) -> str:
    """A file size as people read it: 830 B, 35 KB, 1,2 MB."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{number_br(round(size / 1024))} KB"
    return f"{number_br(size / (1024 * 1024), 1)} MB"


def money_br(value: int | float | Decimal | None) -> str:
    """R$ 1.234,56 (two decimals, half up); negative amounts as -R$ 1.234,56."""
    if value is None:
        return ""
    text = number_br(value, 2)
    return f"-R$ {text[1:]}" if text.startswith("-") else f"R$ {text}"


def money_from_br(raw: str) -> Decimal:
    """A typed amount: "1.234,56" and "1.500" are Brazilian notation; "99.90" is read as a decimal.

    Raises InvalidOperation when it is not a finite number.
    """
    text = raw.strip().removeprefix("R$").replace(" ", "") or "0"
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d{1,3}(\.\d{3})+", text):
        text = text.replace(".", "")
    value = Decimal(text)
    if not value.is_finite():
        raise InvalidOperation
    return value


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 cliente', '2 clientes', '1.234 clientes' (zero takes the plural, as in Portuguese)."""
    word = singular if abs(count) == 1 else (plural_form or singular + "s")
    return f"{number_br(count)} {word}"


def label(value: str | None, labels: dict[str, str]) -> str:
    """A stored code as its pt-BR label; an unknown code capitalised like the labels (one case)."""
    if not value:
        return ""
    found = labels.get(value)
    if found is not None:
        return found
    text = value.replace("_", " ")
    return text[:1].upper() + text[1:]
