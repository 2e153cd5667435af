"""Tenant schema and slug naming. Schema names come from the numeric id, never from user input."""

import re

from app.text import fold_words

SCHEMA_PREFIX = "t_"
_SCHEMA_RE = re.compile(r"^t_[0-9a-z]{1,13}$")
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
RESERVED_SLUGS = frozenset({"admin", "api", "platform", "public", "www", "app", "static", "webhooks"})

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int) -> str:
    if n < 0:
        raise ValueError("negative id")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out


def schema_for(tenant_id: int) -> str:
    return SCHEMA_PREFIX + base36(tenant_id)


def is_tenant_schema(name: str) -> bool:
    return bool(_SCHEMA_RE.match(name))


def slug_error(slug: str) -> str | None:
    """pt-BR reason why `slug` cannot be used, or None."""
    if not SLUG_RE.match(slug):
        return (
            "Use de 3 a 63 letras minúsculas, números ou hífens, começando e terminando com letra ou número."
        )
    if slug in RESERVED_SLUGS:
        return "Este identificador é reservado."
    return None


# Company-type suffixes say nothing about which organisation it is; dropped from a suggested slug.
_LEGAL_SUFFIXES = frozenset({"ltda", "me", "epp", "eireli", "sa", "s a"})


def slugify(name: str) -> str:
    """The slug suggested for an organisation name: "Telecom São João Ltda." -> "telecom-sao-joao".

    Only a suggestion (the person may edit it); the result always passes SLUG_RE's shape, or is "" when
    the name has too little to build one from.
    """
    words = fold_words(name).split()
    while len(words) > 1 and (words[-1] in _LEGAL_SUFFIXES or " ".join(words[-2:]) in _LEGAL_SUFFIXES):
        words = words[:-2] if " ".join(words[-2:]) in _LEGAL_SUFFIXES else words[:-1]
    slug = "-".join(words)[:63].strip("-")
    return slug if SLUG_RE.match(slug) else ""
