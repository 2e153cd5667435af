"""Customers CSV export: one streamed query, formatted for people (pt-BR spreadsheets)."""

import io
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app import formatting
from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields
from app.crm import tags as tagging
from app.crm.customers.queries import PHONE_KINDS, filter_clauses, primary_contact
from app.crm.customers.schemas import STATUSES, CustomerFilter
from app.security.spreadsheet import csv_writer
from models.platform import User
from models.tenant import Customer, CustomField, Wallet

# Headers of the export. Dates in the reader's zone, documents and phones as written in Brazil,
# wallet and owner by name: the file is for people; the API keeps ids, E.164 and UTC.
EXPORT_COLUMNS = [
    "id",
    "nome",
    "nome_fantasia",
    "documento",
    "tipo",
    "status",
    "plano",
    "telefone",
    "email",
    "carteira",
    "responsavel",
    "score",
    "etiquetas",
    "criado_em",
    "atualizado_em",
]
_FLUSH_AT = 64_000  # characters buffered before a chunk is yielded


def _export_custom(value: Any, type_: str) -> Any:
    if value is None or value == "":
        return ""
    if type_ == "bool" and isinstance(value, bool):
        return "Sim" if value else "Não"
    if type_ == "date" and isinstance(value, str):
        try:
            return formatting.date_br(date.fromisoformat(value))
        except ValueError:
            return value
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value).replace(".", ",")  # pt-BR spreadsheets read a comma as the decimal mark
    return value


def _export_query(db: Session, actor: Actor, f: CustomerFilter, ids: list[int] | None) -> Any:
    """Wallet and owner through outer joins, tags and the primary phone and e-mail through correlated
    subqueries (one index probe each), never a query per row."""
    where = filter_clauses(db, actor, f)
    if ids is not None:
        where.append(col(Customer.id).in_(ids))
    owner_name = func.coalesce(func.nullif(col(User.name), ""), col(User.email))
    return (
        sa_select(
            Customer,
            tagging.names_column(),
            col(Wallet.name),
            owner_name,
            primary_contact(PHONE_KINDS),
            primary_contact(("email",)),
        )
        .outerjoin(Wallet, col(Wallet.id) == Customer.wallet_id)
        # Owners are platform users: the tenant condition keeps another organisation's names out.
        .outerjoin(User, (col(User.id) == Customer.owner_id) & (col(User.tenant_id) == actor.tenant_id))
        .where(*where)
        .order_by(col(Customer.id))
        .execution_options(yield_per=2000)
    )


def _export_row(row: Any, defs: list[CustomField], tz: Any) -> list[Any]:
    c, tags, wallet, owner, phone, email = row
    custom = c.custom or {}
    return [
        c.id,
        c.name,
        c.trade_name or "",
        formatting.document_br(c.document),
        c.kind,
        formatting.label(c.status, STATUSES),
        c.plan or "",
        formatting.phone_br(phone),
        email or "",
        wallet or "",
        owner or "",
        c.score,
        ",".join(tags),
        formatting.datetime_br(c.created_at, tz),
        formatting.datetime_br(c.updated_at, tz),
    ] + [_export_custom(custom.get(d.key), d.type) for d in defs]


def _csv_chunks(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv_writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buf.tell() > _FLUSH_AT:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def check_export(db: Session, actor: Actor, f: CustomerFilter, *, ids: list[int] | None = None) -> None:
    """Everything that can refuse an export, without reading it: the permission, the filter, and the
    query itself run with LIMIT 0, so a streamed download answers 403/422 before its first byte."""
    actor.require(Perm.CUSTOMERS_EXPORT)
    db.exec(_export_query(db, actor, f, ids).limit(0)).all()


def export_csv(
    db: Session, actor: Actor, f: CustomerFilter, *, ids: list[int] | None = None
) -> Iterator[str]:
    """Stream the filtered (or selected) visible customers as CSV (;-separated, as Excel pt-BR expects),
    in batches of one query. Permission, audit and the query are checked before the first chunk."""
    actor.require(Perm.CUSTOMERS_EXPORT)
    defs = custom_fields.definitions(db)
    record(
        db,
        actor,
        "customer.export",
        "customer",
        None,
        None,
        {"filter": f.model_dump(mode="json", exclude_defaults=True), "ids": len(ids) if ids else None},
    )
    stmt = _export_query(db, actor, f, ids)
    tz = formatting.zone(actor.time_zone)
    header = EXPORT_COLUMNS + [d.key for d in defs]
    return _csv_chunks(header, (_export_row(r, defs, tz) for r in db.exec(stmt)))
