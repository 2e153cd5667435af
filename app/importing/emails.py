"""E-mail normalisation: trimmed, lower-cased, syntactically valid (no DNS lookups)."""

import re

import polars as pl

from app.importing.vectors import on_present

# Practical subset of RFC 5321/5322 addresses: dot-atom local part, LDH labels, alphabetic TLD.
_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
EMAIL_PATTERN = rf"^{_LOCAL}@(?:{_LABEL}\.)+[a-z]{{2,63}}$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)


def normalise_email(raw: str | None) -> str | None:
    """The lower-cased address, or None when it is not syntactically valid."""
    if raw is None:
        return None
    s = str(raw).strip().lower()
    if len(s) > 254 or not _EMAIL_RE.fullmatch(s) or len(s.split("@", 1)[0]) > 64:
        return None
    return s


def normalise_emails(values: pl.Series) -> pl.Series:
    """Vectorised normalise_email."""
    return on_present(values.cast(pl.String), _normalise_present)


def _normalise_present(values: pl.Series) -> pl.Series:
    s = values.str.strip_chars().str.to_lowercase()
    ok = (
        s.str.contains(EMAIL_PATTERN)
        & (s.str.len_bytes() <= 254)
        & (s.str.split("@").list.first().str.len_bytes() <= 64)
    )
    return pl.select(
        pl.when(ok.fill_null(False)).then(s).otherwise(None).alias(values.name or "email")
    ).to_series()
