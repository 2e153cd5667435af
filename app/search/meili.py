"""Meilisearch backend: one index per tenant schema, kept in sync by tasks/crm.py.

Tenant isolation is by index name (derived from the session's schema, never from input).
Portfolio visibility (owner_id IN ...) is a server-built filter, and every hit is re-checked
against PostgreSQL, so a stale index can never show a customer the actor may not see.
"""

import logging
from typing import Any

from meilisearch_python_sdk import Client
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.visibility import customer_visible
from app.search.protocol import SearchHit
from app.search.query import fold, parse_query
from models.tenant import Contact, Customer
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)


def index_uid(schema: str) -> str:
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema: {schema!r}")
    return f"crm_{schema}_customers"


def customer_document(customer: Customer, contacts: list[Contact]) -> dict[str, Any]:
    """The searchable document of a customer: folded name, document, phone digit forms, e-mails."""
    phones: list[str] = []
    for c in contacts:
        if c.kind in ("phone", "whatsapp"):
            digits = c.value.lstrip("+")
            phones += [digits, digits[2:]] if digits.startswith("55") else [digits]
    return {
        "id": customer.id,
        "name": customer.name,
        "name_folded": fold(customer.name),
        "trade_name": customer.trade_name or "",
        "document": customer.document or "",
        "phones": phones,
        "emails": [c.value for c in contacts if c.kind == "email"],
        "owner_id": customer.owner_id if customer.owner_id is not None else 0,
        "status": customer.status,
        "updated_at": int(customer.updated_at.timestamp()),
    }


def owner_filter(actor: Actor) -> str | None:
    ids = actor.visible_owner_ids
    if ids is None:
        return None
    return f"owner_id IN [{', '.join(str(int(i)) for i in sorted(ids)) or '-1'}]"


class MeiliSearch:
    name = "meilisearch"

    def __init__(self, url: str, api_key: str | None) -> None:
        self.client = Client(url, api_key)

    def _schema(self, db: Session) -> str:
        translate = db.get_bind().get_execution_options().get("schema_translate_map") or {}
        schema = translate.get(None)
        if not schema:
            raise RuntimeError("search needs a tenant session")
        return str(schema)

    def ensure_index(self, schema: str) -> None:
        uid = index_uid(schema)
        index = self.client.index(uid)
        try:
            index.fetch_info()
        except Exception:
            self.client.create_index(uid, primary_key="id")
            index = self.client.index(uid)
        index.update_searchable_attributes(
            ["name", "name_folded", "trade_name", "document", "phones", "emails"]
        )
        index.update_filterable_attributes(["owner_id", "status"])
        index.update_sortable_attributes(["updated_at"])

    def search(self, db: Session, actor: Actor, text_query: str, limit: int = 20) -> list[SearchHit]:
        actor.require(Perm.CUSTOMERS_READ)
        q = parse_query(text_query)
        if q.empty:
            return []
        term = q.digits if q.numeric else (q.email or q.folded)
        result = self.client.index(index_uid(self._schema(db))).search(
            term, limit=limit, filter=owner_filter(actor), show_ranking_score=True
        )
        scores = {int(h["id"]): float(h.get("_rankingScore") or 0) for h in result.hits}
        if not scores:
            return []
        rows = db.exec(
            select(Customer).where(
                col(Customer.id).in_(list(scores)),
                col(Customer.deleted_at).is_(None),
                customer_visible(actor),
            )
        ).all()
        matched = "telefone" if q.numeric else ("email" if q.email else "nome")
        hits = [
            SearchHit(
                id=r.id or 0,
                name=r.name,
                document=r.document,
                status=r.status,
                plan=r.plan,
                owner_id=r.owner_id,
                updated_at=r.updated_at,
                rank=scores[r.id or 0],
                matched=matched,
            )
            for r in rows
        ]
        return sorted(hits, key=lambda h: -h.rank)

    def index_customers(self, db: Session, schema: str, ids: list[int]) -> int:
        if not ids:
            return 0
        customers = db.exec(select(Customer).where(col(Customer.id).in_(ids))).all()
        contacts: dict[int, list[Contact]] = {}
        for c in db.exec(select(Contact).where(col(Contact.customer_id).in_(ids))).all():
            contacts.setdefault(c.customer_id, []).append(c)
        live = [c for c in customers if c.deleted_at is None]
        gone = sorted(set(ids) - {c.id for c in live if c.id is not None})
        index = self.client.index(index_uid(schema))
        if live:
            index.add_documents([customer_document(c, contacts.get(c.id or 0, [])) for c in live])
        if gone:
            index.delete_documents([str(i) for i in gone])
        return len(live)

    def reindex_all(self, db: Session, schema: str, batch: int = 5000) -> int:
        self.ensure_index(schema)
        last_id, total = 0, 0
        while True:
            ids = list(
                db.exec(
                    select(Customer.id).where(col(Customer.id) > last_id).order_by(Customer.id).limit(batch)
                )
            )
            if not ids:
                return total
            total += self.index_customers(db, schema, [i for i in ids if i is not None])
            last_id = ids[-1] or last_id
            log.info("meili reindex %s: %d customers", schema, total)
