"""Customers write side: create, update and soft delete, each validating every field before it fails.

A form shows all its errors at once, so each check runs and collects its pt-BR message per field
instead of stopping at the first one.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.brazil.documents import clean_document, kind_of
from app.crm import custom_fields, timeline
from app.crm import tags as tagging
from app.crm.contacts import add_contact
from app.crm.customers.schemas import STATUSES, CustomerIn, CustomerUpdate
from app.crm.visibility import check_assignable, get_visible_customer
from app.errors import Invalid
from app.search import sync as search_sync
from app.search.postgres import record_name_words
from models.base import utcnow
from models.tenant import Customer, Tag, Wallet

_T = TypeVar("_T")


def _attempt(errors: dict[str, str], check: Callable[[], _T], fallback: _T) -> _T:
    """Run one check; its field errors join `errors` and `fallback` stands in for its result."""
    try:
        return check()
    except Invalid as exc:
        errors.update(exc.fields)
        return fallback


# ---------------------------------------------------------------- checks
def check_status(status: str) -> str:
    if status not in STATUSES:
        raise Invalid("status", "Status inválido.")
    return status


def check_wallet(db: Session, wallet_id: int | None) -> int | None:
    if wallet_id is not None and db.get(Wallet, wallet_id) is None:
        raise Invalid("wallet_id", "Carteira não encontrada.")
    return wallet_id


def check_tags(db: Session, tags: list[str]) -> list[str]:
    """The distinct, trimmed tag names, sorted; a name that is not a tag yet is a 422."""
    cleaned = sorted({t.strip() for t in tags if t.strip()})
    if cleaned:
        known = set(db.exec(select(Tag.name).where(col(Tag.name).in_(cleaned))).all())
        missing = [t for t in cleaned if t not in known]
        if missing:
            raise Invalid("tags", "Etiqueta inexistente: " + ", ".join(missing) + ".")
    return cleaned


def _free_document(db: Session, raw: str | None, own_id: int | None = None) -> str | None:
    """The normalised document, if no other live customer has it."""
    document = clean_document(raw)
    if document is None:
        return None
    other = db.exec(
        select(Customer.id).where(Customer.document == document, col(Customer.deleted_at).is_(None))
    ).first()
    if other is not None and other != own_id:
        raise Invalid("document", "Já existe um cliente com este CPF/CNPJ.")
    return document


def _custom_values(db: Session, values: dict[str, Any]) -> dict[str, Any]:
    return custom_fields.validate_values(custom_fields.definitions(db), values)


def _assignable(db: Session, actor: Actor, owner_id: int) -> int:
    check_assignable(db, actor, owner_id)
    return owner_id


def _name(raw: str | None) -> str:
    name = (raw or "").strip()
    if not name:
        raise Invalid("name", "Informe o nome.")
    return name


def _note(
    db: Session, actor: Actor, customer: Customer, *, kind: str, summary: str, payload: dict[str, Any]
) -> None:
    timeline.add(
        db,
        customer.id or 0,
        kind=kind,
        summary=summary,
        payload=payload,
        actor=actor,
        ref=("customer", customer.id),
    )


# ---------------------------------------------------------------- create
def create_customer(db: Session, actor: Actor, data: CustomerIn) -> Customer:
    """Create a customer (owner defaults to the actor) with its contacts and validated custom fields."""
    actor.require(Perm.CUSTOMERS_WRITE)
    errors: dict[str, str] = {}
    _attempt(errors, lambda: _name(data.name), "")
    _attempt(errors, lambda: check_status(data.status), "")
    _attempt(errors, lambda: check_wallet(db, data.wallet_id), None)
    document = _attempt(errors, lambda: _free_document(db, data.document), None)
    custom: dict[str, Any] = _attempt(errors, lambda: _custom_values(db, data.custom), {})
    owner_id = data.owner_id if data.owner_id is not None else actor.user_id
    if owner_id is not None:
        _attempt(errors, lambda: _assignable(db, actor, owner_id), owner_id)
    tags: list[str] = _attempt(errors, lambda: check_tags(db, data.tags), [])
    if errors:
        raise Invalid(errors)
    customer = Customer(
        name=data.name,
        trade_name=data.trade_name,
        document=document,
        kind=kind_of(document),
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
    _note(db, actor, customer, kind="field_change", summary="Cliente cadastrado", payload={"created": True})
    search_sync.mark_dirty(db, [customer.id or 0])
    return customer


# ---------------------------------------------------------------- update
# One setter per field of CustomerUpdate, in the order the form shows its errors; each validates the
# sent value and writes it on the customer, or raises Invalid for that field.
_Setter = Callable[[Session, Actor, Customer, Any], None]


def _set_name(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    customer.name = (value or "").strip()
    _name(customer.name)


def _set_trade_name(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    customer.trade_name = value


def _set_document(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    customer.document = _free_document(db, value, customer.id)
    if customer.document:
        customer.kind = kind_of(customer.document)


def _set_status(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    customer.status = check_status(value)


def _set_plan(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    customer.plan = value


def _set_wallet(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    customer.wallet_id = check_wallet(db, value)


def _set_owner(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    if value == customer.owner_id:
        return
    if value is None:
        raise Invalid("owner_id", "Informe o responsável.")
    customer.owner_id = _assignable(db, actor, value)


def _set_score(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    if value is not None:
        customer.score = value


def _set_custom(db: Session, actor: Actor, customer: Customer, value: Any) -> None:
    if value is not None:
        customer.custom = _custom_values(db, {**customer.custom, **value})


_SETTERS: tuple[tuple[str, _Setter], ...] = (
    ("name", _set_name),
    ("trade_name", _set_trade_name),
    ("document", _set_document),
    ("status", _set_status),
    ("plan", _set_plan),
    ("wallet_id", _set_wallet),
    ("owner_id", _set_owner),
    ("score", _set_score),
)


def _apply_changes(db: Session, actor: Actor, customer: Customer, sent: dict[str, Any]) -> list[str] | None:
    """Write the sent fields on the customer; returns the new tag names (None: tags not sent).
    Every invalid field is reported together; the customer is left unchanged then."""
    errors: dict[str, str] = {}
    for key, setter in _SETTERS:
        if key in sent:
            try:
                setter(db, actor, customer, sent[key])
            except Invalid as exc:
                errors.update(exc.fields)
    new_tags = None
    if sent.get("tags") is not None:
        new_tags = _attempt(errors, lambda: check_tags(db, sent["tags"]), None)
    _attempt(errors, lambda: _set_custom(db, actor, customer, sent.get("custom")), None)
    if errors:
        db.expire(customer)
        raise Invalid(errors)
    return new_tags


def _touch(db: Session, customer: Customer, before: dict[str, Any]) -> None:
    """updated_at means "the customers row changed": a tags-only edit writes customer_tags alone and
    leaves the row (and its 15 indexes) untouched, as bulk tagging does."""
    after = customer.model_dump()
    if any(after[k] != before[k] for k in after if k != "updated_at"):
        customer.updated_at = utcnow()
        db.add(customer)
    if customer.name != before.get("name"):
        record_name_words(db, [customer.name])  # typo correction knows the new name's words


def _note_update(
    db: Session, actor: Actor, customer: Customer, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Timeline entries for what the audit saw change: status on its own, the other fields together."""
    if "status" in after:
        label = STATUSES.get(customer.status, customer.status)
        payload = {"from": before.get("status"), "to": customer.status}
        _note(
            db,
            actor,
            customer,
            kind="status_change",
            summary=f"Status alterado para {label}",
            payload=payload,
        )
    rest = {k: v for k, v in after.items() if k != "status"}
    if rest:
        summary = "Dados alterados: " + ", ".join(sorted(rest))
        payload = {"before": {k: before.get(k) for k in rest}, "after": rest}
        _note(db, actor, customer, kind="field_change", summary=summary, payload=payload)


def update_customer(db: Session, actor: Actor, customer_id: int, changes: CustomerUpdate) -> Customer:
    """Apply the fields that were sent; status changes get their own timeline entry."""
    actor.require(Perm.CUSTOMERS_WRITE)
    customer = get_visible_customer(db, actor, customer_id, for_update=True)
    before = customer.model_dump()
    before_tags = tagging.names_of(db, [customer_id])[customer_id]
    new_tags = _apply_changes(db, actor, customer, changes.model_dump(exclude_unset=True))
    _touch(db, customer, before)
    if new_tags is not None:
        tagging.set_names(db, customer_id, new_tags)
    after_tags = before_tags if new_tags is None else new_tags
    audit_row = record(
        db,
        actor,
        "customer.update",
        "customer",
        customer.id,
        {**before, "tags": before_tags},
        {**customer.model_dump(), "tags": after_tags},
    )
    _note_update(db, actor, customer, audit_row.before, audit_row.after)
    search_sync.mark_dirty(db, [customer_id])
    return customer


# ---------------------------------------------------------------- delete
def delete_customer(db: Session, actor: Actor, customer_id: int) -> None:
    """Soft delete (admins): the row stays for history and audit, hidden everywhere."""
    actor.require(Perm.CUSTOMERS_DELETE)
    customer = get_visible_customer(db, actor, customer_id, for_update=True)
    before = customer.model_dump()
    customer.deleted_at = utcnow()
    db.add(customer)
    record(db, actor, "customer.delete", "customer", customer.id, before, customer)
    search_sync.mark_dirty(db, [customer_id])
