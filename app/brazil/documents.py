"""CPF/CNPJ: digits only, leading zeros restored, check digits verified.

One rule for every entry point: a spreadsheet drops the leading zeros of a document stored as a
number, and people copy from spreadsheets into the form too, so both the import and the CRM form
restore them. The vectorised form of the same rule lives in app/importing/documents.py.
"""

import re

from app.errors import Invalid

CPF_W1 = list(range(10, 1, -1))
CPF_W2 = list(range(11, 1, -1))
CNPJ_W1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
CNPJ_W2 = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
_FLOAT_CELL = re.compile(r"\d+\.0+")
_NON_DIGITS = re.compile(r"\D")


def _dv_cpf(total: int) -> int:
    r = (total * 10) % 11
    return 0 if r == 10 else r


def _dv_cnpj(total: int) -> int:
    r = total % 11
    return 0 if r < 2 else 11 - r


def complete_cpf(base: str) -> str:
    """The 9 base digits of a CPF followed by its two check digits."""
    for weights in (CPF_W1, CPF_W2):
        base += str(_dv_cpf(sum(int(c) * w for c, w in zip(base, weights, strict=True))))
    return base


def complete_cnpj(base: str) -> str:
    """The 12 base digits of a CNPJ followed by its two check digits."""
    for weights in (CNPJ_W1, CNPJ_W2):
        base += str(_dv_cnpj(sum(int(c) * w for c, w in zip(base, weights, strict=True))))
    return base


def is_valid_cpf(digits: str) -> bool:
    # Repeated digits (000..., 111...) pass the arithmetic but are not real documents.
    return (
        len(digits) == 11 and digits.isdigit() and len(set(digits)) > 1 and complete_cpf(digits[:9]) == digits
    )


def is_valid_cnpj(digits: str) -> bool:
    return (
        len(digits) == 14
        and digits.isdigit()
        and len(set(digits)) > 1
        and complete_cnpj(digits[:12]) == digits
    )


def _digits(raw: str) -> str:
    s = raw.strip()
    if _FLOAT_CELL.fullmatch(s):  # numeric spreadsheet cell read as float
        s = s.split(".", 1)[0]
    return _NON_DIGITS.sub("", s)


def normalise_document(raw: str | None) -> str | None:
    """CPF (11 digits) or CNPJ (14 digits) with valid check digits; zeros lost by spreadsheets restored.
    None when empty or not a valid document."""
    if raw is None:
        return None
    d = _digits(str(raw))
    if not d or len(d) > 14:
        return None
    if len(d) <= 11 and is_valid_cpf(d.zfill(11)):
        return d.zfill(11)
    if is_valid_cnpj(d.zfill(14)):
        return d.zfill(14)
    return None


def clean_document(raw: str | None, field: str = "document") -> str | None:
    """normalise_document for a form or API field: None when left empty, a pt-BR 422 when invalid."""
    if raw is None or not raw.strip():
        return None
    document = normalise_document(raw)
    if document is None:
        raise Invalid(field, "CPF ou CNPJ inválido.")
    return document


def kind_of(document: str | None) -> str:
    """PJ for a CNPJ, PF otherwise (a customer without a document is a person until told otherwise)."""
    return "PJ" if document and len(document) == 14 else "PF"
