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
and raise `SearchUnavailable` on any failure; app/search/sync.py keeps their ids pending and retries them.

Every request has a short timeout, and a circuit breaker shared by searches and writes counts
consecutive outages: once open, searches answer from PostgreSQL and writes fail at once, without
touching the network, until a trial request after the cool-down finds Meilisearch back.
"""

import logging
import re
import threading
import time
from collections.abc import Callable
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
from app.search.postgres import PostgresSearch
from app.search.protocol import SearchHit, SearchUnavailable
from app.search.query import ParsedQuery, parse_query
from app.settings import get_settings
from app.text import fold
from models.tenant import Contact, Customer
from tenants.naming import is_tenant_schema

log = logging.getLogger(__name__)

_TRANSIENT = (MeilisearchCommunicationError, MeilisearchTimeoutError, TimeoutError)
_NON_DIGITS = re.compile(r"\D+")

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


def phone_forms(value: str) -> list[str]:
    """The digit words a stored phone is found by.

    Meilisearch matches a typed number against the start of a word, never its middle or end. The
    PostgreSQL backend matches a fragment at either end of the number, and people mostly type the end
    (the number without the DDD, often without the ninth digit, or just the last digits). So besides
    the whole number (E.164 digits, and without the country code) the ends people type are stored as
    words of their own: without the DDD, the last 8 and the last 4 digits. +5511987654321 becomes
    5511987654321, 11987654321, 987654321, 87654321, 4321.
    """
    digits = _NON_DIGITS.sub("", value)
    forms = [digits]
    if digits.startswith("55") and len(digits) in (12, 13):
        national = digits[2:]
        forms += [national, national[2:]]
    forms += [digits[-8:], digits[-4:]]
    return list(dict.fromkeys(f for f in forms if len(f) >= 4))


def phone_terms(q: ParsedQuery) -> list[str]:
    """What to send Meilisearch for digits typed in the search box, each term searched on its own.

    The digits as typed match a document's start or any stored phone form's start; a trunk "0"
    ("011 98765") is dropped the way the PostgreSQL backend drops it; a full number typed in an
    unusual shape (with "0", without the ninth digit) is also tried in its normalised national forms.
    """
    terms = [q.digits, q.digits.lstrip("0")] + [p[3:] for p in q.phones]
    return list(dict.fromkeys(t for t in terms if t))


def customer_document(customer: Customer, contacts: list[Contact]) -> dict[str, Any]:
    """The searchable document of a customer: folded name, document, phone digit forms, e-mails."""
    phones: list[str] = []
    for c in contacts:
        if c.kind in ("phone", "whatsapp"):
            phones += phone_forms(c.value)
    return {
        "id": customer.id,
        "name": customer.name,
        "name_folded": fold(customer.name),
        "trade_name": customer.trade_name or "",
        "document": customer.document or "",
        "phones": list(dict.fromkeys(phones)),
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


def _is_outage(exc: BaseException) -> bool:
    """Meilisearch did not answer usefully: unreachable, timing out, or a 5xx (its own or a proxy's)."""
    if isinstance(exc, _TRANSIENT):
        return True
    if isinstance(exc, MeilisearchApiError):
        return exc.status_code >= 500
    # The SDK wraps read timeouts in a bare MeilisearchError and re-raises a proxy's non-JSON 502 as
    # is; its HTTP package (an httpx fork) is its own detail, so the classes are matched by name.
    for err in (exc, exc.__cause__):
        names = {cls.__name__ for cls in type(err).__mro__} if err is not None else set()
        if "TransportError" in names:
            return True
        if "HTTPStatusError" in names and getattr(getattr(err, "response", None), "status_code", 0) >= 500:
            return True
    return False


def _is_transient(exc: BaseException) -> bool:
    """A failure a search answers from PostgreSQL: an outage, or the tenant's index not built yet."""
    if isinstance(exc, MeilisearchApiError) and exc.code == "index_not_found":
        return True
    return _is_outage(exc)


class CircuitBreaker:
    """Consecutive outages open it; while open callers skip Meilisearch; after the cool-down one trial
    call goes through and its outcome closes or re-opens it.

    Without it, every search during an outage would first wait for its own timeout (and every sync
    task for its longer one) before falling back. One per backend object, i.e. per process: Reflex
    and task threads share it, hence the lock. An index that does not exist yet or a refused key is
    an answer, not an outage: it never opens the breaker (one tenant's missing index must not send
    every tenant to PostgreSQL).
    """

    def __init__(
        self,
        target: str,
        *,
        failures: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target  # the sanitised URL, for logs
        self.threshold = max(1, failures)
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        """May this call reach Meilisearch? While open: only one trial per cool-down, once it is over."""
        with self._lock:
            if self._opened_at is None:
                return True
            now = self._clock()
            if now - self._opened_at < self.cooldown_s:
                return False
            # The trial slot expires too: a trial whose caller died without reporting must not keep the
            # breaker open for good.
            if self._trial_at is not None and now - self._trial_at < self.cooldown_s:
                return False
            self._trial_at = now
            return True

    def success(self) -> None:
        with self._lock:
            was_open = self._opened_at is not None
            self._failures, self._opened_at, self._trial_at = 0, None, None
        if was_open:
            log.warning("Meilisearch at %s answers again: circuit closed, using it again", self.target)

    def failure(self, cause: str) -> None:
        with self._lock:
            self._failures += 1
            trial_failed = self._opened_at is not None and self._trial_at is not None
            opened = self._opened_at is None and self._failures >= self.threshold
            if opened or trial_failed:
                self._opened_at, self._trial_at = self._clock(), None
        if opened:
            log.warning(
                "Meilisearch at %s failed %d times in a row (last: %s): circuit open, searches use "
                "PostgreSQL and index syncs are deferred for %.0fs",
                self.target,
                self._failures,
                cause,
                self.cooldown_s,
            )
        elif trial_failed:
            log.warning(
                "Meilisearch at %s still failing (%s): circuit stays open for %.0fs more",
                self.target,
                cause,
                self.cooldown_s,
            )


class MeiliSearch:
    name = "meilisearch"

    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        search_timeout_s: float | None = None,
        write_timeout_s: float | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        settings = get_settings()
        # For logs: a URL may carry user:password (proxies); only scheme, host and path are shown.
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        self.url = urlunsplit((parts.scheme, host, parts.path, "", ""))
        # The SDK's default is no timeout at all: a hung server would hang every search with it. Searches
        # sit in front of a user, so they get a budget of a few hundred ms; writes (thousands of
        # documents, task polling) a longer but still bounded one, on a client of their own.
        if search_timeout_s is None:
            search_timeout_s = settings.meili_search_timeout_ms / 1000
        if write_timeout_s is None:
            write_timeout_s = settings.meili_write_timeout_s
        self.client = _client(url, api_key, search_timeout_s)
        self.writer = _client(url, api_key, write_timeout_s)
        self.task_wait_ms = int(settings.meili_task_wait_s * 1000)
        self.breaker = breaker or CircuitBreaker(
            self.url, failures=settings.meili_breaker_failures, cooldown_s=settings.meili_breaker_cooldown_s
        )
        # Schemas whose index exists with our settings (per process; ensure_index is idempotent).
        self._ready: set[str] = set()

    def _schema(self, db: Session) -> str:
        translate = db.get_bind().get_execution_options().get("schema_translate_map") or {}
        schema = translate.get(None)
        if not schema:
            raise RuntimeError("search needs a tenant session")
        return str(schema)

    def _wait(self, task_uid: int, what: str) -> None:
        result = self.writer.wait_for_task(task_uid, timeout_in_ms=self.task_wait_ms)
        if result.status != "succeeded":
            error = result.error or {}
            raise RuntimeError(f"Meilisearch task {task_uid} ({what}) {result.status}: {error.get('code')}")

    def _answered(self, exc: BaseException | None) -> None:
        """Tell the breaker how a call went: any answer but a 5xx means Meilisearch is up."""
        if exc is not None and _is_outage(exc):
            self.breaker.failure(_describe(exc))
        else:
            self.breaker.success()

    def _write_guard(self, doing: str) -> None:
        # Fail at once rather than wait for a timeout per task: the caller keeps the ids pending.
        if not self.breaker.allow():
            log.info("Meilisearch circuit open: not %s", doing)
            raise SearchUnavailable(cause="circuit_open")

    def _failed(self, exc: BaseException, doing: str) -> SearchUnavailable:
        self._answered(exc)
        if _is_outage(exc):
            # Expected while Meilisearch is down: the breaker logs the outage, the caller retries.
            log.warning("Meilisearch at %s unavailable while %s: %s", self.url, doing, _describe(exc))
        else:
            log.error("Meilisearch at %s failed while %s: %s", self.url, doing, _describe(exc))
        return SearchUnavailable(cause=getattr(exc, "code", None) or type(exc).__name__)

    def ensure_index(self, schema: str) -> None:
        """Create the tenant's index if missing and apply our settings, waiting until they are live
        (a search with the owner filter fails until owner_id is filterable)."""
        uid = index_uid(schema)
        self._write_guard(f"preparing index {uid}")
        try:
            try:
                self.writer.index(uid).fetch_info()
            except MeilisearchApiError as exc:
                # Only a missing index is created; a bad key or a server error must surface.
                if exc.code != "index_not_found":
                    raise
                self.writer.create_index(uid, primary_key="id", timeout_in_ms=self.task_wait_ms)
            task = self.writer.index(uid).update_settings(SETTINGS)
            self._wait(task.task_uid, "settings")
        except Exception as exc:
            raise self._failed(exc, f"preparing index {uid}") from exc
        self._answered(None)
        self._ready.add(schema)

    def search(self, db: Session, actor: Actor, text_query: str, *, limit: int = 20) -> list[SearchHit]:
        """Customers matching every typed word (like the PostgreSQL backend), Meilisearch's order."""
        actor.require(Perm.CUSTOMERS_READ)
        schema = self._schema(db)
        if actor.schema != schema:
            raise RuntimeError("actor and session belong to different tenants")
        q = parse_query(text_query)
        plan = _search_plan(q)
        if plan is None:
            return []
        terms, on = plan
        if not self.breaker.allow():
            return self._fallback(db, actor, text_query, limit)
        uid = index_uid(schema)
        try:
            found = self._found(uid, actor, terms, on, limit)
        except Exception as exc:
            if not _is_transient(exc):
                raise self._failed(exc, f"searching index {uid}") from exc
            self._answered(exc)
            log.warning(
                "Meilisearch at %s unavailable for %s (%s); searching PostgreSQL instead",
                self.url,
                schema,
                _describe(exc),
            )
            return self._fallback(db, actor, text_query, limit)
        self._answered(None)
        return self._hits(db, actor, q, found, limit)

    def _found(
        self, uid: str, actor: Actor, terms: list[str], on: list[str] | None, limit: int
    ) -> dict[int, float]:
        """id -> ranking score, in Meilisearch's order, terms in order."""
        found: dict[int, float] = {}
        for term in terms:
            result = self.client.index(uid).search(
                term,
                limit=limit,
                filter=owner_filter(actor),
                attributes_to_retrieve=["id"],  # the rest is read from PostgreSQL
                attributes_to_search_on=on,
                # "all" (not the SDK's "last"): a customer must match every word, as in the
                # PostgreSQL backend and the list's text filter that relevance sort combines with.
                matching_strategy="all",
                show_ranking_score=True,
            )
            for h in result.hits:
                found.setdefault(int(h["id"]), float(h.get("_rankingScore") or 0))
            # The PostgreSQL backend returns every customer any form of the digits matches; one
            # term after the other gives the same set, cut at `limit`.
            if len(found) >= limit:
                break
        return found

    def _fallback(self, db: Session, actor: Actor, text_query: str, limit: int) -> list[SearchHit]:
        return PostgresSearch().search(db, actor, text_query, limit=limit)

    def _hits(
        self, db: Session, actor: Actor, q: ParsedQuery, found: dict[int, float], limit: int
    ) -> list[SearchHit]:
        """Meilisearch's hits re-read from PostgreSQL, keeping only live customers the actor may see."""
        # Meilisearch's hit order is the ranking; scores can tie, so the position is the key.
        order = {cid: i for i, cid in enumerate(list(found)[:limit])}
        if not order:
            return []
        rows = db.exec(
            select(Customer).where(
                col(Customer.id).in_(list(order)),
                col(Customer.deleted_at).is_(None),
                customer_visible(actor),
            )
        ).all()

        def matched(r: Customer) -> str:
            if q.numeric:
                return "documento" if (r.document or "").startswith(q.digits) else "telefone"
            return "email" if q.email else "nome"

        hits = [
            SearchHit(
                id=r.id or 0,
                name=r.name,
                document=r.document,
                status=r.status,
                plan=r.plan,
                owner_id=r.owner_id,
                updated_at=r.updated_at,
                rank=found[r.id or 0],
                matched=matched(r),
            )
            for r in rows
        ]
        return sorted(hits, key=lambda h: order[h.id])

    def index_customers(self, db: Session, schema: str, ids: list[int]) -> int:
        """Upsert live customers, remove deleted ones; returns once Meilisearch has applied both."""
        if not ids:
            return 0
        uid = index_uid(schema)
        if schema not in self._ready:
            # Writing documents would create the index implicitly, without the filterable
            # owner_id every agent search needs.
            self.ensure_index(schema)
        self._write_guard(f"syncing index {uid}")
        customers = db.exec(select(Customer).where(col(Customer.id).in_(ids))).all()
        contacts: dict[int, list[Contact]] = {}
        for c in db.exec(select(Contact).where(col(Contact.customer_id).in_(ids))).all():
            contacts.setdefault(c.customer_id, []).append(c)
        live = [c for c in customers if c.deleted_at is None]
        gone = sorted(set(ids) - {c.id for c in live if c.id is not None})
        index = self.writer.index(uid)
        try:
            tasks = []
            if live:
                docs = [customer_document(c, contacts.get(c.id or 0, [])) for c in live]
                tasks.append(index.add_documents(docs, primary_key="id").task_uid)
            if gone:
                tasks.append(index.delete_documents([str(i) for i in gone]).task_uid)
            for task_uid in tasks:
                self._wait(task_uid, f"sync of {len(ids)} customers")
        except Exception as exc:
            raise self._failed(exc, f"syncing index {uid}") from exc
        self._answered(None)
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


def _search_plan(q: ParsedQuery) -> tuple[list[str], list[str] | None] | None:
    """The terms to send and the attributes to search them on; None when nothing can match."""
    if q.empty:
        return None
    if not q.numeric:
        return [q.email or q.folded], None
    # As in the PostgreSQL backend: digits are a document (from 3) or a phone (from 4), never a
    # name or an e-mail, so typo tolerance on names cannot turn a phone into somebody else.
    if len(q.digits) < 3:
        return None
    return phone_terms(q), ["document"] if len(q.digits) < 4 else ["document", "phones"]


def _client(url: str, api_key: str | None, timeout_s: float) -> Client:
    client = Client(url, api_key)
    # Set on the HTTP client itself: the SDK's `timeout` argument is typed as whole seconds, and a
    # search budget is a fraction of one. httpx applies it to connect, read, write and pool waits.
    client.http_client.timeout = timeout_s
    return client
