"""Engine and sessions: one engine per process, one tenant per Session."""

import logging
import re
import select
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg.errors import DeadlockDetected
from sqlalchemy import Engine, TextClause, create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlmodel import Session

from app.errors import Conflict, DomainError, Invalid
from app.settings import get_settings
from tenants.naming import is_tenant_schema


def to_sqlalchemy_url(url: str) -> str:
    """Accept the plain URL psql prints (postgresql://...) and select the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


@lru_cache
def database_url() -> str:
    """The plain postgresql:// URL in use: DATABASE_URL, or the embedded server's."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    from tenants.embedded import embedded_url  # function-level: only without DATABASE_URL

    return embedded_url(settings.data_dir)


T = TypeVar("T")

# The similarity from which a name word is a one-typo correction of a typed word (pg_trgm's `%`).
TYPO_THRESHOLD = 0.3


def _search_path_public(eng: Engine, *, read_only: bool = False) -> None:
    @event.listens_for(eng, "connect")
    def _on_connect(dbapi_conn: Any, _record: object) -> None:
        # Sessions place tenant tables with schema_translate_map; the search_path default
        # keeps raw SQL from silently touching another schema's tables.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET search_path TO public")
            # The typo correction's trigram threshold (app.search.postgres), once per connection: a
            # SET LOCAL in every search was a round trip of its own.
            cur.execute(f"SET pg_trgm.similarity_threshold = {TYPO_THRESHOLD}")
            if read_only:
                # Autocommit would make each write its own committed transaction: refused instead.
                cur.execute("SET default_transaction_read_only = on")
        dbapi_conn.commit()


def _idle_connection_alive(dbapi_conn: psycopg.Connection[Any]) -> bool:
    """Whether a pooled connection looks usable, without a round trip: nothing has arrived on its socket.

    An idle connection receives nothing unless the server is ending it (a restart, a terminated backend,
    an idle timeout: the server sends its error, then closes) or has a notice for it; a readable or
    closed socket is then checked with a real ping."""
    if dbapi_conn.closed or dbapi_conn.broken:
        return False
    poller = select.poll()
    poller.register(dbapi_conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return not poller.poll(0)


def _check_on_checkout(eng: Engine) -> None:
    """What pool_pre_ping does, one round trip cheaper: a pooled connection that the server closed is
    replaced before use, but a healthy one (every request's) is not pinged."""

    @event.listens_for(eng, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: object, _proxy: object) -> None:
        if _idle_connection_alive(dbapi_conn):
            return
        try:
            eng.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError("pooled connection closed by the server") from exc


@lru_cache
def engine() -> Engine:
    eng = create_engine(
        to_sqlalchemy_url(database_url()),
        pool_size=10,
        max_overflow=20,
        pool_recycle=1800,
    )
    _search_path_public(eng)
    _check_on_checkout(eng)
    return eng


@lru_cache
def read_engine() -> Engine:
    """Autocommit, read-only connections for the per-request authentication reads and `read_session`.

    Every round trip counts there: a session on `engine()` sends BEGIN and COMMIT. In autocommit neither
    is sent; a connection the server closed is replaced at check-out (`_check_on_checkout`), and one
    that dies in use is retried once (`read`).
    """
    eng = create_engine(
        to_sqlalchemy_url(database_url()),
        pool_size=5,
        max_overflow=10,
        pool_recycle=1800,
        isolation_level="AUTOCOMMIT",
    )
    _search_path_public(eng, read_only=True)
    _check_on_checkout(eng)
    return eng


def read(fn: Callable[[Session], T]) -> T:
    """Run `fn` on a platform Session of `read_engine()` (autocommit: reads only, nothing it adds is
    written); once more on a fresh connection if the pooled one turned out dead."""
    try:
        with Session(read_engine(), expire_on_commit=False) as db:
            return fn(db)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with Session(read_engine(), expire_on_commit=False) as db:
        return fn(db)


@contextmanager
def platform_session() -> Iterator[Session]:
    """A Session on the platform schema only (tenant tables unreachable)."""
    with Session(engine(), expire_on_commit=False) as db:
        yield db


@contextmanager
def session(schema: str) -> Iterator[Session]:
    """A Session whose tenant tables (schema=None) live in `schema`; platform tables stay in platform."""
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")
    bound = engine().execution_options(schema_translate_map={None: schema})
    with Session(bound, expire_on_commit=False, info={"schema": schema}) as db:
        yield db


@contextmanager
def read_session(schema: str) -> Iterator[Session]:
    """A tenant Session for a unit of work that only reads (a list page, a search), on `read_engine()`.

    Autocommit: no BEGIN before the first statement and no COMMIT after the last, two of the four round
    trips of a one-statement request; each statement reads its own snapshot. The connections are
    read-only, so a write through this Session fails instead of committing on its own. A statement that
    needs a transaction (SET LOCAL) opens one with BEGIN (`begin_if_autocommit`), ended when the Session
    closes (`_end_transaction`)."""
    if not is_tenant_schema(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")
    bound = read_engine().execution_options(schema_translate_map={None: schema})
    with Session(bound, expire_on_commit=False, info={"schema": schema}) as db:
        try:
            yield db
        finally:
            _end_transaction(db)


def _end_transaction(db: Session) -> None:
    """End a transaction `begin_if_autocommit` opened with COMMIT (it is read-only: nothing to keep or
    undo), not the pool's ROLLBACK: psycopg forgets every statement it prepared on the connection at a
    ROLLBACK, so the next request's auth read and page were parsed and planned again."""
    session_transaction = db.get_transaction()
    if session_transaction is None or not session_transaction.is_active:
        return  # nothing read, or a statement failed: the Session's close rolls back or discards it
    try:
        if open_transaction(db):
            dbapi_conn = db.connection().connection.dbapi_connection
            assert dbapi_conn is not None
            dbapi_conn.commit()
    except (DBAPIError, psycopg.Error):
        pass  # a connection that failed: the Session's close rolls back or discards it


def open_transaction(db: Session) -> bool:
    """Whether the Session's connection is inside a transaction on the server (closing it is then a
    ROLLBACK round trip); False for a Session that never checked a connection out."""
    if not db.in_transaction():
        return False
    dbapi_conn = db.connection().connection.dbapi_connection
    return dbapi_conn is not None and dbapi_conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


def begin_if_autocommit(db: Session) -> None:
    """Open a transaction on a `read_session`'s autocommit connection (for SET LOCAL); a no-op on a
    Session of `engine()`, whose first statement already began one."""
    conn = db.connection()
    dbapi_conn = conn.connection.dbapi_connection
    if dbapi_conn is not None and dbapi_conn.autocommit and not open_transaction(db):
        conn.exec_driver_sql("BEGIN")


@contextmanager
def unit_of_work(db: Session) -> Iterator[Session]:
    """Commit when the block succeeds, roll back when it raises (callers own the transaction).

    A unique violation or a value the database refuses becomes the domain error every caller
    already translates (REST: 409/422, UI: a message under the field), see `domain_error_from`."""
    try:
        yield db
        db.commit()
    except DBAPIError as exc:
        db.rollback()
        translated = domain_error_from(exc)
        if translated is None:
            raise
        raise translated from exc
    except Exception:
        db.rollback()
        raise


_KEY_COLUMNS = re.compile(r"^Key \(([^)]*)\)=")


def domain_error_from(exc: DBAPIError) -> DomainError | None:
    """What a database error means to the user, when it is the user's input and not our bug.

    - unique violation (two requests racing to create the same name: the check before the insert
      saw neither) → Conflict naming the column;
    - data errors (number out of the column's range, NUL byte in text, bad encoding) → Invalid.
    Anything else (deadlocks, lost connections, our own constraint bugs) stays a 500."""
    orig = exc.orig
    if isinstance(orig, psycopg.errors.UniqueViolation):
        detail = orig.diag.message_detail or ""
        match = _KEY_COLUMNS.match(detail)
        column = match.group(1).split(",")[-1].strip() if match else None
        return Conflict("Já existe um registro com este valor.", **({"field": column} if column else {}))
    if isinstance(orig, psycopg.DataError):
        return Invalid("body", "Valor fora do permitido (número grande demais ou caractere inválido).")
    return None


# ---------------------------------------------------------------- hot-path statements
# The outbox runs a few statements per chunk of messages, thousands of times a second: building a
# `text()` (it scans the SQL for parameters) and dumping a Python list as an array (psycopg inspects each
# element) cost more than the rest of the client's share of those statements.


@lru_cache(maxsize=512)
def sql(statement: str) -> TextClause:
    """`text(statement)`, built once per distinct statement (schema names are part of the string)."""
    return text(statement)


def int_array(values: Iterable[int]) -> str:
    """An array literal for `CAST(:p AS bigint[])`: cheaper to send than a list of ints."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def text_array(values: Iterable[str | None]) -> str:
    """An array literal for `CAST(:p AS text[])`; every element quoted (NULL for None)."""
    return "{" + ",".join("NULL" if v is None else _quote_element(v) for v in values) + "}"


def _quote_element(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


DEADLOCK_RETRIES = 3


def retry_deadlocks(fn: Callable[..., T], *args: Any) -> T:
    """Run a whole transaction (`fn` opens and commits its own) again when PostgreSQL chose it as a
    deadlock's victim, up to DEADLOCK_RETRIES times. Only for work that is idempotent by its guards
    (e.g. the outbox's marks and the status webhooks that race them: statuses only move forward), so a
    second run applies exactly what the rolled-back one would have."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return fn(*args)
        except OperationalError as exc:
            if not isinstance(exc.orig, DeadlockDetected) or attempt == DEADLOCK_RETRIES - 1:
                raise
            logging.getLogger(__name__).warning("deadlock in %s, running it again", fn.__name__)
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def reset_engine() -> None:
    """Forget the cached URL and engine (tests switch databases)."""
    if engine.cache_info().currsize:
        engine().dispose()
    engine.cache_clear()
    if read_engine.cache_info().currsize:
        read_engine().dispose()
    read_engine.cache_clear()
    database_url.cache_clear()
