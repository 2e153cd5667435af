"""The CSV cell rule (OWASP CSV injection) and the phone round trip through an exported file."""

import csv
import io

import polars as pl
import pytest

from app.importing.phones import normalise_phone, normalise_phones
from app.security.spreadsheet import csv_writer, safe_cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+5511987654321", "'+5511987654321"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Maria", "Maria"),
        ("", ""),
        (" =1", " =1"),
        (-5, -5),
        (None, None),
    ],
)
def test_safe_cell(value: object, written: object) -> None:
    assert safe_cell(value) == written


def test_writer_neutralises_every_cell() -> None:
    buf = io.StringIO()
    csv_writer(buf).writerow(["=cmd|' /C calc'!A0", 7, "ok"])
    assert next(csv.reader(io.StringIO(buf.getvalue()), delimiter=";")) == ["'=cmd|' /C calc'!A0", "7", "ok"]


def test_exported_phones_reimport_to_the_same_number() -> None:
    numbers = ["+5511987654321", "+12125550100", "+351912345678"]
    exported = [safe_cell(n) for n in numbers]
    assert all(e.startswith("'+") for e in exported)
    assert [normalise_phone(e) for e in exported] == numbers
    assert normalise_phones(pl.Series(exported)).to_list() == numbers
