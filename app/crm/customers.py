"""Customers: filtered keyset list, profile, create/update with custom fields, soft delete,
bulk actions (inline for small selections, a background job with progress for large ones), CSV export.
"""

import io
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, TypeAdapter, ValidationError, field_validator
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Text,
    cast,
    delete,
    func,
    insert,
    literal,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, select

from app import formatting
from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields, timeline
from app.crm import tags as tagging
from app.crm.appointments import user_zone
from app.crm.contacts import ContactIn, add_contact
from app.crm.pagination import Page, decode_cursor, encode_cursor
from app.crm.visibility import check_assignable, customer_visible, get_visible_customer
from app.errors import Invalid, NotFound, invalid_from
from app.search import get_backend
from app.search import sync as search_sync
from app.search.postgres import record_name_words, text_clause
from app.security.spreadsheet import csv_writer
from app.validation import Day, Id, Int, Int32, Int64, NotBool, Str20, Str60, Str120, Str200, Str300, Str1000
from models.base import utcnow
from models.platform import User
from models.tenant import BulkJob, Contact, Customer, CustomerTag, Interaction, Segment, Tag, Wallet

STATUSES = {
    "ativo": "Ativo",
    "prospecto": "Prospecto",
    "inadimplente": "Inadimplente",
    "suspenso": "Suspenso",
    "cancelado": "Cancelado",
    "inativo": "Inativo",
}
SORTS: dict[str, Any] = {
    "name": Customer.name,
    "created_at": Customer.created_at,
    "updated_at": Customer.updated_at,
    "score": Customer.score,
    "status": Customer.status,
    "id": Customer.id,
}
BULK_ACTIONS = {
    "add_tag": "Adicionar etiqueta",
    "remove_tag": "Remover etiqueta",
    "assign_owner": "Atribuir responsável",
    "set_status": "Alterar status",
}
INLINE_BULK_LIMIT = 2000
BULK_CHUNK = 10000
_DIGITS = re.compile(r"\D+")
_ONE_DAY = timedelta(days=1)
BUSINESS_TZ = ZoneInfo("America/Sao_Paulo")
# A custom field's value in a filter: flat, so a filter cannot nest (a 2,000-deep JSON is a 422).
CustomValue = bool | Int64 | FiniteFloat | Str1000


# ---------------------------------------------------------------- filters and queries
class CustomRange(BaseModel):
    """A range filter on a number/date custom field: {"min": a, "max": b}, either end optional."""

    model_config = ConfigDict(extra="forbid")

    min: CustomValue | None = None
    max: CustomValue | None = None


class CustomerFilter(BaseModel):
    """Every filter of the customers list; also what a segment stores."""

    text: Str200 | None = None
    status: list[Str60] = Field(default=[], max_length=50)
    plan: list[Str120] = Field(default=[], max_length=200)
    wallet_id: list[Id] = Field(default=[], max_length=1000)
    owner_id: list[Id] = Field(default=[], max_length=1000)
    tags: list[Str60] = Field(default=[], max_length=200)  # any of these
    # {key: value} equality, or {key: {"min": a, "max": b}} range for number/date fields.
    custom: dict[Str60, CustomValue | CustomRange] = Field(default={}, max_length=100)
    created_from: Day | None = None
    created_to: Day | None = None
    updated_from: Day | None = None
    updated_to: Day | None = None
    score_min: Int32 | None = None
    score_max: Int32 | None = None
    segment_id: Id | None = None


class CustomerQuery(CustomerFilter):
    # "-updated_at" = newest first; "relevance" ranks by the search backend (needs text).
    sort: Str20 = "-updated_at"
    cursor: Str1000 | None = None
    limit: Int = Field(default=50, ge=1, le=200)


_F = TypeVar("_F", bound=CustomerFilter)


class CustomerRow(BaseModel):
    id: int
    name: str
    trade_name: str | None
    document: str | None
    kind: str
    status: str
    plan: str | None
    wallet_id: int | None
    owner_id: int | None
    score: int
    tags: list[str]
    custom: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _row(c: Customer, tags: list[str]) -> CustomerRow:
    return CustomerRow.model_validate({**c.model_dump(), "tags": tags})


def customer_row(db: Session, customer: Customer) -> CustomerRow:
    """The list/API shape of one customer, with its tag names."""
    return _row(customer, tagging.names_of(db, [customer.id or 0]).get(customer.id or 0, []))


def _day_start(d: date, tz: ZoneInfo = BUSINESS_TZ) -> datetime:
    # Date filters mean calendar days where the user lives, not UTC days.
    return datetime.combine(d, time.min, tzinfo=tz)


def _filter_zone(db: Session, actor: Actor) -> ZoneInfo:
    """The user's zone for date-only bounds (America/Sao_Paulo when unset or unknown)."""
    try:
        return ZoneInfo(user_zone(db, actor))
    except (ValueError, KeyError):
        return BUSINESS_TZ


def stored_filter(model: type[_F], data: dict[str, Any]) -> _F:
    """A filter read back from a segment. Rows saved before the bounds existed may break them: that
    is the segment's fault, so a 422 naming the field (`filters.score_min`), not a 500."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = invalid_from(exc.errors()).fields
        raise Invalid({f"filters.{k}": v for k, v in fields.items()}) from None


def _segment_filter(db: Session, actor: Actor, segment_id: int) -> CustomerFilter:
    segment = db.get(Segment, segment_id)
    if segment is None or (not segment.shared and segment.created_by != actor.user_id):
        raise NotFound("Segmento não encontrado.")
    return stored_filter(CustomerFilter, {**segment.filters, "segment_id": None})


def filter_clauses(db: Session, actor: Actor, f: CustomerFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses for a filter, always including liveness and the actor's visibility."""
    clauses: list[ColumnElement[bool]] = [col(Customer.deleted_at).is_(None), customer_visible(actor)]
    if f.segment_id is not None:
        clauses += filter_clauses(db, actor, _segment_filter(db, actor, f.segment_id))[2:]
    if f.text and f.text.strip():
        # Bounded by the same liveness and visibility as the list (clauses[:2]).
        clauses.append(text_clause(db, f.text, clauses[:2]))
    if f.status:
        clauses.append(col(Customer.status).in_(f.status))
    if f.plan:
        clauses.append(col(Customer.plan).in_(f.plan))
    if f.wallet_id:
        clauses.append(col(Customer.wallet_id).in_(f.wallet_id))
    if f.owner_id:
        clauses.append(col(Customer.owner_id).in_(f.owner_id))
    if f.tags:
        clauses.append(tagging.any_of(db, f.tags))
    if f.custom:
        defs = {d.key: d for d in custom_fields.definitions(db)}
        for key, wanted in f.custom.items():
            definition = defs.get(key)
            if definition is None:
                raise Invalid(f"custom.{key}", "Campo personalizado desconhecido.")
            if isinstance(wanted, CustomRange):
                value = Customer.custom[key].astext  # type: ignore[index]
                typed = cast(value, Float) if definition.type == "number" else value
                try:
                    lo = custom_fields._coerce(definition, wanted.min) if wanted.min is not None else None
                    hi = custom_fields._coerce(definition, wanted.max) if wanted.max is not None else None
                except ValueError as exc:
                    raise Invalid(f"custom.{key}", str(exc)) from None
                if lo is not None:
                    clauses.append(typed >= lo)
                if hi is not None:
                    clauses.append(typed <= hi)
            else:
                try:
                    value = custom_fields._coerce(definition, wanted)
                except ValueError as exc:
                    raise Invalid(f"custom.{key}", str(exc)) from None
                # Containment uses the jsonb_path_ops GIN index on customers.custom.
                clauses.append(col(Customer.custom).op("@>")(cast({key: value}, JSONB)))
    # Whole days in the user's zone, both ends included: [from 00:00, day after `to` 00:00).
    dated = f.created_from or f.created_to or f.updated_from or f.updated_to
    tz = _filter_zone(db, actor) if dated else BUSINESS_TZ
    if f.created_from:
        clauses.append(col(Customer.created_at) >= _day_start(f.created_from, tz))
    if f.created_to:
        clauses.append(col(Customer.created_at) < _day_start(f.created_to + _ONE_DAY, tz))
    if f.updated_from:
        clauses.append(col(Customer.updated_at) >= _day_start(f.updated_from, tz))
    if f.updated_to:
        clauses.append(col(Customer.updated_at) < _day_start(f.updated_to + _ONE_DAY, tz))
    if f.score_min is not None:
        clauses.append(col(Customer.score) >= f.score_min)
    if f.score_max is not None:
        clauses.append(col(Customer.score) <= f.score_max)
    return clauses


def _parse_sort(sort: str) -> tuple[str, bool]:
    key, desc = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if key not in SORTS:
        raise Invalid("sort", "Ordenação inválida.")
    return key, desc


def list_customers(db: Session, actor: Actor, q: CustomerQuery) -> Page[CustomerRow]:
    """One page of visible customers, filtered, sorted, keyset-paginated (never OFFSET)."""
    actor.require(Perm.CUSTOMERS_READ)
    if q.sort == "relevance":
        return _list_by_relevance(db, actor, q)
    key, desc = _parse_sort(q.sort)
    sort_col = SORTS[key]
    stmt = select(*_page_columns()).where(*filter_clauses(db, actor, q))
    if q.cursor:
        value, last_id = decode_cursor(q.cursor, q.sort)
        pair = tuple_(sort_col, Customer.id)
        stmt = stmt.where(pair < tuple_(value, last_id) if desc else pair > tuple_(value, last_id))
    if desc:
        stmt = stmt.order_by(col(sort_col).desc(), col(Customer.id).desc())
    else:
        stmt = stmt.order_by(col(sort_col).asc(), col(Customer.id).asc())
    # Core execution on the session's connection (same transaction and schema map): the page is plain
    # column values, and the ORM's result machinery cost more than the query itself on the fast pages.
    # Core does not autoflush, so pending changes of this session are flushed first, as the ORM would.
    db.flush()
    rows = db.connection().execute(stmt.limit(q.limit + 1)).all()
    next_cursor = None
    if len(rows) > q.limit:
        rows = rows[: q.limit]
        last = rows[-1]
        next_cursor = encode_cursor(q.sort, getattr(last, key), last.id)
    # One validation call for the whole page (pydantic loops in Rust) instead of 50 model_validate calls.
    return Page(
        rows=_ROWS.validate_python([dict(zip(_PAGE_KEYS, r, strict=True)) for r in rows]),
        next_cursor=next_cursor,
    )


_ROWS = TypeAdapter(list[CustomerRow])
_PAGE_KEYS = tuple(CustomerRow.model_fields)


@cache
def _page_columns() -> tuple[Any, ...]:
    """The list row's columns, built once: the tables never change, and rebuilding the tag-names
    subquery on every call was a visible share of a fast page."""
    table = Customer.__table__
    # Tag names through a correlated subquery: PostgreSQL evaluates it only for the rows the LIMIT keeps
    # (after a top-N sort too), so they are read for the page alone, in the same round trip.
    tags = tagging.names_column().label("tags")
    return tuple(tags if name == "tags" else table.c[name] for name in _PAGE_KEYS)


def _list_by_relevance(db: Session, actor: Actor, q: CustomerQuery) -> Page[CustomerRow]:
    # Ranked results are a bounded list (the backend's top hits), paged by position in it.
    if not q.text or not q.text.strip():
        raise Invalid("sort", "Ordenar por relevância exige um texto de busca.")
    hits = get_backend().search(db, actor, q.text, limit=200)
    start = int(decode_cursor(q.cursor, "relevance")[1]) if q.cursor else 0
    rank = {h.id: i for i, h in enumerate(hits)}
    others = q.model_copy(update={"text": None})
    rows = db.exec(
        select(Customer).where(col(Customer.id).in_(list(rank)), *filter_clauses(db, actor, others))
    ).all()
    ordered = sorted(rows, key=lambda r: rank[r.id or 0])
    page = ordered[start : start + q.limit]
    more = len(ordered) > start + q.limit
    names = tagging.names_of(db, [r.id or 0 for r in page])
    return Page(
        rows=[_row(r, names[r.id or 0]) for r in page],
        next_cursor=encode_cursor("relevance", None, start + q.limit) if more else None,
    )


def count_customers(db: Session, actor: Actor, f: CustomerFilter, cap: int = 100_000) -> dict[str, Any]:
    """How many customers match, counted up to `cap` (exact counts of 500k rows are not instant)."""
    actor.require(Perm.CUSTOMERS_READ)
    inner = (
        select(literal(1))
        .select_from(Customer)
        .where(*filter_clauses(db, actor, f))
        .limit(cap + 1)
        .subquery()
    )
    n = db.exec(select(func.count()).select_from(inner)).one()  # type: ignore[call-overload]
    return {"count": min(int(n), cap), "capped": int(n) > cap}


# ---------------------------------------------------------------- profile
class CustomerDetail(BaseModel):
    customer: CustomerRow
    contacts: list[dict[str, Any]]
    custom_fields: list[dict[str, Any]]
    wallet: dict[str, Any] | None
    last_interactions: list[timeline.TimelineItem]
    timeline_cursor: str | None


def get_customer(db: Session, actor: Actor, customer_id: int, interactions: int = 20) -> CustomerDetail:
    """The profile: customer, contacts (with opt-out), custom field values and the latest interactions."""
    actor.require(Perm.CUSTOMERS_READ)
    customer = get_visible_customer(db, actor, customer_id)
    contacts = db.exec(
        select(Contact).where(Contact.customer_id == customer_id).order_by(Contact.kind, Contact.id)  # type: ignore[arg-type]
    ).all()
    defs = custom_fields.definitions(db)
    wallet = db.get(Wallet, customer.wallet_id) if customer.wallet_id else None
    page = timeline.list_timeline(db, actor, customer_id, limit=interactions)
    return CustomerDetail(
        customer=customer_row(db, customer),
        contacts=[c.model_dump(exclude={"import_id"}) for c in contacts],
        custom_fields=[
            {
                "key": d.key,
                "label": d.label,
                "type": d.type,
                "options": d.options,
                "required": d.required,
                "value": customer.custom.get(d.key),
            }
            for d in defs
        ],
        wallet={"id": wallet.id, "name": wallet.name} if wallet else None,
        last_interactions=page.rows,
        timeline_cursor=page.next_cursor,
    )


# ---------------------------------------------------------------- create / update / delete
def clean_document(raw: str | None) -> str | None:
    """CPF (11) / CNPJ (14) digits with valid check digits, or None for empty; else 422."""
    if raw is None or not raw.strip():
        return None
    digits = _DIGITS.sub("", raw)
    if (len(digits) == 11 and _cpf_ok(digits)) or (len(digits) == 14 and _cnpj_ok(digits)):
        return digits
    raise Invalid("document", "CPF ou CNPJ inválido.")


def _cpf_ok(d: str) -> bool:
    if d == d[0] * 11:
        return False
    for n in (9, 10):
        total = sum(int(d[i]) * (n + 1 - i) for i in range(n))
        if (total * 10 % 11) % 10 != int(d[n]):
            return False
    return True


def _cnpj_ok(d: str) -> bool:
    if d == d[0] * 14:
        return False
    for n in (12, 13):
        weights = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][13 - n :]
        total = sum(int(d[i]) * weights[i] for i in range(n))
        check = 0 if total % 11 < 2 else 11 - total % 11
        if check != int(d[n]):
            return False
    return True


class CustomerIn(BaseModel):
    name: Str300
    trade_name: Str300 | None = None
    document: Str20 | None = None
    status: Str60 = "ativo"
    plan: Str120 | None = None
    wallet_id: Id | None = None
    owner_id: Id | None = None
    score: Int = Field(default=0, ge=0, le=1000)
    tags: list[Str60] = Field(default=[], max_length=200)
    custom: dict[Str60, Any] = Field(default={}, max_length=200)
    contacts: list[ContactIn] = Field(default=[], max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return v.strip()


class CustomerUpdate(BaseModel):
    name: Str300 | None = None
    trade_name: Str300 | None = None
    document: Str20 | None = None
    status: Str60 | None = None
    plan: Str120 | None = None
    wallet_id: Id | None = None
    owner_id: Id | None = None
    score: Annotated[int, Field(ge=0, le=1000), NotBool] | None = None
    tags: list[Str60] | None = Field(default=None, max_length=200)
    # Merged into the stored values; a key set to null clears that field.
    custom: dict[Str60, Any] | None = Field(default=None, max_length=200)


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise Invalid("status", "Status inválido.")


def _check_wallet(db: Session, wallet_id: int | None) -> None:
    if wallet_id is not None and db.get(Wallet, wallet_id) is None:
        raise Invalid("wallet_id", "Carteira não encontrada.")


def _check_tags(db: Session, tags: list[str]) -> list[str]:
    cleaned = sorted({t.strip() for t in tags if t.strip()})
    if cleaned:
        known = set(db.exec(select(Tag.name).where(col(Tag.name).in_(cleaned))).all())
        missing = [t for t in cleaned if t not in known]
        if missing:
            raise Invalid("tags", "Etiqueta inexistente: " + ", ".join(missing) + ".")
    return cleaned


def _check_document_free(db: Session, document: str | None, own_id: int | None = None) -> None:
    if document is None:
        return
    other = db.exec(
        select(Customer.id).where(Customer.document == document, col(Customer.deleted_at).is_(None))
    ).first()
    if other is not None and other != own_id:
        raise Invalid("document", "Já existe um cliente com este CPF/CNPJ.")


def create_customer(db: Session, actor: Actor, data: CustomerIn) -> Customer:
    """Create a customer (owner defaults to the actor) with its contacts and validated custom fields."""
    actor.require(Perm.CUSTOMERS_WRITE)
    errors: dict[str, str] = {}
    if not data.name:
        errors["name"] = "Informe o nome."
    for check in (
        lambda: _check_status(data.status),
        lambda: _check_wallet(db, data.wallet_id),
    ):
        try:
            check()
        except Invalid as exc:
            errors.update(exc.fields)
    try:
        document = clean_document(data.document)
        _check_document_free(db, document)
    except Invalid as exc:
        errors.update(exc.fields)
        document = None
    try:
        custom = custom_fields.validate_values(custom_fields.definitions(db), data.custom)
    except Invalid as exc:
        errors.update(exc.fields)
        custom = {}
    owner_id = data.owner_id if data.owner_id is not None else actor.user_id
    if owner_id is not None:
        try:
            check_assignable(db, actor, owner_id)
        except Invalid as exc:
            errors.update(exc.fields)
    try:
        tags = _check_tags(db, data.tags)
    except Invalid as exc:
        errors.update(exc.fields)
        tags = []
    if errors:
        raise Invalid(errors)
    customer = Customer(
        name=data.name,
        trade_name=data.trade_name,
        document=document,
        kind="PJ" if document and len(document) == 14 else "PF",
        status=data.status,
        plan=data.plan,
        wallet_id=data.wallet_id,
        owner_id=owner_id,
        score=data.score,
        custom=custom,
    )
    db.add(customer)
    db.flush()
    tagging.set_names(db, customer.id or 0, tags)
    record_name_words(db, [customer.name])  # typo correction knows the new name's words
    for i, contact in enumerate(data.contacts):
        add_contact(db, actor, customer.id or 0, contact, field=f"contacts.{i}.value")
    record(
        db, actor, "customer.create", "customer", customer.id, None, {**customer.model_dump(), "tags": tags}
    )
    timeline.add(
        db,
        customer.id or 0,
        "field_change",
        "Cliente cadastrado",
        {"created": True},
        actor,
        ("customer", customer.id),
    )
    search_sync.mark_dirty(db, [customer.id or 0])
    return customer


def update_customer(db: Session, actor: Actor, customer_id: int, changes: CustomerUpdate) -> Customer:
    """Apply the fields that were sent; status changes get their own timeline entry."""
    actor.require(Perm.CUSTOMERS_WRITE)
    customer = get_visible_customer(db, actor, customer_id, for_update=True)
    before = customer.model_dump()
    before_tags = tagging.names_of(db, [customer_id])[customer_id]
    new_tags: list[str] | None = None
    sent = changes.model_dump(exclude_unset=True)
    errors: dict[str, str] = {}
    if "name" in sent:
        name = (sent["name"] or "").strip()
        if not name:
            errors["name"] = "Informe o nome."
        customer.name = name
    if "trade_name" in sent:
        customer.trade_name = sent["trade_name"]
    if "document" in sent:
        try:
            customer.document = clean_document(sent["document"])
            _check_document_free(db, customer.document, customer.id)
            if customer.document:
                customer.kind = "PJ" if len(customer.document) == 14 else "PF"
        except Invalid as exc:
            errors.update(exc.fields)
    if "status" in sent:
        if sent["status"] not in STATUSES:
            errors["status"] = "Status inválido."
        else:
            customer.status = sent["status"]
    if "plan" in sent:
        customer.plan = sent["plan"]
    if "wallet_id" in sent:
        try:
            _check_wallet(db, sent["wallet_id"])
            customer.wallet_id = sent["wallet_id"]
        except Invalid as exc:
            errors.update(exc.fields)
    if "owner_id" in sent and sent["owner_id"] != customer.owner_id:
        if sent["owner_id"] is None:
            errors["owner_id"] = "Informe o responsável."
        else:
            try:
                check_assignable(db, actor, sent["owner_id"])
                customer.owner_id = sent["owner_id"]
            except Invalid as exc:
                errors.update(exc.fields)
    if "score" in sent and sent["score"] is not None:
        customer.score = sent["score"]
    if "tags" in sent and sent["tags"] is not None:
        try:
            new_tags = _check_tags(db, sent["tags"])
        except Invalid as exc:
            errors.update(exc.fields)
    if sent.get("custom") is not None:
        merged = {**customer.custom, **sent["custom"]}
        try:
            customer.custom = custom_fields.validate_values(custom_fields.definitions(db), merged)
        except Invalid as exc:
            errors.update(exc.fields)
    if errors:
        db.expire(customer)
        raise Invalid(errors)
    # updated_at means "the customers row changed": a tags-only edit writes customer_tags alone and
    # leaves the row (and its 15 indexes) untouched, as bulk tagging does.
    after = customer.model_dump()
    if any(after[k] != before[k] for k in after if k != "updated_at"):
        customer.updated_at = utcnow()
        db.add(customer)
    if customer.name != before.get("name"):
        record_name_words(db, [customer.name])  # typo correction knows the new name's words
    after_tags = before_tags
    if new_tags is not None:
        tagging.set_names(db, customer_id, new_tags)
        after_tags = new_tags
    audit_row = record(
        db,
        actor,
        "customer.update",
        "customer",
        customer.id,
        {**before, "tags": before_tags},
        {**customer.model_dump(), "tags": after_tags},
    )
    changed_before, changed_after = audit_row.before, audit_row.after
    if "status" in changed_after:
        label = STATUSES.get(customer.status, customer.status)
        timeline.add(
            db,
            customer.id or 0,
            "status_change",
            f"Status alterado para {label}",
            {"from": changed_before.get("status"), "to": customer.status},
            actor,
            ("customer", customer.id),
        )
    rest = {k: v for k, v in changed_after.items() if k != "status"}
    if rest:
        timeline.add(
            db,
            customer.id or 0,
            "field_change",
            "Dados alterados: " + ", ".join(sorted(rest)),
            {"before": {k: changed_before.get(k) for k in rest}, "after": rest},
            actor,
            ("customer", customer.id),
        )
    search_sync.mark_dirty(db, [customer_id])
    return customer


def delete_customer(db: Session, actor: Actor, customer_id: int) -> None:
    """Soft delete (admins): the row stays for history and audit, hidden everywhere."""
    actor.require(Perm.CUSTOMERS_DELETE)
    customer = get_visible_customer(db, actor, customer_id, for_update=True)
    before = customer.model_dump()
    customer.deleted_at = utcnow()
    db.add(customer)
    record(db, actor, "customer.delete", "customer", customer.id, before, customer)
    search_sync.mark_dirty(db, [customer_id])


# ---------------------------------------------------------------- bulk actions
class BulkRequest(BaseModel):
    action: Str20
    value: Str120 | Int64
    ids: list[Id] | None = Field(default=None, max_length=100_000)
    filter: CustomerFilter | None = None


def _check_bulk(db: Session, actor: Actor, req: BulkRequest) -> str | int:
    actor.require(Perm.CUSTOMERS_BULK)
    if req.action not in BULK_ACTIONS:
        raise Invalid("action", "Ação em massa inválida.")
    if (req.ids is None) == (req.filter is None):
        raise Invalid("ids", "Informe a seleção ou o filtro.")
    if req.action in ("add_tag", "remove_tag"):
        return _check_tags(db, [str(req.value)])[0] if str(req.value).strip() else _raise_value()
    if req.action == "set_status":
        if str(req.value) not in STATUSES:
            raise Invalid("value", "Status inválido.")
        return str(req.value)
    try:
        owner = int(req.value)
    except (TypeError, ValueError):
        raise Invalid("value", "Responsável inválido.") from None
    check_assignable(db, actor, owner, field="value")
    return owner


def _raise_value() -> str:
    raise Invalid("value", "Informe o valor.")


def _selected_ids(db: Session, actor: Actor, ids: list[int] | None, f: CustomerFilter | None) -> list[int]:
    where = filter_clauses(db, actor, f or CustomerFilter())
    stmt = select(Customer.id).where(*where)
    if ids is not None:
        stmt = stmt.where(col(Customer.id).in_(ids))
    return [i for i in db.exec(stmt.order_by(Customer.id)).all() if i is not None]


def _tag_chunk(db: Session, action: str, name: str, ids: list[int]) -> list[int]:
    """Add/remove one tag on live customers among `ids`, set-based; returns the customers that changed.

    Only customer_tags is written: the customers rows (and updated_at) stay as they are, which is what
    makes a 100k-row bulk tag cheap (no UPDATE through the 15 indexes of customers).
    """
    tag_id = db.exec(select(Tag.id).where(Tag.name == name)).first()
    if tag_id is None:  # deleted since the job was queued: nothing to add or remove
        return []
    ct, c = CustomerTag.__table__, Customer.__table__
    live = select(c.c.id).where(c.c.id.in_(ids), c.c.deleted_at.is_(None))
    if action == "add_tag":
        stmt: Any = (
            pg_insert(ct)
            .from_select(["customer_id", "tag_id"], live.add_columns(literal(tag_id, BigInteger)))
            .on_conflict_do_nothing()
            .returning(ct.c.customer_id)
        )
    else:
        stmt = (
            delete(ct)
            .where(ct.c.tag_id == tag_id, ct.c.customer_id.in_(live.scalar_subquery()))
            .returning(ct.c.customer_id)
        )
    return [r[0] for r in db.exec(stmt)]  # type: ignore[call-overload]


def _apply_chunk(db: Session, actor: Actor, action: str, value: str | int, ids: list[int]) -> int:
    """One set-based write plus one INSERT of timeline rows; returns how many customers changed."""
    if action in ("add_tag", "remove_tag"):
        changed = _tag_chunk(db, action, str(value), ids)
        verb = "adicionada" if action == "add_tag" else "removida"
        summary = f"Etiqueta {verb}: {value}"
    else:
        table = Customer.__table__
        stmt = update(table).where(table.c.id.in_(ids), table.c.deleted_at.is_(None))
        if action == "assign_owner":
            stmt = stmt.where(table.c.owner_id.is_distinct_from(value)).values(owner_id=value)
            summary = "Responsável alterado em massa"
        else:
            stmt = stmt.where(table.c.status != value).values(status=value)
            summary = f"Status alterado para {STATUSES.get(str(value), value)}"
        stmt = stmt.values(updated_at=func.now()).returning(table.c.id)
        changed = [r[0] for r in db.exec(stmt)]  # type: ignore[call-overload]
        search_sync.mark_dirty(db, changed)  # tags are not in the search documents
    if changed:
        kind = "status_change" if action == "set_status" else "field_change"
        payload = {"bulk": True, "action": action, "value": value}
        db.exec(  # type: ignore[call-overload]
            insert(Interaction.__table__).from_select(
                ["customer_id", "kind", "summary", "payload", "actor_id", "origin"],
                select(
                    func.unnest(cast(changed, ARRAY(BigInteger))),
                    literal(kind),
                    literal(summary),
                    cast(payload, JSONB),
                    literal(actor.user_id),
                    literal("user" if actor.user_id else "system"),
                ),
            )
        )
    return len(changed)


def start_bulk(db: Session, actor: Actor, req: BulkRequest) -> BulkJob:
    """Validate and either run now (small selections) or queue a job; the caller kicks the task if queued."""
    value = _check_bulk(db, actor, req)
    job = BulkJob(
        action=req.action,
        params={"value": value},
        selection={"ids": req.ids}
        if req.ids is not None
        else {"filter": req.filter.model_dump(mode="json")}
        if req.filter
        else {},
        created_by=actor.user_id,
        state="queued",
    )
    db.add(job)
    db.flush()
    if req.ids is not None:
        small = len(req.ids) <= INLINE_BULK_LIMIT
    else:
        small = not count_customers(db, actor, req.filter or CustomerFilter(), cap=INLINE_BULK_LIMIT)[
            "capped"
        ]
    if small:
        run_bulk_job(db, actor, job.id or 0)
    record(
        db,
        actor,
        "customer.bulk",
        "bulk_job",
        job.id,
        None,
        {"action": req.action, "value": value, "selection": job.selection},
    )
    return job


def begin_bulk_job(db: Session, actor: Actor, job_id: int) -> tuple[BulkJob, list[int]]:
    """Mark a job running and resolve its selection to ids, against the actor's visibility now."""
    job = db.get(BulkJob, job_id)
    if job is None or job.created_by != actor.user_id:
        raise NotFound("Ação em massa não encontrada.")
    if job.state == "done":
        return job, []
    selection = job.selection
    f = CustomerFilter.model_validate(selection["filter"]) if "filter" in selection else None
    ids = _selected_ids(db, actor, selection.get("ids"), f)
    job.state, job.total, job.done, job.started_at = "running", len(ids), 0, utcnow()
    job.params = {**job.params, "changed": 0}
    db.add(job)
    return job, ids


def apply_bulk_chunk(db: Session, actor: Actor, job_id: int, ids: list[int]) -> int:
    """Apply one chunk and count it on the job row atomically (chunks may run in parallel sessions)."""
    job = db.get(BulkJob, job_id)
    if job is None or job.created_by != actor.user_id:
        raise NotFound("Ação em massa não encontrada.")
    changed = _apply_chunk(db, actor, job.action, job.params["value"], ids)
    table = BulkJob.__table__
    db.exec(  # type: ignore[call-overload]
        update(table)
        .where(table.c.id == job_id)
        .values(
            done=table.c.done + len(ids),
            params=func.jsonb_set(
                table.c.params,
                cast(["changed"], ARRAY(Text)),
                func.to_jsonb(func.coalesce(table.c.params["changed"].astext.cast(BigInteger), 0) + changed),
            ),
            updated_at=func.now(),
        )
    )
    return changed


def finish_bulk_job(db: Session, job_id: int, error: str | None = None) -> BulkJob:
    job = db.get(BulkJob, job_id)
    if job is None:
        raise NotFound("Ação em massa não encontrada.")
    db.refresh(job)
    job.state, job.finished_at, job.error = ("failed" if error else "done"), utcnow(), error
    db.add(job)
    return job


def chunks(ids: list[int], size: int = BULK_CHUNK) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def run_bulk_job(
    db: Session,
    actor: Actor,
    job_id: int,
    checkpoint: Callable[[], None] | None = None,
    chunk: int = BULK_CHUNK,
) -> BulkJob:
    """Apply a job chunk by chunk in this session; `checkpoint` (the task's commit) makes progress visible."""
    job, ids = begin_bulk_job(db, actor, job_id)
    if job.state == "done":
        return job
    if checkpoint:
        checkpoint()
    for part in chunks(ids, chunk):
        apply_bulk_chunk(db, actor, job_id, part)
        if checkpoint:
            checkpoint()
    return finish_bulk_job(db, job_id)


def get_bulk_job(db: Session, actor: Actor, job_id: int) -> BulkJob:
    actor.require(Perm.CUSTOMERS_BULK)
    job = db.get(BulkJob, job_id)
    if job is None or (job.created_by != actor.user_id and not actor.sees_all):
        raise NotFound("Ação em massa não encontrada.")
    return job


# ---------------------------------------------------------------- export
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


def _primary_contact(kinds: tuple[str, ...]) -> Any:
    """The customer's primary contact of these kinds (else its oldest), one index probe per row."""
    return (
        select(Contact.value)
        .where(Contact.customer_id == Customer.id, col(Contact.kind).in_(kinds))
        .order_by(col(Contact.is_primary).desc(), col(Contact.kind) == "whatsapp", Contact.id)
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


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


def export_csv(db: Session, actor: Actor, f: CustomerFilter, ids: list[int] | None = None) -> Iterator[str]:
    """Stream the filtered (or selected) visible customers as CSV (;-separated, as Excel pt-BR expects).

    One query, streamed in batches: wallet and owner through outer joins, tags and the primary phone
    and e-mail through correlated subqueries (one index probe each), never a query per row.
    """
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
    where = filter_clauses(db, actor, f)
    if ids is not None:
        where.append(col(Customer.id).in_(ids))
    owner_name = func.coalesce(func.nullif(User.name, ""), User.email)
    stmt = (
        select(
            Customer,
            tagging.names_column(),
            Wallet.name,
            owner_name,
            _primary_contact(("phone", "whatsapp")),
            _primary_contact(("email",)),
        )
        .outerjoin(Wallet, col(Wallet.id) == Customer.wallet_id)
        # Owners are platform users: the tenant condition keeps another organisation's names out.
        .outerjoin(User, (col(User.id) == Customer.owner_id) & (col(User.tenant_id) == actor.tenant_id))
        .where(*where)
        .order_by(Customer.id)
        .execution_options(yield_per=2000)
    )
    tz = formatting.zone(actor.time_zone)

    def lines() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv_writer(buf)
        writer.writerow(EXPORT_COLUMNS + [d.key for d in defs])
        for c, tags, wallet, owner, phone, email in db.exec(stmt):
            custom = c.custom or {}
            writer.writerow(
                [
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
                ]
                + [_export_custom(custom.get(d.key), d.type) for d in defs]
            )
            if buf.tell() > 64_000:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return lines()
