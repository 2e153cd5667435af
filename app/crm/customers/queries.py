"""Customers read side: filters to WHERE clauses, the keyset-paginated list, counts and the profile."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from math import ceil, prod
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (
    ColumnElement,
    Float,
    ScalarSelect,
    String,
    Text,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    tuple_,
    union,
)
from sqlalchemy import column as sa_column
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.sql.util import ClauseAdapter
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import custom_fields, timeline
from app.crm import tags as tagging
from app.crm.appointments import user_zone
from app.crm.customers.schemas import CustomerDetail, CustomerFilter, CustomerQuery, CustomerRow, CustomRange
from app.crm.pagination import Page, decode_cursor, encode_cursor
from app.crm.tables import table_of
from app.crm.visibility import customer_visible, get_visible_customer
from app.errors import Invalid, NotFound, invalid_from
from app.search import get_backend
from app.search.postgres import NAME_TSV, TableShape, TextFilter, table_shape, text_filter
from app.search.word_order import leading_range
from models.tenant import Contact, Customer, CustomerWord, CustomField, Segment, Wallet

SORTS: dict[str, Any] = {
    # The folded name (t0017_name_sort_key): byte order of `name` put "ANA" before "Ana" and "Pereira"
    # before "Peçanha".
    "name": Customer.name_key,
    "created_at": Customer.created_at,
    "updated_at": Customer.updated_at,
    "score": Customer.score,
    "status": Customer.status,
    "id": Customer.id,
}
BUSINESS_TZ = ZoneInfo("America/Sao_Paulo")
_ONE_DAY = timedelta(days=1)

_F = TypeVar("_F", bound=CustomerFilter)


PHONE_KINDS = ("phone", "whatsapp")


def _row(c: Customer, tags: list[str], phone: str | None) -> CustomerRow:
    return CustomerRow.model_validate({**c.model_dump(), "tags": tags, "phone": phone})


def customer_row(db: Session, customer: Customer) -> CustomerRow:
    """The list/API shape of one customer, with its tag names and primary phone."""
    cid = customer.id or 0
    return _row(customer, tagging.names_of(db, [cid]).get(cid, []), primary_phones(db, [cid]).get(cid))


# Which contact is the customer's primary one: marked primary first, a phone before a WhatsApp, then
# the oldest. Shared by the list's column, the profile and the CSV export.
PRIMARY_FIRST = (col(Contact.is_primary).desc(), col(Contact.kind) == "whatsapp", col(Contact.id))


def primary_contact(kinds: tuple[str, ...]) -> ScalarSelect[str]:
    """The customer's primary contact of these kinds (else its oldest), one index probe per row."""
    return (
        select(Contact.value)
        .where(Contact.customer_id == Customer.id, col(Contact.kind).in_(kinds))
        .order_by(*PRIMARY_FIRST)
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


def primary_phones(db: Session, ids: list[int]) -> dict[int, str]:
    """{customer id: primary phone} for a page of ids, in one indexed query (the same choice as
    `primary_contact`)."""
    if not ids:
        return {}
    stmt = (
        select(Contact.customer_id, Contact.value)
        .where(col(Contact.customer_id).in_(ids), col(Contact.kind).in_(PHONE_KINDS))
        .order_by(*PRIMARY_FIRST)
    )
    phones: dict[int, str] = {}
    for cid, value in db.exec(stmt).all():
        phones.setdefault(cid, value)  # the first in that order is the one shown
    return phones


# ---------------------------------------------------------------- filters
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


def _in_clauses(f: CustomerFilter) -> list[ColumnElement[bool]]:
    """Any-of filters on plain columns (status, plan, wallet, owner)."""
    wanted: list[tuple[Any, list[Any]]] = [
        (Customer.status, f.status),
        (Customer.plan, f.plan),
        (Customer.wallet_id, f.wallet_id),
        (Customer.owner_id, f.owner_id),
    ]
    return [col(column).in_(values) for column, values in wanted if values]


def _coerced(definition: CustomField, key: str, value: Any) -> Any:
    """A filter value in the field's stored form; a bad one is a 422 on `custom.<key>`."""
    try:
        return custom_fields.coerce_value(definition, value)
    except ValueError as exc:
        raise Invalid(f"custom.{key}", str(exc)) from None


def _custom_range(definition: CustomField, key: str, wanted: CustomRange) -> list[ColumnElement[bool]]:
    value = Customer.custom[key].astext
    typed = cast(value, Float) if definition.type == "number" else value
    lo = _coerced(definition, key, wanted.min) if wanted.min is not None else None
    hi = _coerced(definition, key, wanted.max) if wanted.max is not None else None
    return ([typed >= lo] if lo is not None else []) + ([typed <= hi] if hi is not None else [])


def _custom_clauses(db: Session, custom: dict[str, Any]) -> list[ColumnElement[bool]]:
    """Custom field filters: ranges on number/date fields, containment for equality."""
    defs = {d.key: d for d in custom_fields.definitions(db)}
    clauses: list[ColumnElement[bool]] = []
    for key, wanted in custom.items():
        definition = defs.get(key)
        if definition is None:
            raise Invalid(f"custom.{key}", "Campo personalizado desconhecido.")
        if isinstance(wanted, CustomRange):
            clauses += _custom_range(definition, key, wanted)
        else:
            value = _coerced(definition, key, wanted)
            # Containment uses the jsonb_path_ops GIN index on customers.custom.
            clauses.append(col(Customer.custom).op("@>")(cast({key: value}, JSONB)))
    return clauses


def _date_clauses(db: Session, actor: Actor, f: CustomerFilter) -> list[ColumnElement[bool]]:
    """Whole days in the user's zone, both ends included: [from 00:00, day after `to` 00:00)."""
    if not (f.created_from or f.created_to or f.updated_from or f.updated_to):
        return []
    tz = _filter_zone(db, actor)
    clauses: list[ColumnElement[bool]] = []
    for column, start, end in (
        (Customer.created_at, f.created_from, f.created_to),
        (Customer.updated_at, f.updated_from, f.updated_to),
    ):
        if start:
            clauses.append(col(column) >= _day_start(start, tz))
        if end:
            clauses.append(col(column) < _day_start(end + _ONE_DAY, tz))
    return clauses


def _score_clauses(f: CustomerFilter) -> list[ColumnElement[bool]]:
    score = col(Customer.score)
    return ([score >= f.score_min] if f.score_min is not None else []) + (
        [score <= f.score_max] if f.score_max is not None else []
    )


@dataclass
class Filtered:
    """A filter's WHERE clauses (liveness and the actor's visibility first) and, apart, the full-text
    filters of common name words (`dense`), which the list bounds (`_walk_page`)."""

    clauses: list[ColumnElement[bool]] = field(default_factory=list)
    dense: list[TextFilter] = field(default_factory=list)
    restricted: bool = False  # the actor sees only some portfolios
    after: tuple[Any, int] | None = None  # the list's cursor (sort value, id), also among `clauses`

    def all(self) -> list[ColumnElement[bool]]:
        return self.clauses + [t.clause for t in self.dense]

    @property
    def share(self) -> float:
        """The estimated share of customers the dense filters keep."""
        return prod(t.share for t in self.dense)


def filter_clauses(db: Session, actor: Actor, f: CustomerFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses for a filter, always including liveness and the actor's visibility."""
    return filtered(db, actor, f).all()


def filtered(db: Session, actor: Actor, f: CustomerFilter) -> Filtered:
    out = Filtered(
        [col(Customer.deleted_at).is_(None), customer_visible(actor)],
        restricted=actor.visible_owner_ids is not None,
    )
    if f.segment_id is not None:
        segment = filtered(db, actor, _segment_filter(db, actor, f.segment_id))
        out.clauses += segment.clauses[2:]
        out.dense += segment.dense
    if f.text and f.text.strip():
        # Bounded by the same liveness and visibility as the list (clauses[:2]).
        text = text_filter(db, f.text, out.clauses[:2])
        if text.dense is not None:
            out.dense.append(text)
        else:
            out.clauses.append(text.clause)
    out.clauses += _in_clauses(f)
    if f.tags:
        out.clauses.append(tagging.any_of(db, f.tags))
    if f.custom:
        out.clauses += _custom_clauses(db, f.custom)
    out.clauses += _date_clauses(db, actor, f) + _score_clauses(f)
    return out


# ---------------------------------------------------------------- list and count
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
    # The sort value rides along as the last column: the cursor needs it, and for names it is the
    # folded key, which the row does not show.
    columns: tuple[Any, ...] = (*_page_columns(), col(sort_col).label("sort_value"))
    found = filtered(db, actor, q)
    if q.cursor:
        value, last_id = decode_cursor(q.cursor, q.sort)
        pair = tuple_(sort_col, Customer.id)
        found.clauses.append(pair < tuple_(value, last_id) if desc else pair > tuple_(value, last_id))
        found.after = (value, last_id)
    order = _order(sort_col, desc)
    # Core execution on the session's connection (same transaction and schema map): the page is plain
    # column values, and the ORM's result machinery cost more than the query itself on the fast pages.
    # Core does not autoflush, so pending changes of this session are flushed first, as the ORM would.
    db.flush()
    rows: Sequence[Any]
    if found.dense:
        rows = _walk_page(db, columns, found, sort_col, desc, q.limit + 1)
    else:
        rows = (
            db.connection()
            .execute(select(*columns).where(*found.clauses).order_by(*order).limit(q.limit + 1))
            .all()
        )
    next_cursor = None
    if len(rows) > q.limit:
        rows = rows[: q.limit]
        last = rows[-1]
        next_cursor = encode_cursor(q.sort, last.sort_value, last.id)
    # One validation call for the whole page (pydantic loops in Rust) instead of 50 model_validate calls.
    return Page(
        rows=_ROWS.validate_python([dict(zip(_PAGE_KEYS, r[:-1], strict=True)) for r in rows]),
        next_cursor=next_cursor,
    )


# Rows of the sort order a page of a common-word search may walk before it looks the word up instead.
WALK_ROWS = 4000
# Heap pages of the table `_ranged` reads (TABLESAMPLE SYSTEM, always the same ones) to see where a
# common word's matches fall in the sort order: 1.2 % of a 500k-customer table, ~2 ms.
SAMPLE_PAGES = 200
# Fewer matches than this in the sample: too few to place a range (and few enough to sort them all).
SAMPLE_MIN_MATCHES = 8
# Fewer matches expected than this (statistics) are sorted at once: a heap page each, about what a
# sample and a range cost.
SAMPLE_WORTH_MATCHES = 2000
# Above this |correlation| between the physical order and the sort, the pages sampled are not a sample of
# the sort order.
SAMPLE_MAX_CORRELATION = 0.5
# The widest range of the sort index (share of the table) `_ranged` ANDs with the full-text bitmap:
# reading it costs ~0.1 µs an entry, against 1-5 µs a match for sorting them all (a heap page each).
RANGE_MAX_SHARE = 0.25
# `_histogram_ranged`: the range of the sort order is sized to hold this many times a page of matches (a
# histogram bucket is only about its share of the table, and the words may be thinner there).
RANGE_MATCHES_PER_ROW = 3


def _order(sort: Any, desc: bool, ids: Any = Customer.id) -> tuple[Any, Any]:
    if desc:
        return col(sort).desc(), col(ids).desc()
    return col(sort).asc(), col(ids).asc()


def _walk_page(
    db: Session, columns: tuple[Any, ...], found: Filtered, sort: Any, desc: bool, n: int
) -> Sequence[Any]:
    """The first `n` customers in sort order whose names have the common words of `found.dense`.

    Walking the sort index and testing each row finds a page quickly when the words are spread over
    the order, but common words can cluster at its far end (company words under a name sort: over a
    second walked). So the walk is bounded to WALK_ROWS rows, and taken only where the statistics
    expect a page within it with room to spare (for rarer words a failed walk only adds its cost).
    Under the name sort, where words cluster most (first names, company words), a sample of the
    matches places a range of the sort order instead (`_ranged`). Otherwise, or when these fall short,
    all the matches come from the full-text index and are sorted (bounded by how many customers have
    the words)."""
    conn = db.connection()
    if sort is Customer.name_key and _pages_by_word(found):
        return conn.execute(_by_word(columns, found, found.dense[0].lexemes, desc, n)).all()
    shape = _sampling_shape(db, found, sort)
    if shape is not None:
        page = _ranged(conn, shape, columns, found, sort, desc, n)
        if page is not None:
            return page
    elif found.share * WALK_ROWS >= 2 * n:
        page = _walked(conn, columns, found, sort, desc, n)
        if len(page) == n:
            return page
    else:
        page = _histogram_ranged(db, columns, found, sort, desc, n)
        if page is not None:
            return page
    return conn.execute(_page_of(columns, _sorted_matches(found.all(), sort, desc), sort, desc, n)).all()


def _pages_by_word(found: Filtered) -> bool:
    """Whether the name-sorted page comes from `_by_word`: the only dense filter is one word's lexeme
    alternatives, all flagged (read with the completions: `TextFilter.ordered`, no statement of its own)."""
    return len(found.dense) == 1 and found.dense[0].ordered


def _by_word(columns: tuple[Any, ...], found: Filtered, words: tuple[str, ...], desc: bool, n: int) -> Any:
    """The name-sorted page of the customers with any of `words`, all flagged in search_words
    (`app.search.word_order`). A word's customers are those whose name it leads, one range of the name
    index (`leading_range`), and the others, which customer_words holds in name order: per word, both
    read from the cursor on in index order, joined to the list's other clauses (liveness, the actor's
    visibility, filters) until `n` pass, then merged. Two range reads per word (plus the rows the clauses
    reject), however many customers have the word or where they fall in the name order."""
    words_table = table_of(CustomerWord)
    customers = table_of(Customer)
    key, cid = words_table.c.name_key, words_table.c.customer_id
    parts: list[Any] = []

    def after(pair_key: Any, pair_id: Any) -> list[Any]:
        # The cursor on the index's own columns, so each range starts there.
        if found.after is None:
            return []
        pair, last = tuple_(pair_key, pair_id), tuple_(*found.after)
        return [pair < last if desc else pair > last]

    for word in words:
        parts.append(
            select(cid.label("id"), key.label("s"))
            .select_from(words_table.join(customers, customers.c.id == cid))
            .where(words_table.c.word == word, *found.clauses, *after(key, cid))
            .order_by(*_order(key, desc, cid))
            .limit(n)
        )
        parts.append(
            select(col(Customer.id).label("id"), col(Customer.name_key).label("s"))
            .where(
                *leading_range(col(Customer.name_key), word),
                # The sort key and the full-text parser fold names separately: a key in the range is
                # checked for the word itself on each row read (the rows the range skips are the table's).
                # As a NULL test, which the planner expects to keep nearly every row (it does): an array
                # containment it guesses at 0.5 %, and then sorts the whole range instead of reading its
                # first rows.
                func.array_position(func.tsvector_to_array(NAME_TSV, type_=ARRAY(Text)), word).is_not(None),
                *found.clauses,
                *after(Customer.name_key, Customer.id),
            )
            .order_by(*_order(Customer.name_key, desc))
            .limit(n)
        )
    # UNION, not UNION ALL: a customer with two of the words is one row of the page.
    merged = union(*(select(p.subquery().c) for p in parts)).subquery("merged")
    ids = select(merged.c.id).order_by(*_order(merged.c.s, desc, merged.c.id))
    return _page_of(columns, ids, Customer.name_key, desc, n)


def _sorted_matches(where: list[Any], sort: Any, desc: bool) -> Any:
    """The ids of the customers matching `where`, in page order (to be LIMITed)."""
    # Materialized: planned for all its rows (the full-text index), not for the LIMIT outside, which
    # would send the planner back to the index walk.
    matches = (
        select(col(Customer.id).label("id"), col(sort).label("s"))
        .where(*where)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    return select(matches.c.id).order_by(*_order(matches.c.s, desc, matches.c.id))


def _sampling_shape(db: Session, found: Filtered, sort: Any) -> TableShape | None:
    """The table's statistics when `_ranged` is worth trying: the name sort (its histogram compares in
    Python, and it is where matches cluster far from the walk's start), after an ANALYZE, with rows
    stored in an order unrelated to names, for an actor who sees every customer (a portfolio's matches
    are few: its own sort index, `ix_customers_owner_*`, walks to them or they are sorted at once), and
    with more matches expected than the sample and the range cost."""
    if sort is not Customer.name_key or found.restricted:
        return None
    shape = table_shape(db)
    if (
        not shape.blocks
        or abs(shape.correlation.get("name_key", 1.0)) > SAMPLE_MAX_CORRELATION
        or found.share * shape.rows < SAMPLE_WORTH_MATCHES
    ):
        return None
    return shape


def _ranged(
    conn: Any, shape: TableShape, columns: tuple[Any, ...], found: Filtered, sort: Any, desc: bool, n: int
) -> Sequence[Any] | None:
    """The page read from the matches within a range of the sort order that holds it; None when the
    sample places no range narrower than RANGE_MAX_SHARE of the table.

    Sorting every match costs a heap page per match (to read its sort value): 10k-16k pages for a word
    like "oliveira" or a typo corrected to "marcos | marcia", 20-90 ms depending on the cache. A range of
    the sort index ANDed with the full-text bitmap reads only the matches inside it. To place it, the
    matches among a fixed sample of the table's pages (rows are stored in an order unrelated to names:
    checked with pg_stats.correlation) show where they fall in the sort order: the bound is the sampled
    match expected to have about 3n matches up to it. Should the range still hold fewer than n, the
    sample's n-th match is the bound, which holds at least n (the sample's rows are matches)."""
    percent = min(100.0, 100.0 * SAMPLE_PAGES / shape.blocks)
    table = table_of(Customer)
    sampled = table.tablesample(func.system(percent), name="sampled", seed=literal_column("15"))
    adapt = ClauseAdapter(sampled).traverse
    tsv = sa_column("name_tsv", TSVECTOR, _selectable=sampled)
    where = [adapt(c) for c in found.clauses] + [tsv.op("@@")(t.dense) for t in found.dense]
    key = sampled.c.name_key  # the name sort only (`_sampling_shape`)
    rows = conn.execute(
        select(sampled.c.id, key.label("s")).where(*where).order_by(*_order(key, desc, sampled.c.id))
    ).all()
    rank = max(3, ceil(3 * n * percent / 100))

    # Few matches (cheap to sort them all), or matches clustered deep into the sort order (a first name,
    # a company word: the range reaching them would be most of the index, no cheaper than sorting).
    if (
        len(rows) < max(rank, SAMPLE_MIN_MATCHES)
        or shape.name_share_beyond(rows[rank - 1].s, desc) > RANGE_MAX_SHARE
    ):
        return None
    page: Sequence[Any] = []
    for r in (rank, n) if rank < n <= len(rows) else (rank,):
        # The sort value alone, ties included: a plain range is what the planner ANDs with the
        # full-text bitmap (a row comparison was only a filter on every match's heap row). Every
        # match outside the range sorts after every match inside it, so the page is still exact.
        edge = rows[r - 1].s
        within = col(sort) >= edge if desc else col(sort) <= edge
        page = conn.execute(
            _page_of(columns, _sorted_matches([*found.all(), within], sort, desc), sort, desc, n)
        ).all()
        if len(page) == n:
            return page
    return None


def _histogram_ranged(
    db: Session, columns: tuple[Any, ...], found: Filtered, sort: Any, desc: bool, n: int
) -> Sequence[Any] | None:
    """The first page of matches too spread for the walk and too many to sort cheaply, under a sort other
    than the name's (`_ranged`'s): read from a range at the start of the sort order expected to hold
    RANGE_MATCHES_PER_ROW times `n` of them, placed with the column's histogram (pg_stats), as a
    range of the sort index ANDed with the full-text bitmap. None when it does not apply or the range
    holds fewer than `n` (the words cluster away from the start of the order): the caller sorts them all.

    Sorting every match reads a heap page per match to get its sort value: 6k-13k pages for a word like
    "rafael" or a typo corrected to "marcos | marcia", the whole of such a request's time. Only the first
    page (the cursor's position is not placed on the histogram), for an actor who sees every customer (a
    portfolio's matches are few: its own sort index walks to them or they are sorted at once)."""
    if found.restricted or found.after is not None or sort is Customer.name_key:
        return None
    shape = table_shape(db)
    expected = found.share * shape.rows
    if expected < SAMPLE_WORTH_MATCHES:
        return None
    share = RANGE_MATCHES_PER_ROW * n / expected
    edge = shape.edge_for_share(sort.key, share, desc) if share <= RANGE_MAX_SHARE else None
    if edge is None:
        return None
    # The bound as PostgreSQL printed it, cast back to the column's type. Ties are inside the range: every
    # match outside it sorts after every match inside it, so its first `n` are the page.
    bound = cast(bindparam(None, edge, type_=String), sort.type)
    within = col(sort) >= bound if desc else col(sort) <= bound
    page = (
        db.connection()
        .execute(_page_of(columns, _sorted_matches([*found.all(), within], sort, desc), sort, desc, n))
        .all()
    )
    return page if len(page) == n else None


def _walked(
    conn: Any, columns: tuple[Any, ...], found: Filtered, sort: Any, desc: bool, n: int
) -> Sequence[Any]:
    """The first `n` matches among the first WALK_ROWS customers of the sort order (fewer: not all there)."""
    walk = (
        select(col(Customer.id).label("id"), NAME_TSV.label("tsv"), col(sort).label("s"))
        .where(*found.clauses)
        .order_by(*_order(sort, desc))
        .limit(WALK_ROWS)
        .subquery("walk")
    )
    hits = select(walk.c.id).where(*(walk.c.tsv.op("@@")(t.dense) for t in found.dense))
    return conn.execute(
        _page_of(columns, hits.order_by(*_order(walk.c.s, desc, walk.c.id)), sort, desc, n)
    ).all()


def _page_of(columns: tuple[Any, ...], ids: Any, sort: Any, desc: bool, n: int) -> Any:
    """The page's rows for the first `n` of `ids` (a select of ids in page order)."""
    return select(*columns).where(col(Customer.id).in_(ids.limit(n))).order_by(*_order(sort, desc)).limit(n)


_ROWS = TypeAdapter(list[CustomerRow])
_PAGE_KEYS = tuple(CustomerRow.model_fields)


@cache
def _page_columns() -> tuple[Any, ...]:
    """The list row's columns, built once: the tables never change, and rebuilding the tag-names
    subquery on every call was a visible share of a fast page."""
    table = table_of(Customer)
    # Tag names through a correlated subquery: PostgreSQL evaluates it only for the rows the LIMIT keeps
    # (after a top-N sort too), so they are read for the page alone, in the same round trip.
    # The primary phone likewise: one probe of ix_contacts_customer per row of the page.
    special = {
        "tags": tagging.names_column().label("tags"),
        "phone": primary_contact(PHONE_KINDS).label("phone"),
    }
    return tuple(special[name] if name in special else table.c[name] for name in _PAGE_KEYS)


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
    page_ids = [r.id or 0 for r in page]
    names, phones = tagging.names_of(db, page_ids), primary_phones(db, page_ids)
    return Page(
        rows=[_row(r, names[r.id or 0], phones.get(r.id or 0)) for r in page],
        next_cursor=encode_cursor("relevance", None, start + q.limit) if more else None,
    )


def count_customers(db: Session, actor: Actor, f: CustomerFilter, *, cap: int = 100_000) -> dict[str, Any]:
    """How many customers match, counted up to `cap` (exact counts of 500k rows are not instant)."""
    actor.require(Perm.CUSTOMERS_READ)
    inner = (
        select(literal(1))
        .select_from(Customer)
        .where(*filter_clauses(db, actor, f))
        .limit(cap + 1)
        .subquery()
    )
    n = db.exec(select(func.count()).select_from(inner)).one()
    return {"count": min(int(n), cap), "capped": int(n) > cap}


# ---------------------------------------------------------------- profile
def get_customer(db: Session, actor: Actor, customer_id: int, *, interactions: int = 20) -> CustomerDetail:
    """The profile: customer, contacts (with opt-out), custom field values and the latest interactions."""
    actor.require(Perm.CUSTOMERS_READ)
    customer = get_visible_customer(db, actor, customer_id)
    contacts = db.exec(
        select(Contact).where(Contact.customer_id == customer_id).order_by(col(Contact.kind), col(Contact.id))
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
