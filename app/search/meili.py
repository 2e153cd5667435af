"""Meilisearch backend: one index per tenant schema, kept in sync by tasks/crm.py.

Tenant isolation is by index name (derived from the session's schema, never from input).
Portfolio visibility (owner_id IN ...) is a server-built filter, and every hit is re-checked
against PostgreSQL, so a stale index can never show a customer the actor may not see.

When Meilisearch fails, `search` decides by the kind of failure:
- unreachable, timing out, answering 5xx, or the tenant's index not built yet: a transient or
  catching-up state, so the search falls back to PostgreSQL (the data lives there; the answer is
  slower but correct) and a warning is logged;
- anything else (a rejected API key, a request Meilisearch refuses): a deployment fault a fallback
  would hide for good, so it is logged as an error in English and users get `SearchUnavailable`
  (pt-BR). The key itself is never logged.
Writes (`index_customers`, `reindex_all`, run by tasks) wait for Meilisearch's asynchronous tasks
and raise `SearchUnavailable` on any failure, so the task runner records and retries them.
"""

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from meilisearch_python_sdk import Client
from meilisearch_python_sdk.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchError,
    MeilisearchTimeoutError,
)
from meilisearch_python_sdk.models.settings import MeilisearchSettings, TypoTolerance
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.visibility import customer_visible
from app.search.protocol import SearchHit, SearchUnavailable
from app.search.query import fold, parse_query
from models.tenant import Contact, Customer
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)

# The SDK's default is no timeout at all: a hung server would hang every search request with it.
REQUEST_TIMEOUT_S = 5
TASK_TIMEOUT_MS = 30_000
_TRANSIENT = (MeilisearchCommunicationError, MeilisearchTimeoutError, TimeoutError)

SETTINGS = MeilisearchSettings(
    searchable_attributes=["name", "name_folded", "trade_name", "document", "phones", "emails"],
    filterable_attributes=["owner_id", "status"],
    sortable_attributes=["updated_at"],
    # Digits identify one customer: with the default tolerance (2 typos from 9 characters) a phone
    # or CPF with two wrong digits would match somebody else's.
    typo_tolerance=TypoTolerance(disable_on_attributes=["document", "phones"]),
)


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


def _describe(exc: BaseException) -> str:
    """An English one-liner for logs: Meilisearch's error code and message, never request headers."""
    if isinstance(exc, MeilisearchApiError):
        return f"HTTP {exc.status_code} {exc.code}: {exc.message.removeprefix('Error message: ')}"
    if isinstance(exc, MeilisearchError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _TRANSIENT):
        return True
    if isinstance(exc, MeilisearchApiError):
        return exc.status_code >= 500 or exc.code == "index_not_found"
    # The SDK wraps read timeouts in a bare MeilisearchError and re-raises a proxy's non-JSON 502 as
    # is; its HTTP package (an httpx fork) is its own detail, so the classes are matched by name.
    for err in (exc, exc.__cause__):
        names = {cls.__name__ for cls in type(err).__mro__} if err is not None else set()
        if "TransportError" in names:
            return True
        if "HTTPStatusError" in names and getattr(getattr(err, "response", None), "status_code", 0) >= 500:
            return True
    return False


class MeiliSearch:
    name = "meilisearch"

    def __init__(self, url: str, api_key: str | None, timeout_s: int = REQUEST_TIMEOUT_S) -> None:
        # For logs: a URL may carry user:password (proxies); only scheme, host and path are shown.
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        self.url = urlunsplit((parts.scheme, host, parts.path, "", ""))
        self.client = Client(url, api_key, timeout=timeout_s)
        # Schemas whose index exists with our settings (per process; ensure_index is idempotent).
        self._ready: set[str] = set()

    def _schema(self, db: Session) -> str:
        translate = db.get_bind().get_execution_options().get("schema_translate_map") or {}
        schema = translate.get(None)
        if not schema:
            raise RuntimeError("search needs a tenant session")
        return str(schema)

    def _wait(self, task_uid: int, what: str) -> None:
        result = self.client.wait_for_task(task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        if result.status != "succeeded":
            error = result.error or {}
            raise RuntimeError(f"Meilisearch task {task_uid} ({what}) {result.status}: {error.get('code')}")

    def _failed(self, exc: BaseException, doing: str) -> SearchUnavailable:
        log.error("Meilisearch at %s failed while %s: %s", self.url, doing, _describe(exc))
        return SearchUnavailable(cause=getattr(exc, "code", None) or type(exc).__name__)

    def ensure_index(self, schema: str) -> None:
        """Create the tenant's index if missing and apply our settings, waiting until they are live
        (a search with the owner filter fails until owner_id is filterable)."""
        uid = index_uid(schema)
        try:
            try:
                self.client.index(uid).fetch_info()
            except MeilisearchApiError as exc:
                # Only a missing index is created; a bad key or a server error must surface.
                if exc.code != "index_not_found":
                    raise
                self.client.create_index(uid, primary_key="id", timeout_in_ms=TASK_TIMEOUT_MS)
            task = self.client.index(uid).update_settings(SETTINGS)
            self._wait(task.task_uid, "settings")
        except (MeilisearchError, RuntimeError, OSError) as exc:
            raise self._failed(exc, f"preparing index {uid}") from exc
        self._ready.add(schema)

    def search(self, db: Session, actor: Actor, text_query: str, limit: int = 20) -> list[SearchHit]:
        """Customers matching every typed word (like the PostgreSQL backend), Meilisearch's order."""
        actor.require(Perm.CUSTOMERS_READ)
        schema = self._schema(db)
        if actor.schema != schema:
            raise RuntimeError("actor and session belong to different tenants")
        q = parse_query(text_query)
        if q.empty:
            return []
        if q.numeric:
            # Digits as typed match documents and phones typed as indexed; a phone typed with a trunk
            # "0" or without the ninth digit only matches in its normalised forms (tried only when
            # the digits found nothing: an 11-digit CPF is also a well-formed phone number).
            terms = [q.digits] + [p[3:] for p in q.phones if p[3:] != q.digits]
        else:
            terms = [q.email or q.folded]
        try:
            for term in terms:
                result = self.client.index(index_uid(schema)).search(
                    term,
                    limit=limit,
                    filter=owner_filter(actor),
                    attributes_to_retrieve=["id"],  # the rest is read from PostgreSQL
                    # "all" (not the SDK's "last"): a customer must match every word, as in the
                    # PostgreSQL backend and the list's text filter that relevance sort combines with.
                    matching_strategy="all",
                    show_ranking_score=True,
                )
                if result.hits:
                    break
        except Exception as exc:
            if not _is_transient(exc):
                raise self._failed(exc, f"searching index {index_uid(schema)}") from exc
            log.warning(
                "Meilisearch at %s unavailable for %s (%s); searching PostgreSQL instead",
                self.url,
                schema,
                _describe(exc),
            )
            from app.search.postgres import PostgresSearch

            return PostgresSearch().search(db, actor, text_query, limit)
        # Meilisearch's hit order is the ranking; scores can tie, so the position is the key.
        order = {int(h["id"]): i for i, h in enumerate(result.hits)}
        scores = {int(h["id"]): float(h.get("_rankingScore") or 0) for h in result.hits}
        if not order:
            return []
        rows = db.exec(
            select(Customer).where(
                col(Customer.id).in_(list(order)),
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
        return sorted(hits, key=lambda h: order[h.id])

    def index_customers(self, db: Session, schema: str, ids: list[int]) -> int:
        """Upsert live customers, remove deleted ones; returns once Meilisearch has applied both."""
        if not ids:
            return 0
        if schema not in self._ready:
            # Writing documents would create the index implicitly, without the filterable
            # owner_id every agent search needs.
            self.ensure_index(schema)
        customers = db.exec(select(Customer).where(col(Customer.id).in_(ids))).all()
        contacts: dict[int, list[Contact]] = {}
        for c in db.exec(select(Contact).where(col(Contact.customer_id).in_(ids))).all():
            contacts.setdefault(c.customer_id, []).append(c)
        live = [c for c in customers if c.deleted_at is None]
        gone = sorted(set(ids) - {c.id for c in live if c.id is not None})
        uid = index_uid(schema)
        index = self.client.index(uid)
        try:
            tasks = []
            if live:
                docs = [customer_document(c, contacts.get(c.id or 0, [])) for c in live]
                tasks.append(index.add_documents(docs, primary_key="id").task_uid)
            if gone:
                tasks.append(index.delete_documents([str(i) for i in gone]).task_uid)
            for task_uid in tasks:
                self._wait(task_uid, f"sync of {len(ids)} customers")
        except (MeilisearchError, RuntimeError, OSError) as exc:
            raise self._failed(exc, f"syncing index {uid}") from exc
        return len(live)

    def reindex_all(self, db: Session, schema: str, batch: int = 5000) -> int:
        self.ensure_index(schema)
        last_id, total = 0, 0
        while True:
            ids = list(
                db.exec(
                    select(Customer.id)
                    .where(col(Customer.id) > last_id)
                    .order_by(col(Customer.id))
                    .limit(batch)
                )
            )
            if not ids:
                return total
            total += self.index_customers(db, schema, [i for i in ids if i is not None])
            last_id = ids[-1] or last_id
            log.info("meili reindex %s: %d customers", schema, total)
