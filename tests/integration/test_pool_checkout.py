"""Pooled connections the server closed are replaced at check-out, without a ping on healthy ones."""

import time

import psycopg
import pytest
from sqlalchemy import Engine, event, text

from tenants.database import database_url, engine, read_engine


def _terminate(pid: int) -> None:
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # The server sends its FATAL error and closes the socket: wait until that has arrived.
    time.sleep(0.2)


@pytest.mark.parametrize("which", [engine, read_engine])
def test_a_connection_the_server_closed_is_replaced(database_url: str, which: object) -> None:
    eng: Engine = which()  # type: ignore[operator]
    eng.dispose()
    with eng.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    _terminate(pid)

    with eng.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_a_healthy_connection_is_not_pinged(database_url: str) -> None:
    eng = engine()
    eng.dispose()
    with eng.connect() as conn:
        conn.execute(text("SELECT 1"))
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    pings = []
    original = eng.dialect.do_ping
    eng.dialect.do_ping = lambda c: pings.append(c) or original(c)  # type: ignore[method-assign]
    event.listen(eng, "before_cursor_execute", record)
    try:
        with eng.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    finally:
        event.remove(eng, "before_cursor_execute", record)
        del eng.dialect.do_ping
    assert pid
    assert pings == []
    assert sent == ["SELECT pg_backend_pid()"]
