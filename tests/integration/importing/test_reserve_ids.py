"""reserve_ids: a block of ids drawn from a table's identity sequence in one step, never handed out
twice, also while other sessions insert rows (and draw their ids) at the same time."""

import threading

import psycopg

from app.importing import pipeline
from app.importing.pipeline import Db, reserve_ids


def _insert_customer(conn: psycopg.Connection, schema: str) -> int:
    row = conn.execute(
        f"INSERT INTO \"{schema}\".customers (name, kind, status) VALUES ('X', 'PF', 'ativo') RETURNING id"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_blocks_are_consecutive_and_the_sequence_moves_past_them(tenant) -> None:
    with pipeline.connection() as conn:
        db = Db(conn, tenant.schema)
        first = reserve_ids(db, "customers", 1000)
        second = reserve_ids(db, "customers", 10)
        assert second == first + 1000
        assert reserve_ids(db, "contacts", 0) == 0  # nothing asked, nothing drawn
        assert _insert_customer(conn, tenant.schema) == second + 10
        conn.commit()


def test_an_insert_in_flight_never_shares_the_block(tenant) -> None:
    """Another session drew an id and has not committed: the reservation waits for it (the sequence
    lock), then starts after it."""
    with pipeline.connection() as other, pipeline.connection() as conn:
        taken = _insert_customer(other, tenant.schema)  # transaction left open
        result: list[int] = []
        worker = threading.Thread(
            target=lambda: result.append(reserve_ids(Db(conn, tenant.schema), "customers", 500))
        )
        worker.start()
        worker.join(0.5)
        assert worker.is_alive()  # waiting for the other transaction
        other.commit()
        worker.join(10)
        assert result and result[0] > taken
        # And an insert after the reservation lands after the block.
        assert _insert_customer(other, tenant.schema) == result[0] + 500
        other.commit()


def test_a_rolled_back_reservation_hands_out_nothing_twice(tenant) -> None:
    """The block is usable only once committed (reserve_ids commits); a failure before that gives the
    values back, and no id was used."""
    with pipeline.connection() as conn:
        db = Db(conn, tenant.schema)
        seq = db.sequence("customers")
        db.run(f"ALTER SEQUENCE {seq} INCREMENT BY 1")
        db.one(f"SELECT nextval('{seq}'::regclass)")
        conn.rollback()
        first = reserve_ids(db, "customers", 5)
        assert _insert_customer(conn, tenant.schema) == first + 5
        conn.commit()
