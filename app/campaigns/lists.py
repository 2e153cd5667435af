"""Uploaded customer lists: a CSV or XLSX of documents (CPF/CNPJ), phones or e-mails becomes a campaign's
audience. The file is kept through the storage layer, read in batches by the import's readers, its values
normalised by the import's vectorised normalisers (the same answers an import gives), and matched per
batch in one statement against the customers the uploader may see. Lines that match nobody, are invalid
or repeat a customer are counted, and the first ones are kept with a pt-BR reason for the preview.
"""

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel
from sqlalchemy import String, and_, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, col

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.brazil.documents import is_valid_cnpj, is_valid_cpf
from app.crm.customers.queries import filter_clauses
from app.crm.customers.schemas import CustomerFilter
from app.errors import Invalid, NotFound
from app.importing import readers
from app.importing.documents import normalise_documents
from app.importing.emails import normalise_emails
from app.importing.mapping import suggest_field
from app.importing.phones import normalise_phones
from app.storage import get_storage
from app.storage.base import safe_filename
from models.tenant import CampaignList, Contact, Customer

MAX_BYTES = 100 * 1024 * 1024  # REST and the page refuse larger lists
MAX_PROBLEMS = 200  # lines listed with their reason; the rest are only counted
KINDS = ("document", "phone", "email")
REASONS = {
    "invalid": "Valor inválido: não é CPF/CNPJ, telefone ou e-mail válido.",
    "empty": "Linha sem CPF/CNPJ, telefone ou e-mail.",
    "not_found": "Nenhum cliente com este valor (ou fora da sua carteira).",
    "repeated": "Cliente repetido na lista.",
}


class ListProblem(BaseModel):
    linha: int
    valor: str
    motivo: str


class ListOut(BaseModel):
    id: int
    arquivo: str
    linhas: int
    encontrados: int
    nao_encontrados: int
    invalidos: int
    repetidos: int
    problemas: list[ListProblem]


def view(row: CampaignList) -> ListOut:
    n = row.counts or {}
    return ListOut(
        id=row.id or 0,
        arquivo=row.filename,
        linhas=int(n.get("linhas", 0)),
        encontrados=int(n.get("encontrados", 0)),
        nao_encontrados=int(n.get("nao_encontrados", 0)),
        invalidos=int(n.get("invalidos", 0)),
        repetidos=int(n.get("repetidos", 0)),
        problemas=[ListProblem(**p) for p in row.problems or []],
    )


def _columns(headers: list[str]) -> dict[str, str]:
    """{frame column: kind} by the headers (the import's synonyms); without any, every column is read
    and each value's kind guessed from its shape."""
    found = {}
    for i, h in enumerate(headers):
        kind = suggest_field(h)
        kind = "phone" if kind == "whatsapp" else kind
        if kind in KINDS:
            found[f"c{i}"] = kind
    return found or {f"c{i}": "any" for i in range(len(headers))}


def _guess(raw: str) -> str:
    if "@" in raw:
        return "email"
    digits = "".join(ch for ch in raw if ch.isdigit())
    if (len(digits) == 14 and is_valid_cnpj(digits)) or (len(digits) == 11 and is_valid_cpf(digits)):
        return "document"
    return "phone"


def _normalise(frame: pl.DataFrame, columns: dict[str, str]) -> list[tuple[int, str, str, str | None]]:
    """(line, raw, kind, normalised value or None) per line: the first column with a value decides."""
    raws: list[str | None] = [None] * frame.height
    kinds: list[str] = [""] * frame.height
    for c, kind in columns.items():
        if c not in frame.columns:
            continue
        for i, v in enumerate(frame[c].to_list()):
            if raws[i] is None and v is not None and str(v).strip():
                raws[i], kinds[i] = str(v).strip(), (_guess(str(v)) if kind == "any" else kind)
    series = pl.Series("v", raws, dtype=pl.String)
    normalised = {
        "document": normalise_documents(series).to_list(),
        "phone": normalise_phones(series).to_list(),
        "email": normalise_emails(series).to_list(),
    }
    lines = frame["_line"].to_list()
    return [
        (lines[i], raws[i] or "", kinds[i], normalised[kinds[i]][i] if kinds[i] else None)
        for i in range(frame.height)
    ]


def _match(db: Session, actor: Actor, kind: str, values: list[str]) -> dict[str, int]:
    """{normalised value: customer id} among the customers the actor may see (one statement per kind)."""
    if not values:
        return {}
    given = func.unnest(cast(values, ARRAY(String))).table_valued("value").render_derived("given")
    visible = filter_clauses(db, actor, CustomerFilter())
    if kind == "document":
        stmt = select(given.c.value, func.min(col(Customer.id))).join(
            Customer, col(Customer.document) == given.c.value
        )
    else:
        contact_kinds = ("phone", "whatsapp") if kind == "phone" else ("email",)
        stmt = (
            select(given.c.value, func.min(col(Customer.id)))
            .join(Contact, and_(col(Contact.value) == given.c.value, col(Contact.kind).in_(contact_kinds)))
            .join(Customer, col(Customer.id) == col(Contact.customer_id))
        )
    rows = db.execute(stmt.where(*visible).group_by(given.c.value)).all()
    return {value: int(cid) for value, cid in rows}


def _matched_batches(
    db: Session, actor: Actor, batches: Iterable[readers.Batch], columns: dict[str, str]
) -> tuple[list[int], dict[str, int], list[dict[str, Any]]]:
    seen: set[int] = set()
    ordered: list[int] = []
    counts = {"linhas": 0, "encontrados": 0, "nao_encontrados": 0, "invalidos": 0, "repetidos": 0}
    problems: list[dict[str, Any]] = []

    def problem(line: int, raw: str, reason: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append({"linha": line, "valor": raw[:120], "motivo": REASONS[reason]})

    for batch in batches:
        for error in batch.errors:
            counts["linhas"] += 1
            counts["invalidos"] += 1
            problem(error.line, error.raw, "invalid")
        if batch.frame.height == 0:
            continue
        entries = _normalise(batch.frame, columns)
        found: dict[str, dict[str, int]] = {
            k: _match(db, actor, k, sorted({v for _, _, kind, v in entries if kind == k and v}))
            for k in KINDS
        }
        for line, raw, kind, value in entries:
            counts["linhas"] += 1
            if not raw:
                counts["invalidos"] += 1
                problem(line, raw, "empty")
            elif value is None:
                counts["invalidos"] += 1
                problem(line, raw, "invalid")
            elif (customer := found[kind].get(value)) is None:
                counts["nao_encontrados"] += 1
                problem(line, raw, "not_found")
            elif customer in seen:
                counts["repetidos"] += 1
                problem(line, raw, "repeated")
            else:
                seen.add(customer)
                ordered.append(customer)
                counts["encontrados"] += 1
    return ordered, counts, problems


def upload_list(db: Session, actor: Actor, filename: str, path: Path) -> ListOut:
    """Keep the file, match its lines against the customers the actor may see, and store the result."""
    actor.require(Perm.CAMPAIGNS_MANAGE)
    info = readers.inspect_file(path, filename)  # pt-BR Invalid for empty, binary or broken files
    columns = _columns(info.headers)
    name = safe_filename(filename)[:200]
    key = f"campaign-lists/{actor.schema}/{uuid.uuid4().hex}/{name}"
    customers, counts, problems = _matched_batches(db, actor, readers.iter_batches(path, info), columns)
    if counts["linhas"] == 0:
        raise Invalid("arquivo", "A lista não tem nenhuma linha além do cabeçalho.")
    get_storage().put_file(key, path)  # kept (as the imports keep theirs) once the list is usable
    row = CampaignList(
        filename=name,
        storage_key=key,
        created_by=actor.user_id,
        customer_ids=customers,
        counts=counts,
        problems=problems,
    )
    db.add(row)
    db.flush()
    record(db, actor, "campaign_list.upload", "campaign_list", row.id, None, {"file": name, **counts})
    return view(row)


def get_list(db: Session, actor: Actor, list_id: int) -> CampaignList:
    actor.require(Perm.CAMPAIGNS_MANAGE)
    row = db.get(CampaignList, list_id)
    if row is None:
        raise NotFound("Lista não encontrada.")
    return row


def members(list_id: int) -> Any:
    """The list's customers as a subquery for the audience's WHERE (unnested in the database)."""
    return select(func.unnest(col(CampaignList.customer_ids))).where(col(CampaignList.id) == list_id)
