"""PostgreSQL search: full text on the unaccented name (text search configuration public.crm_simple,
t0014) (+ pg_trgm typo correction), digits on contacts.

Ranking with similarity() over every trigram match is slow on 500k rows (measured p95 425 ms),
so the search takes a small candidate set through an index first (full-text prefix match, newest
first) and ranks only those. When no name matches every typed word, each unknown word is corrected
against `search_words` (the distinct words of all names, trigram-indexed, kept by the writers of
names through `name_words_sql`: customer create/update, the import, the demo seed) and
the prefix search runs again with the alternatives: one typo ("joao slva") still finds "João Silva".
"""

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from math import ceil
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    text,
    true,
)
from sqlalchemy import column as sa_column
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR
from sqlalchemy.sql.elements import ColumnClause
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm.tables import table_of
from app.crm.visibility import customer_visible
from app.search.protocol import SearchHit
from app.search.query import ParsedQuery, parse_query, tsquery_prefix
from models.tenant import Contact, Customer
from tenants.database import begin_if_autocommit
from tenants.naming import is_tenant_schema

CANDIDATES = 200
# The list's search box pages up to this many matches from their ids; more matches than this are
# dense enough for the list's own sort index to find a page quickly.
LIST_CANDIDATES = 200
MAX_CONTACT_MATCHES = 1000

_PHONE_KINDS = ("phone", "whatsapp")
# 'simple' with unaccent in front (t0014): the configuration of ix_customers_name_fts.
NAME_TS_CONFIG = "'public.crm_simple'::regconfig"


def name_words_sql(schema: str, names: str) -> str:
    """SQL adding to `schema`.search_words every word of the names that `names` (a query with one text
    column) yields: the same tokens as ix_customers_name_fts, so typo correction and the full-text index
    agree. One set-based statement, run by whoever writes names (it replaced t0003's per-statement
    trigger). Names are cut at spaces and only the distinct pieces are normalised and parsed (no token
    of the parser spans a space, so the words are the same; an import batch of 50k names has a few
    thousand distinct pieces). Words are inserted in order so concurrent writers lock them in order."""
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema: {schema!r}")
    return (
        f'INSERT INTO "{schema}".search_words (word) '
        "SELECT DISTINCT w FROM ("
        f"SELECT DISTINCT p FROM ({names}) AS n(name), string_to_table(n.name, ' ') AS p WHERE p <> ''"
        ") AS d, unnest(tsvector_to_array(to_tsvector(" + NAME_TS_CONFIG + ", d.p))) AS w "
        "ORDER BY w ON CONFLICT DO NOTHING"
    )


def record_name_words(db: Session, names: Iterable[str | None]) -> None:
    """Adds the words of `names` to the tenant's search_words (services, in the caller's transaction)."""
    values = sorted({n for n in names if n})
    if not values:
        return
    schema = _tenant_schema(db)
    if not schema:
        raise RuntimeError("record_name_words needs a tenant session")
    sql = name_words_sql(str(schema), "SELECT unnest(CAST(:names AS text[]))")
    # Core, like every text() statement here: no pending ORM row is read by it.
    db.connection().execute(text(sql).bindparams(names=values))


def norm_name() -> Any:
    return func.public.crm_norm(Customer.name)


# A literal column, not text(): its cache key is a constant, text()'s is rebuilt on every statement.
_TS_CONFIG: ColumnClause[Any] = literal_column(NAME_TS_CONFIG)


# The name's stored full-text vector (t0018, indexed by ix_customers_name_fts). It lives only in the
# migration, like the other search structures: ORM loads of a customer never carry it.
NAME_TSV: ColumnClause[Any] = sa_column("name_tsv", TSVECTOR, _selectable=table_of(Customer))


def name_tsquery(words: list[str] | list[list[str]], prefix: bool = True) -> ColumnElement[Any]:
    return func.to_tsquery(_TS_CONFIG, tsquery_prefix(words, prefix))


def _name_fts(words: list[str] | list[list[str]], prefix: bool = True) -> ColumnElement[bool]:
    return NAME_TSV.op("@@")(name_tsquery(words, prefix))


def _probe(db: Session, where: list[Any], limit: int) -> list[int]:
    """Up to `limit` ids matching `where`, in no particular order. Without an ORDER BY the full-text
    match is a GIN bitmap whose heap scan stops after `limit` rows, so the cost is bounded however
    many customers match; ordering the matches first (newest, by name) made a common word fetch and
    sort all of its tens of thousands of rows, and a word matching nothing walk the whole table.
    Core, not the ORM: a probe returns up to hundreds of ids, and ORM rows cost more than the query."""
    db.flush()
    # A materialized CTE is planned for all its rows, not for the LIMIT: planned with it, a prefix the
    # statistics do not know is guessed at 0.5 % of the table and a sequential scan expected to meet
    # `limit` of them early, which reads the whole table for a word matching nothing. The CTE is still
    # read lazily, so the heap scan stops at `limit` rows.
    matches = sa_select(col(Customer.id).label("id")).where(*where).cte("matches").prefix_with("MATERIALIZED")
    return _ids(db.connection().execute(sa_select(matches.c.id).limit(limit)).scalars().all())


def id_in(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column = ANY(:ids)` with the ids as ONE array parameter. `IN (...)` binds one parameter per id,
    so a few hundred candidates cost more Python time to bind than the query took, and every different
    count made a new statement text (no prepared-statement reuse)."""
    # Sent as the array's text form: psycopg dumps a Python list element by element in Python.
    literal_array = "{" + ",".join(str(int(i)) for i in ids) + "}"
    return col(column) == any_(cast(bindparam(None, literal_array, type_=String), ARRAY(BigInteger)))


def _ids(values: Iterable[int | None]) -> list[int]:
    """Ids from a column SQLModel types as optional (primary and foreign keys are never NULL when read)."""
    return [v for v in values if v is not None]


def document_prefix(digits: str) -> ColumnElement[bool]:
    """Documents starting with `digits`, as a range on the plain btree (digit strings sort the same
    in every collation), so no extra pattern-ops index has to be kept up to date on every write."""
    upper = digits[:-1] + str(int(digits[-1]) + 1) if digits[-1] != "9" else digits + ":"
    return and_(col(Customer.document) >= digits, col(Customer.document) < upper)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _next_prefix(prefix: str) -> str:
    """The smallest string above every string that starts with `prefix` (for a btree range)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _fragment_ids(db: Session, kinds: tuple[str, ...], prefixes: list[str], suffix: str | None) -> list[int]:
    """Customers with a contact of `kinds` starting with one of `prefixes` or ending with `suffix`.

    Fragments are matched at either end of the stored value, never in the middle: a prefix as a range
    on the unique (value, kind) btree (t0011), a suffix as a prefix of reverse(value) (ix_contacts_value_rev,
    t0007), which replaced a trigram index that cost more than half of the index rebuild of an import.
    """
    conds: list[ColumnElement[bool]] = [
        and_(
            col(Contact.value) >= p,
            col(Contact.value) < _next_prefix(p),
            col(Contact.value).like(_like_escape(p) + "%"),
        )
        for p in prefixes
        if p
    ]
    if suffix:
        conds.append(func.reverse(Contact.value).like(_like_escape(suffix[::-1]) + "%"))
    if not conds:
        return []
    stmt = (
        select(Contact.customer_id)
        .where(col(Contact.kind).in_(kinds), or_(*conds))
        .limit(MAX_CONTACT_MATCHES)
    )
    return _ids(db.exec(stmt).all())


def plan_for_values(db: Session) -> None:
    """Plan the rest of this transaction's statements for their values, not once for any value.

    psycopg prepares a statement run 5 times on a connection, and after 5 more PostgreSQL may keep one
    generic plan for every value. A phone fragment's range and LIKE, a document prefix's range: their
    plans depend on the value, and the generic plan of the fragment lookup took 285-310 ms against
    0.2-3 ms planned for the value (every phone and document search of the 500k bench was 100-300 ms,
    issue 15). Only the contact and document searches: planning every statement of the name searches
    (several per request) cost 2-3 ms a request, and their generic plans were fine."""
    begin_if_autocommit(db)  # a read-only unit (tenants.database.read_session) has no transaction yet
    # Driver-level: a constant statement needs no SQLAlchemy compilation or cache key.
    db.connection().exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def contact_customer_ids(db: Session, q: ParsedQuery) -> tuple[list[int], list[int]]:
    """(exact, partial) customer ids whose phone/e-mail matches the query (and the transaction's
    statements planned for their values from here on: `plan_for_values`; the document prefix that
    callers add runs after this)."""
    plan_for_values(db)
    exact: list[int] = []
    partial: list[int] = []
    if q.email:
        exact = _ids(
            db.exec(
                select(Contact.customer_id).where(Contact.kind == "email", Contact.value == q.email)
            ).all()
        )
        if len(q.email) >= 3 and not exact:
            partial = _fragment_ids(db, ("email",), [q.email], q.email)
    elif q.numeric:
        if q.phones:
            exact = _ids(
                db.exec(
                    select(Contact.customer_id).where(
                        col(Contact.kind).in_(_PHONE_KINDS), col(Contact.value).in_(q.phones)
                    )
                ).all()
            )
        if len(q.digits) >= 4 and not exact:
            # "11 98765" is the start of +5511987654321, "55 11 98765" too; "4321" or "98765-4321" its end.
            national = q.digits[2:] if q.digits.startswith("55") and len(q.digits) > 4 else q.digits
            prefixes = sorted({"+55" + national.lstrip("0"), "+" + q.digits})
            partial = _fragment_ids(db, _PHONE_KINDS, prefixes, q.digits)
    return exact, partial


# Per schema: (read at, {word: estimated customers}); statistics are a hint, so a few minutes old is fine.
_COMMON_WORDS: dict[str, tuple[float, dict[str, float]]] = {}
_COMMON_WORDS_TTL = 300.0


def _tenant_schema(db: Session) -> str | None:
    translate = db.get_bind().get_execution_options().get("schema_translate_map") or {}
    schema = db.info.get("schema") or translate.get(None)
    return str(schema) if schema else None


def common_words(db: Session) -> dict[str, float]:
    """Estimated customers per word for the most common words of names: ANALYZE's statistics of
    customers.name_tsv (what the planner itself uses), read once per schema every few minutes."""
    schema = _tenant_schema(db)
    if not schema or not is_tenant_schema(schema):
        return {}
    cached = _COMMON_WORDS.get(schema)
    now = time.monotonic()
    if cached and now - cached[0] < _COMMON_WORDS_TTL:
        return cached[1]
    row = (
        db.connection()
        .execute(
            text(
                "SELECT s.most_common_elems::text::text[] AS words, s.most_common_elem_freqs AS freqs, "
                "c.reltuples FROM pg_stats s JOIN pg_class c ON c.oid = to_regclass(:table) "
                "WHERE s.schemaname = :schema AND s.tablename = 'customers' AND s.attname = 'name_tsv'"
            ).bindparams(schema=schema, table=f'"{schema}".customers')
        )
        .first()
    )
    words: dict[str, float] = {}
    if row is not None and row.words and row.freqs and row.reltuples and row.reltuples > 0:
        words = {w: f * row.reltuples for w, f in zip(row.words, row.freqs, strict=False)}
        # The table's size rides along under a key no word can be (words are never empty).
        words[""] = float(row.reltuples)
    _COMMON_WORDS[schema] = (now, words)
    return words


@dataclass(frozen=True)
class TableShape:
    """ANALYZE's view of the customers table: its heap pages, its rows and, per column, how closely the
    physical row order follows the column's order (pg_stats.correlation, -1..1)."""

    blocks: int = 0
    rows: float = 0.0
    correlation: dict[str, float] = field(default_factory=dict)
    # pg_stats.histogram_bounds of the name sort key (`name_key`, C collation: Python's str order):
    # about equal shares of the table between consecutive bounds.
    name_bounds: list[str] = field(default_factory=list)
    # The same for the list's other sort columns (created_at, updated_at, score), as PostgreSQL prints them.
    bounds: dict[str, list[str]] = field(default_factory=dict)

    def name_share_beyond(self, key: str, desc: bool) -> float:
        """The estimated share of customers whose name_key is <= `key` (>= with `desc`); 1.0 unknown."""
        bounds = self.name_bounds
        if len(bounds) < 2:
            return 1.0
        at = bisect_left(bounds, key) if desc else bisect_right(bounds, key)
        buckets = len(bounds) - 1
        # A bound falling inside a bucket counts that whole bucket (an over-estimate, never under).
        return min(1.0, ((buckets + 1 - at) if desc else at) / buckets)

    def edge_for_share(self, column: str, share: float, desc: bool) -> str | None:
        """The histogram bound of `column` up to which (from where its order starts: the highest values with
        `desc`) lie at least `share` of the customers, by whole buckets; None without a histogram."""
        bounds = self.bounds.get(column, [])
        buckets = len(bounds) - 1
        if buckets < 1:
            return None
        k = min(buckets, max(1, ceil(share * buckets)))
        return bounds[buckets - k] if desc else bounds[k]


# Per schema, like _COMMON_WORDS: (read at, shape).
_TABLE_SHAPE: dict[str, tuple[float, TableShape]] = {}


def table_shape(db: Session) -> TableShape:
    """The customers table's TableShape, read once per schema every few minutes (empty before the first
    ANALYZE: callers then do what they did without it)."""
    schema = _tenant_schema(db)
    if not schema or not is_tenant_schema(schema):
        return TableShape()
    cached = _TABLE_SHAPE.get(schema)
    now = time.monotonic()
    if cached and now - cached[0] < _COMMON_WORDS_TTL:
        return cached[1]
    rows = (
        db.connection()
        .execute(
            text(
                "SELECT c.relpages, c.reltuples, s.attname, s.correlation, "
                "CASE WHEN s.attname IN ('name_key', 'created_at', 'updated_at', 'score') "
                "THEN s.histogram_bounds::text::text[] END AS bounds "
                "FROM pg_class c "
                "LEFT JOIN pg_stats s ON s.schemaname = :schema AND s.tablename = 'customers' "
                "AND s.correlation IS NOT NULL WHERE c.oid = to_regclass(:table)"
            ).bindparams(schema=schema, table=f'"{schema}".customers')
        )
        .all()
    )
    shape = TableShape()
    if rows and rows[0].relpages > 0:
        shape = TableShape(
            int(rows[0].relpages),
            float(rows[0].reltuples),
            {r.attname: float(r.correlation) for r in rows if r.attname},
            next((list(r.bounds) for r in rows if r.bounds and r.attname == "name_key"), []),
            {r.attname: list(r.bounds) for r in rows if r.bounds and r.attname != "name_key"},
        )
    _TABLE_SHAPE[schema] = (now, shape)
    return shape


def name_share(db: Session, words: list[str] | list[list[str]]) -> float:
    """The estimated share of customers whose names have all `words` (alternatives add up), from the
    same statistics as common_words; a word they do not list counts as rare (0). 1.0 when there are no
    statistics yet, so callers fall back to what they did without them."""
    common = common_words(db)
    rows = common.get("")
    if not rows:
        return 1.0
    share = 1.0
    for word in words:
        alternatives = [word] if isinstance(word, str) else word
        share *= min(1.0, sum(common.get(a, 0.0) for a in alternatives) / rows)
    return share


@dataclass(frozen=True)
class TextFilter:
    """The list's predicate for a typed text. `dense` is set when it is a full-text filter on words that
    many customers share (`words`, as a tsquery): the list then bounds how far it walks its sort index
    looking for them (`app.crm.customers.queries`), since common words can still cluster at the far end
    of a sort order (company words under a name sort)."""

    clause: ColumnElement[bool]
    dense: ColumnElement[Any] | None = None
    share: float = 1.0  # estimated share of customers matching a dense filter (`name_share`)
    # A dense filter that is one word's whole-lexeme alternatives ("marcos | marcia"): the customers with
    # any of these words, which customer_words may hold in name order (`app.search.word_order`).
    lexemes: tuple[str, ...] = ()
    # Every one of `lexemes` is flagged `search_words.ordered` (read with them, in the same statement).
    ordered: bool = False


def text_clause(db: Session, text_query: str, base: list[Any] | None = None) -> ColumnElement[bool]:
    """A WHERE predicate for the customers list: the typed text as a filter (no ranking)."""
    return text_filter(db, text_query, base).clause


def text_filter(db: Session, text_query: str, base: list[Any] | None = None) -> TextFilter:
    """The typed text as a filter of the customers list (no ranking).

    `base` (liveness and the actor's visibility) bounds the probes. Names: when few customers match,
    the list pages their ids (bounded, found through the GIN index); when none match, the typed words
    are corrected as in the ranked search (one typo) and the corrections' matches are listed; a text
    that matches nothing either way lists nothing without touching the table. Only words matching
    more than `LIST_CANDIDATES` customers stay a full-text filter (`dense`)."""
    q = parse_query(text_query)
    if q.empty:
        return TextFilter(true())
    if q.email or q.numeric:
        return TextFilter(_contact_clause(db, q))
    where = list(base or [])
    if len(q.words) == 1 and common_words(db).get(q.words[0], 0.0) > 4 * LIST_CANDIDATES:
        # One word the statistics know as common: the probe below would only add its cost.
        return _dense(db, q.words)
    # The dictionary first (one statement on search_words, which holds every word of every name): the
    # typed text can match only when it corrects to itself (each word a name word, the last the start
    # of one). A typo then skips the probes of the typed words, which find nothing but may read a whole
    # portfolio doing so (an agent's probe walks its owner index: 5-20 ms).
    dictionary = _dictionary(db, q.words)
    corrected = _corrected(q.words, dictionary)
    if corrected == [[w] for w in q.words]:
        # The last word starts no other name word: its prefix matches exactly its whole-word matches.
        whole_is_prefix = list(dictionary[-1].completions) == [q.words[-1]]
        listed = _listed_names(db, where, q.words, whole_is_prefix, dictionary[-1].last)
        return listed if listed is not None else TextFilter(false())
    if corrected is None:
        return TextFilter(false())
    # Nothing can match as typed: the ranked search's typo correction, then its matches.
    if name_share(db, corrected) * common_words(db).get("", 0.0) > 4 * LIST_CANDIDATES:
        # Corrections the statistics know as common ("slva" → silva): as for a common typed word, the
        # probe would only repeat the full-text lookup the list's filter makes anyway.
        return _dense(db, corrected, dictionary[-1].last)
    # Each alternative of the last word starts no other name word (its completions, read with the
    # dictionary, are itself alone): the prefix probe would repeat the whole-word one (an agent's probe
    # of "silva:*" walks its portfolio: ~6 ms).
    known = dictionary[-1].last
    whole_is_prefix = bool(known) and all([w for w, _ in k["found"]] == [k["p"]] for k in known)
    listed = _listed_names(db, where, corrected, whole_is_prefix, known)
    return listed if listed is not None else TextFilter(false())


def _dense(db: Session, words: list[str] | list[list[str]], known: list[Any] | None = None) -> TextFilter:
    """The full-text filter of `words`; `known`: the last word's completions, read with the dictionary."""
    found = _completions(db, words, known)
    completed = found[0] if found else None
    query = name_tsquery(completed, prefix=False) if completed else name_tsquery(words)
    lexemes = tuple(completed[0]) if completed and len(completed) == 1 else ()
    return TextFilter(
        NAME_TSV.op("@@")(query),
        dense=query,
        share=name_share(db, completed or words),
        lexemes=lexemes,
        ordered=bool(lexemes) and found is not None and found[1],
    )


# A last word with at most this many completions is filtered as those words.
PREFIX_COMPLETIONS = 8


def _completed(db: Session, words: list[str] | list[list[str]]) -> list[list[str]] | None:
    """`words` with the last one (the prefix still being typed) replaced by the name words it starts
    (`search_words`, which holds every word of every name), when they are few: the same customers,
    and a lookup of whole lexemes costs a third of a prefix scan of the full-text index (13k matches of
    "marcos:* | marcia:*": 4.5 against 1.7 ms), paid by every statement the list filters with it.
    None when a word has many completions or none (then the prefix stays)."""
    found = _completions(db, words)
    return found[0] if found else None


def _completions(
    db: Session, words: list[str] | list[list[str]], known: list[Any] | None = None
) -> tuple[list[list[str]], bool] | None:
    """`_completed`'s words and whether every completion is flagged `ordered` (customer_words holds its
    customers in name order), in one statement for all the last word's alternatives: one lookup per
    alternative and another for the flags were a round trip each. `known`: the same, already read by
    `_dictionary` (`last`) for these very alternatives."""
    last = words[-1]
    prefixes = [last] if isinstance(last, str) else list(last)
    per_prefix: dict[str, list[tuple[str, bool]]] = {}
    if known is not None:
        per_prefix = {k["p"]: [(w, o) for w, o in k["found"]] for k in known}
    if sorted(per_prefix) != sorted(set(prefixes)):
        schema = _tenant_schema(db)
        if not schema or not is_tenant_schema(schema):
            raise RuntimeError("word completions need a tenant session")
        rows = (
            db.connection()
            .execute(
                text(
                    # Per prefix, up to PREFIX_COMPLETIONS + 1 of the words it starts (with their flags).
                    "SELECT t.p, c.word, c.ordered FROM unnest(CAST(:prefixes AS text[])) AS t(p) "
                    "LEFT JOIN LATERAL (SELECT s.word, s.ordered "
                    f'FROM "{schema}".search_words s WHERE s.word LIKE {_like_prefix("t.p")} LIMIT :n) c '
                    "ON true"
                ).bindparams(prefixes=prefixes, n=PREFIX_COMPLETIONS + 1)
            )
            .all()
        )
        per_prefix = {}
        for r in rows:
            per_prefix.setdefault(r.p, [])
            if r.word is not None:
                per_prefix[r.p].append((r.word, r.ordered))
    completions: set[str] = set()
    ordered = True
    for found in per_prefix.values():
        if not found or len(found) > PREFIX_COMPLETIONS:
            return None
        completions.update(w for w, _ in found)
        ordered = ordered and all(o for _, o in found)
    completed = [[w] if isinstance(w, str) else w for w in words[:-1]] + [sorted(completions)]
    return completed, ordered


def _like_prefix(column: str) -> str:
    """`column || '%'` as a LIKE pattern matching the words that start with `column` (its own % and _
    escaped)."""
    return rf"replace(replace(replace({column}, '\', '\\'), '%', '\%'), '_', '\_') || '%'"


def _contact_clause(db: Session, q: ParsedQuery) -> ColumnElement[bool]:
    """Customers whose phone/e-mail matches, or whose document starts with the typed digits."""
    exact, partial = contact_customer_ids(db, q)
    ids = sorted(set(exact) | set(partial))
    clauses: list[ColumnElement[bool]] = [id_in(Customer.id, ids)] if ids else []
    if q.numeric and len(q.digits) >= 3:
        clauses.append(document_prefix(q.digits))
    return or_(*clauses) if clauses else false()


def _listed_names(
    db: Session,
    where: list[Any],
    words: list[str] | list[list[str]],
    whole_is_prefix: bool = False,
    known: list[Any] | None = None,
) -> TextFilter | None:
    """The list's name predicate for `words`: their ids when few match, the full-text filter when
    many do, None when none do. `whole_is_prefix`: the last word as a prefix matches what it matches
    as a whole word (the dictionary says it starts no other word), so one probe answers both."""
    # Whole words first: an exact lexeme is a cheap GIN lookup, a prefix of a common word is not.
    found = _probe(db, [*where, _name_fts(words, prefix=False)], LIST_CANDIDATES + 1)
    if len(found) > LIST_CANDIDATES:
        return _dense(db, words, known)
    if not whole_is_prefix:
        found = _probe(db, [*where, _name_fts(words)], LIST_CANDIDATES + 1)
    if len(found) > LIST_CANDIDATES:
        return _dense(db, words, known)
    return TextFilter(id_in(Customer.id, sorted(found))) if found else None


def word_corrections(db: Session, words: list[str]) -> list[list[str]] | None:
    """Per typed word, the dictionary words it may mean: itself when it is a name word (or, for the
    last word, a prefix of one), else its completions, else up to 3 words within one typo; None when
    a word has no such word. Shared by the ranked search and the list's search box."""
    return _corrected(words, _dictionary(db, words)) if words else []


def _dictionary(db: Session, words: list[str]) -> list[Any]:
    """Per typed word, in order, a row of its completions in search_words (up to 5, shortest first: the
    word itself when it is one) and, when it has none, `close`: up to 3 words within one typo, most
    similar first (the connection's trigram threshold, `tenants.database`).

    One statement for every word: a lookup (two for a typo) per word was a round trip each, and under
    load each round trip cost what the lookups themselves did."""
    schema = _tenant_schema(db)
    if not schema or not is_tenant_schema(schema):
        raise RuntimeError("word corrections need a tenant session")
    return list(
        db.connection()
        .execute(
            text(
                "SELECT c.completions, k.close, l.last "
                "FROM unnest(CAST(:words AS text[])) WITH ORDINALITY AS t(p, i), "
                f'LATERAL (SELECT ARRAY(SELECT s.word FROM "{schema}".search_words s '
                f"WHERE s.word LIKE {_like_prefix('t.p')} ORDER BY length(s.word) LIMIT 5) AS completions "
                # OFFSET 0: each kept a subquery, so it is computed once, not per reference.
                "OFFSET 0) c, "
                "LATERAL (SELECT CASE WHEN cardinality(c.completions) = 0 AND length(t.p) >= 3 "
                f'THEN ARRAY(SELECT s.word FROM "{schema}".search_words s WHERE s.word % t.p '
                "ORDER BY similarity(s.word, t.p) DESC LIMIT 3) END AS close OFFSET 0) k, "
                # The last word's alternatives (itself when it starts a word, else its neighbours), each
                # with up to PREFIX_COMPLETIONS + 1 of the words it starts and their flags (`_completions`).
                "LATERAL (SELECT CASE WHEN t.i = cardinality(CAST(:words AS text[])) THEN ("
                "SELECT json_agg(json_build_object('p', a.p, 'found', (SELECT coalesce(json_agg("
                "json_build_array(s.word, s.ordered)), '[]') FROM (SELECT s.word, s.ordered "
                f'FROM "{schema}".search_words s WHERE s.word LIKE {_like_prefix("a.p")} LIMIT :n) s))) '
                "FROM unnest("
                "CASE WHEN cardinality(c.completions) > 0 THEN ARRAY[t.p] ELSE k.close END) AS a(p)"
                ") END AS last) l ORDER BY t.i"
            ).bindparams(words=list(words), n=PREFIX_COMPLETIONS + 1)
        )
        .all()
    )


def _corrected(words: list[str], dictionary: list[Any]) -> list[list[str]] | None:
    """`word_corrections` from the words' `_dictionary` rows."""
    out: list[list[str]] = []
    for i, (word, row) in enumerate(zip(words, dictionary, strict=True)):
        last = i == len(words) - 1
        completions = list(row.completions)
        if completions and (last or completions[0] == word):
            out.append([word])
        elif completions:
            out.append(completions)
        elif row.close:
            out.append(list(row.close))
        else:
            return None
    return out


class PostgresSearch:
    name = "postgres"

    def search(self, db: Session, actor: Actor, text_query: str, *, limit: int = 20) -> list[SearchHit]:
        actor.require(Perm.CUSTOMERS_READ)
        q = parse_query(text_query)
        limit = max(1, min(limit, CANDIDATES))
        if q.empty:
            return []
        base = [col(Customer.deleted_at).is_(None), customer_visible(actor)]
        if q.email or q.numeric:
            return self._search_contacts(db, q, base, limit)
        return self._search_names(db, q, base, limit)

    def _rows(self, db: Session, where: list[Any], rank: Any, limit: int, matched: Any) -> list[SearchHit]:
        stmt = (
            sa_select(
                col(Customer.id),
                col(Customer.name),
                col(Customer.document),
                col(Customer.status),
                col(Customer.plan),
                col(Customer.owner_id),
                col(Customer.updated_at),
                rank.label("rank"),
                matched.label("matched"),
            )
            .where(*where)
            .order_by(literal_column("rank").desc(), col(Customer.updated_at).desc(), col(Customer.id).desc())
            .limit(limit)
        )
        return [SearchHit(**dict(r._mapping)) for r in db.execute(stmt)]

    def _search_names(self, db: Session, q: ParsedQuery, base: list[Any], limit: int) -> list[SearchHit]:
        hits = self._ranked_prefix(db, q.words, q.folded, base, limit)
        if hits:
            return hits
        # Nothing matched every word as a prefix: assume a typo. Correct each word against the
        # dictionary of name words (small, trigram-indexed) and search again with the alternatives.
        alternatives = self._corrections(db, q.words)
        # Every word is already a name word (or the start of one): the same search would run again and
        # find nothing again (e.g. a name outside an agent's portfolio), at the cost of the first pass.
        if alternatives is None or alternatives == [[w] for w in q.words]:
            return []
        return self._ranked_prefix(db, alternatives, q.folded, base, limit)

    def _ranked_prefix(
        self, db: Session, words: list[str] | list[list[str]], folded: str, base: list[Any], limit: int
    ) -> list[SearchHit]:
        # A bounded candidate set in relevance order, then rank only those: whole-word matches first
        # (exact lexemes, the cheapest GIN lookups), widened to the last word as a prefix only when
        # they are fewer than a page. Common words match tens of thousands of customers; ranking all
        # of them (or sorting them by date to cut them) is what made such searches slow.
        ids = _probe(db, [*base, _name_fts(words, prefix=False)], CANDIDATES)
        if len(ids) < limit:
            seen = set(ids)
            more = _probe(db, [*base, _name_fts(words)], CANDIDATES)
            ids += [i for i in more if i not in seen][: CANDIDATES - len(ids)]
        if not ids:
            return []
        rank = func.similarity(norm_name(), folded) + case(
            (norm_name() == folded, 1.0), (norm_name().startswith(folded), 0.5), else_=0.0
        )
        return self._rows(db, [id_in(Customer.id, sorted(ids))], rank, limit, literal("nome"))

    def _corrections(self, db: Session, words: list[str]) -> list[list[str]] | None:
        return word_corrections(db, words)

    def _search_contacts(self, db: Session, q: ParsedQuery, base: list[Any], limit: int) -> list[SearchHit]:
        exact, partial = contact_customer_ids(db, q)
        doc_where: list[Any] = []
        if q.numeric and len(q.digits) >= 3:
            doc_where = [document_prefix(q.digits)]
        ids_clause = id_in(Customer.id, sorted(set(exact) | set(partial))) if (exact or partial) else false()
        where = [*base, or_(ids_clause, *doc_where)]
        exact_set = sorted(set(exact))
        rank = case(
            (id_in(Customer.id, exact_set) if exact_set else false(), 2.0),
            (col(Customer.document) == q.digits if q.numeric else false(), 2.0),
            else_=1.0,
        )
        matched = case(
            (doc_where[0] if doc_where else false(), "documento"),
            else_="email" if q.email else "telefone",
        )
        return self._rows(db, where, rank, limit, matched)

    def index_customers(self, db: Session, schema: str, ids: list[int]) -> int:
        return 0  # the indexes are the table's own: nothing to sync

    def reindex_all(self, db: Session, schema: str, batch: int = 5000) -> int:
        return 0
