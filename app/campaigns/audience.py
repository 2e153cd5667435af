"""Materialise a campaign's audience in one set-based statement: every customer the filter (or segment)
selects and the creator may see, with the primary address of the campaign's medium, the sending identity
(round-robin, or sticky: the same customer always hears from the same number). Customers without an
address, or whose address opted out (the contact's flag or the ledger's newest line), are recorded as
skipped with the reason, so the counts explain themselves.

The template variables are not written per recipient: the feeder builds them for its batch from the
customer as it is then (`customer_variables`), with the recipient's own values last. Building and storing a
JSON document for every recipient was most of the statement's time at 500k (docs/benchmarks.md).
"""

from collections import Counter
from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, func, insert, literal, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session, col

from app.auth.actor import Actor
from app.campaigns import lists
from app.crm.customers.queries import PRIMARY_FIRST, filter_clauses
from app.crm.customers.schemas import CustomerFilter
from app.messaging import consent
from models.tenant import Campaign, CampaignRecipient, ConsentEvent, Contact, Customer


def customer_variables(extra: dict[str, Any]) -> Any:
    """A customer row's template variables in SQL: the same names as app.crm.templates.variables_for,
    then the customer's custom fields, then the campaign's own values (`extra`)."""
    base = func.jsonb_build_object(
        "nome",
        Customer.name,
        "primeiro_nome",
        func.split_part(Customer.name, " ", 1),
        "razao_social",
        Customer.name,
        "nome_fantasia",
        func.coalesce(Customer.trade_name, Customer.name),
        "documento",
        func.coalesce(Customer.document, ""),
        "plano_atual",
        func.coalesce(Customer.plan, ""),
        "status",
        Customer.status,
    )
    return base.op("||")(col(Customer.custom)).op("||")(cast(literal(extra, JSONB), JSONB))


def _opted_out_hashes(db: Session, medium: str) -> list[str]:
    """Addresses whose newest ledger line is an opt-out (the ledger is small next to the audience)."""
    newest = (
        select(
            col(ConsentEvent.address_hash),
            col(ConsentEvent.status),
            func.row_number()
            .over(partition_by=col(ConsentEvent.address_hash), order_by=col(ConsentEvent.id).desc())
            .label("rank"),
        )
        .where(col(ConsentEvent.medium) == medium)
        .subquery()
    )
    return list(
        db.exec(  # type: ignore[call-overload]
            select(newest.c.address_hash).where(newest.c.rank == 1, newest.c.status == "opt_out")
        ).scalars()
    )


def _from_list(campaign: Campaign) -> list[Any]:
    list_id = (campaign.audience or {}).get("list_id")
    return [col(Customer.id).in_(lists.members(int(list_id)))] if list_id else []


def audience_select(db: Session, actor: Actor, campaign: Campaign, f: CustomerFilter) -> Any:
    kinds = consent.CONTACT_KINDS[campaign.medium]
    # The primary address and its opt-out flag in one probe per customer (a LATERAL over the contacts
    # index), the opt-out test evaluated once per row: at 500k customers each extra probe is seconds.
    contact = (
        select(col(Contact.value).label("value"), col(Contact.opt_out).label("flag"))
        .where(col(Contact.customer_id) == Customer.id, col(Contact.kind).in_(kinds))
        .order_by(*PRIMARY_FIRST)
        .limit(1)
        .lateral("primary_contact")
    )
    base = (
        select(
            col(Customer.id).label("customer_id"),
            contact.c.value.label("address"),
            contact.c.flag.label("flag"),
        )
        .select_from(Customer)
        .outerjoin(contact, true())
        .where(*filter_clauses(db, actor, f), *_from_list(campaign))
        .subquery("audience")
    )
    hashes = _opted_out_hashes(db, campaign.medium)
    opted: Any = func.coalesce(base.c.flag, False)
    if hashes:
        digest = func.encode(
            func.sha256(func.convert_to(literal(f"{campaign.medium}:") + base.c.address, "UTF8")), "hex"
        )
        opted = or_(opted, digest.in_(hashes))
    ids = campaign.channel_ids or [0]
    n = len(ids)
    if campaign.assignment == "sticky":
        slot = base.c.customer_id % n
    else:
        slot = (func.row_number().over(order_by=base.c.customer_id) - 1) % n
    checked = select(
        base.c.customer_id,
        base.c.address,
        opted.label("opted"),
        case({i: literal(cid, BigInteger) for i, cid in enumerate(ids)}, value=cast(slot, Integer)).label(
            "channel_id"
        ),
    ).subquery("checked")
    address = checked.c.address
    return select(
        literal(campaign.id).label("campaign_id"),
        checked.c.customer_id,
        address,
        checked.c.channel_id,
        case((address.is_(None), "skipped"), (checked.c.opted, "skipped"), else_="pending").label("status"),
        case((address.is_(None), "no_contact"), (checked.c.opted, "opted_out"), else_=None).label(
            "skip_reason"
        ),
    )


def materialise(db: Session, actor: Actor, campaign: Campaign, f: CustomerFilter) -> Counter[str]:
    """Insert the audience (once: the campaign's recipients are unique per customer) and return the counts
    it starts with, counted from the inserted rows in the same statement."""
    columns = ["campaign_id", "customer_id", "address", "channel_id", "status", "skip_reason"]
    inserted = (
        insert(CampaignRecipient)
        .from_select(columns, audience_select(db, actor, campaign, f))
        .returning(col(CampaignRecipient.status), col(CampaignRecipient.skip_reason))
        .cte("inserted")
    )
    rows = db.execute(
        select(inserted.c.status, inserted.c.skip_reason, func.count()).group_by(
            inserted.c.status, inserted.c.skip_reason
        )
    ).all()
    return _counts(rows)


def _counts(rows: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for status, reason, n in rows:
        counts["total"] += n
        counts[status] += n
        if reason:
            counts[f"skipped_{reason}"] += n
    return counts


def preview_counts(db: Session, actor: Actor, campaign: Campaign, f: CustomerFilter) -> Counter[str]:
    """The counts materialise would produce, without writing anything."""
    sub = audience_select(db, actor, campaign, f).subquery()
    return _counts(
        db.exec(  # type: ignore[call-overload]
            select(sub.c.status, sub.c.skip_reason, func.count()).group_by(sub.c.status, sub.c.skip_reason)
        ).all()
    )
