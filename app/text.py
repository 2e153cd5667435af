"""Text folding shared by search and import: one definition of "the same word"."""

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case without accents, the same folding as public.crm_norm() in SQL."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fold_words(text: str) -> str:
    """fold() with punctuation runs as single spaces: "Nome/Razão Social" -> "nome razao social"."""
    return _NON_ALNUM.sub(" ", fold(text)).strip()
