"""What the user typed in the search box, classified: name words, document digits, phone, e-mail.

Phones are stored in E.164 (+5511987654321); people type "(11) 98765-4321", "11987654321",
"+55 11 9 8765 4321" or a fragment. Every shape reduces to digits, and a full Brazilian number
also yields its E.164 candidates (with and without the ninth digit) for an exact indexed match.
"""

import re
from dataclasses import dataclass, field

from app.text import fold

_NON_DIGITS = re.compile(r"\D+")
_NUMERIC_SHAPE = re.compile(r"^[\d\s().+\-/]+$")
# A word as PostgreSQL's text-search parser reads it from a folded name: "s.a." and "s/a" stay one token
# ('s.a', 's/a' in the index), so splitting them at the dot made "... s.a." match no name and fall
# through to the typo pass, the slowest searches measured.
_WORD = re.compile(r"[a-z0-9]+(?:[./][a-z0-9]+)*")


def phone_candidates(digits: str) -> list[str]:
    """E.164 forms of a full Brazilian number typed in any format, else []."""
    national = digits[2:] if digits.startswith("55") and len(digits) in (12, 13) else digits
    if national.startswith("0"):  # trunk prefix as in "011 98765-4321"
        national = national[1:]
    if len(national) not in (10, 11):
        return []
    out = ["+55" + national]
    ddd, rest = national[:2], national[2:]
    if len(rest) == 9 and rest[0] == "9":
        out.append("+55" + ddd + rest[1:])  # old 8-digit mobile form
    elif len(rest) == 8 and rest[0] in "6789":
        out.append("+55" + ddd + "9" + rest)  # typed without the ninth digit
    return out


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    folded: str
    words: list[str] = field(default_factory=list)
    digits: str = ""
    numeric: bool = False
    email: str | None = None
    phones: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.words or self.digits or self.email)


def parse_query(text: str) -> ParsedQuery:
    raw = (text or "").strip()[:200]
    folded = fold(raw)
    if "@" in raw:
        return ParsedQuery(raw=raw, folded=folded, email=raw.lower())
    if raw and _NUMERIC_SHAPE.match(raw):
        digits = _NON_DIGITS.sub("", raw)
        return ParsedQuery(
            raw=raw, folded=folded, digits=digits, numeric=True, phones=phone_candidates(digits)
        )
    words = _WORD.findall(folded)
    return ParsedQuery(raw=raw, folded=" ".join(words), words=words)


def tsquery_prefix(words: list[str] | list[list[str]], prefix: bool = True) -> str:
    """A to_tsquery('simple') string: every word must match, the last one as a prefix (it is the one
    still being typed; exact lexemes are much cheaper GIN lookups than prefixes), or as a whole word
    with `prefix` False. A list of alternatives for a word becomes (a | b). Words are [a-z0-9] only:
    no tsquery syntax gets in."""
    parts = []
    for i, w in enumerate(words):
        alternatives = [w] if isinstance(w, str) else w
        safe = [a for a in ("".join(_WORD.findall(x)) for x in alternatives) if a]
        suffix = ":*" if prefix and i == len(words) - 1 else ""
        if safe:
            # Quoted, so to_tsquery reads 's.a' as the parser's single token; no quote can be inside.
            terms = [(a if a.isalnum() else f"'{a}'") + suffix for a in safe]
            parts.append(terms[0] if len(terms) == 1 else "(" + " | ".join(terms) + ")")
    return " & ".join(parts)
