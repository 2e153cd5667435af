"""Read-only units of work (`tenants.database.read_session`): no BEGIN/COMMIT, writes refused, SET LOCAL
still scoped to the request."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from app.search.postgres import plan_for_values
from models.tenant import Customer
from tenants.database import engine, open_transaction, read_engine, read_session


@contextmanager
def _statements(eng: Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    event.listen(eng, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(eng, "before_cursor_execute", record)


def test_a_write_through_a_read_session_is_refused(tenant) -> None:
    with read_session(tenant.schema) as db:
        db.add(Customer(name="Não deve gravar"))
        with pytest.raises(DBAPIError) as caught:
            db.flush()
    assert isinstance(caught.value.orig, psycopg.errors.ReadOnlySqlTransaction)


def test_set_local_lives_until_the_session_closes(tenant) -> None:
    read_engine().dispose()
    with read_session(tenant.schema) as db:
        assert not open_transaction(db)
        db.exec(text("SELECT 1"))
        assert not open_transaction(db)  # autocommit: nothing to roll back
        plan_for_values(db)
        assert open_transaction(db)
        assert db.exec(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"
    with read_session(tenant.schema) as db:
        # The same pooled connection, its transaction ended at close.
        assert db.exec(text("SHOW plan_cache_mode")).scalar_one() == "auto"
        assert not open_transaction(db)


def test_prepared_statements_outlive_a_set_local(tenant) -> None:
    """The transaction a SET LOCAL opened ends with COMMIT: psycopg drops every statement it prepared on
    the connection at a ROLLBACK, and the next requests would parse and plan theirs again."""
    read_engine().dispose()
    prepared = text("SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql")
    with read_session(tenant.schema) as db:
        for _ in range(6):  # psycopg prepares a statement from its 5th run on a connection
            db.exec(text("SELECT 1 + 1")).one()
        assert db.exec(prepared).scalar_one() >= 1
    with read_session(tenant.schema) as db:
        plan_for_values(db)
        db.exec(text("SELECT 1 + 1")).one()
    with read_session(tenant.schema) as db:
        assert db.exec(prepared).scalar_one() >= 1


def test_the_list_page_is_one_statement_without_a_transaction(client, tenant, auth_headers) -> None:
    headers = auth_headers(tenant, "agent")
    assert client.get("/api/clientes?limit=5", headers=headers).status_code == 200  # warm: pool, caches
    with _statements(read_engine()) as reads, _statements(engine()) as writes:
        page = client.get("/api/clientes?limit=5", headers=headers)
        phone = client.get("/api/clientes?limit=5&q=91234-5678", headers=headers)
        ranked = client.get("/api/clientes/busca?q=ana", headers=headers)
    assert page.status_code == phone.status_code == ranked.status_code == 200
    assert writes == []
    # Per request: the actor's row, then the route's statements (no BEGIN, COMMIT or ping).
    assert not any(s.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK", ";") for s in reads[:2])
    assert reads[0].lstrip().startswith("SELECT u.id") and reads[1].lstrip().startswith("SELECT")
    # The phone search planned for its values inside a transaction of its own.
    assert "BEGIN" in reads and "SET LOCAL plan_cache_mode = force_custom_plan" in reads
