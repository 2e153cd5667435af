"""Column mapping: which source column feeds which customer field, and suggestions from headers."""

import re

from app.errors import Invalid
from app.text import fold_words  # headers compare as folded words

FIELDS = ("name", "document", "phone", "whatsapp", "email", "plan", "status", "wallet", "owner", "tags")
FIELD_LABELS = {
    "name": "Nome / Razão social",
    "document": "CPF/CNPJ",
    "phone": "Telefone",
    "whatsapp": "WhatsApp",
    "email": "E-mail",
    "plan": "Plano",
    "status": "Situação",
    "wallet": "Carteira",
    "owner": "Responsável",
    "tags": "Tags",
    "ignore": "Ignorar",
}
# Fields a row may carry only once (phones may come from several columns).
SINGLE_FIELDS = frozenset({"name", "document", "email", "plan", "status", "wallet", "owner"})
MULTI_FIELDS = frozenset({"phone", "whatsapp", "tags"})
_CUSTOM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,59}$")

# pt-BR (and a few English) header synonyms, compared after fold(): accents, case and punctuation out.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": (
        "nome",
        "nome completo",
        "nome cliente",
        "cliente",
        "razao social",
        "nome razao social",
        "nome/razao social",
        "nome ou razao social",
        "nome fantasia razao social",
        "assinante",
        "titular",
        "name",
        "full name",
        "customer",
        "contato",
    ),
    "document": (
        "cpf",
        "cnpj",
        "cpf cnpj",
        "cnpj cpf",
        "cpf/cnpj",
        "cnpj/cpf",
        "documento",
        "doc",
        "cpf ou cnpj",
        "num documento",
        "numero documento",
        "document",
        "tax id",
    ),
    "phone": (
        "telefone",
        "telefone 1",
        "telefone 2",
        "telefone 3",
        "tel",
        "tel 1",
        "tel 2",
        "fone",
        "fone 1",
        "fone 2",
        "celular",
        "cel",
        "celular 1",
        "celular 2",
        "telefone celular",
        "telefone fixo",
        "fixo",
        "movel",
        "linha",
        "numero",
        "numero linha",
        "msisdn",
        "ddd telefone",
        "contato telefone",
        "phone",
        "mobile",
        "telefone comercial",
        "telefone residencial",
    ),
    "whatsapp": ("whatsapp", "whats", "zap", "wpp", "whatsapp 1", "numero whatsapp", "celular whatsapp"),
    "email": ("email", "e mail", "e-mail", "mail", "endereco email", "email 1", "correio eletronico"),
    "plan": ("plano", "plano atual", "produto", "oferta", "pacote", "plan"),
    "status": ("situacao", "status", "situacao cliente", "estado", "status cliente", "situacao cadastral"),
    "wallet": ("carteira", "wallet", "segmento carteira", "portfolio"),
    "owner": ("responsavel", "vendedor", "consultor", "executivo", "owner", "atendente", "gerente de conta"),
    "tags": ("tags", "etiquetas", "marcadores", "tag", "rotulos"),
}


_LOOKUP = {fold_words(s): field for field, syns in _SYNONYMS.items() for s in syns}


def suggest_field(header: str) -> str:
    """The field a header most likely means, or "ignore"."""
    key = fold_words(header)
    if not key:
        return "ignore"
    if key in _LOOKUP:
        return _LOOKUP[key]
    # "Telefone 4", "Celular (WhatsApp)", "E-mail principal": decide by the leading words.
    words = key.split()
    for n in range(len(words) - 1, 0, -1):
        head = " ".join(words[:n])
        if head in _LOOKUP:
            return _LOOKUP[head]
    if "whats" in key or "zap" in words:
        return "whatsapp"
    if any(w in ("telefone", "fone", "celular", "tel", "cel") for w in words):
        return "phone"
    if "email" in key.replace(" ", "") or "mail" in words:
        return "email"
    if "cpf" in words or "cnpj" in words:
        return "document"
    return "ignore"


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """{header: field} for every header; single-value fields go to their first matching column only."""
    taken: set[str] = set()
    out: dict[str, str] = {}
    for h in headers:
        field = suggest_field(h)
        if field in SINGLE_FIELDS and field in taken:
            field = "ignore"
        taken.add(field)
        out[h] = field
    return out


def validate_mapping(mapping: dict[str, str], headers: list[str]) -> dict[str, str]:
    """Checks a {header: field} mapping against the file's headers; raises Invalid with pt-BR reasons."""
    problems: dict[str, str] = {}
    seen: dict[str, str] = {}
    clean: dict[str, str] = {}
    for column, field in mapping.items():
        field = (field or "ignore").strip()
        if column not in headers:
            problems[column] = f"A coluna “{column}” não existe no arquivo."
            continue
        if field.startswith("custom:"):
            key = field.split(":", 1)[1]
            if not _CUSTOM_KEY.match(key):
                problems[column] = "Campo personalizado inválido: use letras minúsculas, números e _."
                continue
        elif field != "ignore" and field not in FIELDS:
            problems[column] = f"Campo “{field}” desconhecido."
            continue
        if field in SINGLE_FIELDS and field in seen:
            problems[column] = f"O campo {FIELD_LABELS[field]} já está ligado à coluna “{seen[field]}”."
            continue
        seen.setdefault(field, column)
        clean[column] = field
    if problems:
        raise Invalid(problems)
    fields = set(clean.values())
    if not fields & {"phone", "whatsapp", "email"}:
        raise Invalid("mapping", "Ligue ao menos uma coluna de telefone, WhatsApp ou e-mail.")
    return clean
