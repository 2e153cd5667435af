"""Brazilian formats and the reader's time zone (app/formatting.py)."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from app import formatting as fmt


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+5511987654321", "(11) 98765-4321"),
        ("+551134567890", "(11) 3456-7890"),  # landline
        ("+552130001234", "(21) 3000-1234"),
        ("+558001234567", "0800 123 4567"),  # toll free
        ("+553003001234", "0300 300 1234"),
        ("+5540041234", "4004-1234"),  # capitals' number, no DDD
        ("+14155552671", "+1 415-555-2671"),  # foreign: international form
        ("5511987654321@c.us", "5511987654321@c.us"),  # not E.164: as stored
        ("", ""),
        (None, ""),
    ],
)
def test_phone_br(stored: str | None, shown: str) -> None:
    assert fmt.phone_br(stored) == shown


def test_contact_br_formats_phones_only() -> None:
    assert fmt.contact_br("whatsapp", "+5511987654321") == "(11) 98765-4321"
    assert fmt.contact_br("email", "ana@x.com.br") == "ana@x.com.br"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("12345678909", "123.456.789-09"),
        ("12345678000190", "12.345.678/0001-90"),
        ("123", "123"),
        (None, ""),
    ],
)
def test_document_br(stored: str | None, shown: str) -> None:
    assert fmt.document_br(stored) == shown


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("1234.56"), "R$ 1.234,56"),
        (0, "R$ 0,00"),
        (1234567.891, "R$ 1.234.567,89"),
        (Decimal("0.005"), "R$ 0,01"),  # half up, not banker's rounding
        (Decimal("-99.9"), "-R$ 99,90"),
        (None, ""),
    ],
)
def test_money_br(amount: Decimal | float | None, shown: str) -> None:
    assert fmt.money_br(amount) == shown


def test_plural_and_numbers() -> None:
    assert fmt.plural(1, "cliente") == "1 cliente"
    assert fmt.plural(2, "cliente") == "2 clientes"
    assert fmt.plural(0, "cliente") == "0 clientes"
    assert fmt.plural(1234, "cliente") == "1.234 clientes"
    assert fmt.plural(2, "oportunidade em aberto", "oportunidades em aberto") == "2 oportunidades em aberto"
    assert fmt.number_br(1234567) == "1.234.567"
    assert fmt.number_br(-1000) == "-1.000"


def test_label_one_case() -> None:
    labels = {"ativo": "Ativo"}
    assert fmt.label("ativo", labels) == "Ativo"
    assert fmt.label("em_analise", labels) == "Em analise"
    assert fmt.label(None, labels) == ""


def test_datetimes_in_sao_paulo_and_manaus() -> None:
    at = datetime(2026, 3, 5, 17, 50, 12, 123456, tzinfo=UTC)
    assert fmt.datetime_br(at, "America/Sao_Paulo") == "05/03/2026 14:50"  # UTC-3, no DST since 2019
    assert fmt.datetime_br(at, "America/Manaus") == "05/03/2026 13:50"  # UTC-4
    # Southern summer: São Paulo stays at UTC-3 (Brazil dropped DST in 2019).
    summer = datetime(2026, 1, 15, 2, 30, tzinfo=UTC)
    assert fmt.datetime_br(summer, "America/Sao_Paulo") == "14/01/2026 23:30"
    assert fmt.date_br(summer, "America/Sao_Paulo") == "14/01/2026"  # the local day, not UTC's
    assert fmt.time_br(summer, "America/Manaus") == "22:30"


def test_naive_is_utc_and_aware_is_converted() -> None:
    naive = datetime(2026, 7, 1, 12, 0)
    assert fmt.datetime_br(naive, "America/Sao_Paulo") == "01/07/2026 09:00"
    aware = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert fmt.datetime_br(aware, "America/Sao_Paulo") == "01/07/2026 07:00"
    assert fmt.datetime_br(None, "America/Sao_Paulo") == ""
    assert fmt.date_br(date(2026, 7, 1)) == "01/07/2026"


def test_zones() -> None:
    assert fmt.is_time_zone("America/Manaus")
    assert not fmt.is_time_zone("Mars/Olympus")
    assert not fmt.is_time_zone("../etc/passwd")
    assert not fmt.is_time_zone("")
    # Unknown or empty names fall back to the default rather than UTC.
    assert fmt.zone("Mars/Olympus").key == "America/Sao_Paulo"
    assert fmt.effective_zone("America/Manaus", None) == "America/Manaus"
    assert fmt.effective_zone("America/Manaus", "America/Recife") == "America/Recife"
    assert fmt.effective_zone(None, "bogus") == "America/Sao_Paulo"
    assert fmt.time_zone_choices()[0] == "America/Sao_Paulo"


def test_bytes_br() -> None:
    from app.formatting import bytes_br

    assert [bytes_br(n) for n in (830, 35 * 1024, 1_258_291)] == ["830 B", "35 KB", "1,2 MB"]
