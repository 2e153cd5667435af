"""Small helpers shared by the vectorised normalisers."""

from collections.abc import Callable

import polars as pl


def on_present(values: pl.Series, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """fn over the non-null values only, scattered back into a Series of `values`' length (nulls stay
    null). Spreadsheet columns such as "Celular" or "WhatsApp" are mostly empty, and a normaliser's
    fixed cost (a dozen expressions, several regexes) was paid per batch for nothing."""
    present = values.is_not_null()
    n = int(present.sum())
    if n == values.len():
        return fn(values)
    out = pl.repeat(None, values.len(), dtype=pl.String, eager=True).alias(values.name)
    if n:
        out = out.scatter(present.arg_true(), fn(values.filter(present)))
    return out
