"""Brazilian phone normalisation: a vectorised fast path plus phonenumbers for the leftovers.

The rule (one definition, two implementations that must agree):
1. a float-looking value from a spreadsheet ("11987654321.0") is read as its integer digits;
2. junk is stripped: everything but digits, "0xx"/"0" trunk prefixes, a 2-digit carrier code after
   the trunk zero ("015 11 ..."), the "+55"/"55" country code on 12-13 digit numbers;
3. a default DDD, when set, is applied only to 8-9 digit local numbers;
4. the result is parsed by phonenumbers with region BR, kept only if `is_valid_number`, stored E.164.

phonenumbers does ~21k numbers/s per core, so `normalise_phones` checks the common shape (plain
digits that phonenumbers would take verbatim as the national number) against the Brazil patterns
taken from phonenumbers' own metadata, in polars, and calls phonenumbers only for the distinct
leftovers. tests/unit/importing/test_phones.py pins that both give the same answer.
"""

import re

import phonenumbers
import polars as pl
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from app.importing.vectors import on_present

_FLOAT_RE = re.compile(r"^\d+\.0+$")
_NON_DIGIT = re.compile(r"\D")

_META = PhoneMetadata.metadata_for_region("BR")
assert _META is not None


def _desc_rule(desc: PhoneNumberDesc | None) -> tuple[str, tuple[int, ...]] | None:
    if desc is None or desc.national_number_pattern is None:
        return None
    return f"^(?:{desc.national_number_pattern})$", tuple(desc.possible_length or ())


_GENERAL = _desc_rule(_META.general_desc)
# Every number type phonenumbers tries in _number_type_helper; any match means "valid".
_TYPE_RULES = [
    rule
    for rule in (
        _desc_rule(getattr(_META, name))
        for name in (
            "premium_rate",
            "toll_free",
            "shared_cost",
            "voip",
            "personal_number",
            "pager",
            "uan",
            "voicemail",
            "fixed_line",
            "mobile",
        )
    )
    if rule is not None
]


def clean_phone(raw: str | None, default_ddd: str | None = None) -> str | None:
    """The string handed to phonenumbers for `raw` (digits, or "+digits" for a foreign number)."""
    if raw is None:
        return None
    # A leading quote is the spreadsheet's text marker (our own CSV exports write `'+55...`).
    s = str(raw).strip().removeprefix("'")
    if _FLOAT_RE.match(s):
        s = s.split(".", 1)[0]
    plus = s.startswith("+")
    digits = _NON_DIGIT.sub("", s)
    if not digits:
        return None
    if plus:
        if not digits.startswith("55"):
            return "+" + digits
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = digits.lstrip("0")
        if len(digits) in (12, 13):
            digits = digits[2:]  # carrier selection code (015, 021, 041...)
    elif len(digits) in (12, 13) and digits.startswith("55"):
        digits = digits[2:]
    if default_ddd and len(digits) in (8, 9):
        digits = default_ddd + digits
    return digits or None


def _parse_clean(candidate: str) -> str | None:
    try:
        num = phonenumbers.parse(candidate, "BR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(raw: str | None, default_ddd: str | None = None) -> str | None:
    """E.164 for `raw` under the rule above, or None when phonenumbers says it is not valid."""
    candidate = clean_phone(raw, default_ddd)
    if candidate is None or len(candidate) > 30:
        return None
    return _parse_clean(candidate)


def _clean_frame(frame: pl.DataFrame, default_ddd: str | None) -> pl.DataFrame:
    """Vectorised clean_phone on column "raw" -> "cand" (steps materialised: each regex runs once)."""
    s = pl.col("raw").str.strip_chars().str.strip_prefix("'")
    frame = frame.with_columns(
        s=pl.when(s.str.contains(r"^\d+\.0+$")).then(s.str.replace(r"\.0+$", "")).otherwise(s)
    )
    frame = frame.with_columns(
        plus=pl.col("s").str.starts_with("+"), digits=pl.col("s").str.replace_all(r"\D", "")
    )
    digits = pl.col("digits")
    n = digits.str.len_bytes()
    unzeroed = digits.str.strip_chars_start("0")
    frame = frame.with_columns(unzeroed=unzeroed).with_columns(
        national=pl.when(pl.col("plus") & digits.str.starts_with("55"))
        .then(digits.str.slice(2))
        .when(pl.col("plus"))
        .then(pl.lit("+") + digits)
        .when(digits.str.starts_with("0"))
        .then(
            pl.when(pl.col("unzeroed").str.len_bytes().is_in([12, 13]))
            .then(pl.col("unzeroed").str.slice(2))
            .otherwise(pl.col("unzeroed"))
        )
        .when(n.is_in([12, 13]) & digits.str.starts_with("55"))
        .then(digits.str.slice(2))
        .otherwise(digits)
    )
    national = pl.col("national")
    if default_ddd:
        frame = frame.with_columns(
            national=pl.when(national.str.len_bytes().is_in([8, 9]) & ~national.str.starts_with("+"))
            .then(pl.lit(default_ddd) + national)
            .otherwise(national)
        )
    return frame.select("raw", cand=pl.when(national.str.len_bytes() > 0).then(national).otherwise(None))


def _matches(col: pl.Expr, rule: tuple[str, tuple[int, ...]]) -> pl.Expr:
    pattern, lengths = rule
    expr = col.str.contains(pattern)
    if lengths:
        expr = col.str.len_bytes().is_in(list(lengths)) & expr
    return expr


def _valid_expr(n: pl.Expr) -> pl.Expr:
    assert _GENERAL is not None
    any_type = pl.lit(False)
    for rule in _TYPE_RULES:
        any_type = any_type | _matches(n, rule)
    return _matches(n, _GENERAL) & any_type


def normalise_phones(values: pl.Series, default_ddd: str | None = None) -> pl.Series:
    """Vectorised normalise_phone over a string Series (same length, E.164 or null)."""
    if default_ddd is not None and not re.fullmatch(r"[1-9]\d", default_ddd):
        raise ValueError("default DDD must be two digits")
    return on_present(values.cast(pl.String), lambda present: _normalise_present(present, default_ddd))


def _normalise_present(values: pl.Series, default_ddd: str | None) -> pl.Series:
    frame = _clean_frame(pl.DataFrame({"raw": values}), default_ddd)
    cand = pl.col("cand")
    # phonenumbers takes these verbatim as the national number: 2-17 digits (its NSN bounds), no
    # country code to extract ("55"), no trunk/carrier prefix to strip ("0", "90"), no "+".
    fast = (
        cand.str.len_bytes().is_between(2, 17)
        & cand.str.contains(r"^\d+$")
        & ~cand.str.starts_with("0")
        & ~cand.str.starts_with("90")
        & ~cand.str.starts_with("55")
    )
    frame = frame.with_columns(fast=fast.fill_null(False))
    frame = frame.with_columns(
        fast_value=pl.when(pl.col("fast") & _valid_expr(cand)).then(pl.lit("+55") + cand).otherwise(None)
    )
    leftovers = (
        frame.filter(~pl.col("fast") & pl.col("cand").is_not_null() & (pl.col("cand").str.len_bytes() <= 30))
        .get_column("cand")
        .unique()
    )
    if leftovers.len():
        lookup = pl.DataFrame(
            {"cand": leftovers, "slow_value": [_parse_clean(c) for c in leftovers.to_list()]},
            schema={"cand": pl.String, "slow_value": pl.String},
        )
        frame = frame.join(lookup, on="cand", how="left", maintain_order="left")
        out = pl.coalesce(pl.col("fast_value"), pl.when(~pl.col("fast")).then(pl.col("slow_value")))
    else:
        out = pl.col("fast_value")
    return frame.select(out.alias(values.name or "phone")).to_series()
