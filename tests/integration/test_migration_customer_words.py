"""t0022 (customer_words: each frequent name word's customers in name order): an empty tenant upgrades and
downgrades; a tenant with customers gets its frequent words flagged and their rows backfilled, exactly,
and the triggers keep them for rows written afterwards."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant

_EXPECTED = (
    "SELECT x.word, c.name_key, c.id FROM customers c, unnest(tsvector_to_array(c.name_tsv)) x(word) "
    "JOIN search_words s ON s.word = x.word WHERE s.ordered "
    "AND NOT (c.name_key >= x.word AND c.name_key < x.word || '!')"
)


def _tables(schema: str) -> set[str]:
    with engine().connect() as conn:
        rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})
        return {r[0] for r in rows}


def _drop(schema: str) -> None:
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_t0022_on_an_empty_tenant_and_back(database_url: str) -> None:
    schema = "t_w" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0021_campaigns")
    before = _tables(schema)
    upgrade_tenant(schema, "t0022_customer_words")
    try:
        assert _tables(schema) == before | {"customer_words"}
        with engine().begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}", public'))
            assert conn.execute(text("SELECT count(*) FROM search_words WHERE ordered")).scalar_one() == 0
            # No word is frequent yet: the triggers write nothing.
            conn.execute(
                text("INSERT INTO customers (name, kind, status) VALUES ('Ana Souza', 'PF', 'ativo')")
            )
            assert conn.execute(text("SELECT count(*) FROM customer_words")).scalar_one() == 0
        with engine().begin() as conn:
            command.downgrade(_config("tenant", conn, schema), "t0021_campaigns")
            conn.execute(text("SET search_path TO public"))
        assert _tables(schema) == before
    finally:
        _drop(schema)


def test_t0022_backfills_the_frequent_words_of_existing_customers(database_url: str) -> None:
    schema = "t_w" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0021_campaigns")
    try:
        with engine().begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}", public'))
            conn.execute(
                text(
                    "INSERT INTO customers (name, kind, status) "
                    "SELECT CASE WHEN i % 6 = 0 THEN 'Telecom ' ELSE '' END || "
                    "CASE WHEN i % 2 = 0 THEN 'Maria ' ELSE 'José ' END || 'Cliente' || i || "
                    "CASE WHEN i % 6 = 3 THEN ' Telecom' ELSE '' END, 'PF', 'ativo' "
                    "FROM generate_series(1, 6000) i"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO search_words (word) SELECT DISTINCT unnest(tsvector_to_array(name_tsv)) "
                    "FROM customers ON CONFLICT DO NOTHING"
                )
            )
        upgrade_tenant(schema, "t0022_customer_words")
        with engine().begin() as conn:
            conn.execute(text(f'SET LOCAL search_path TO "{schema}", public'))
            ordered = set(conn.execute(text("SELECT word FROM search_words WHERE ordered")).scalars())
            # maria/jose 3,000 each, telecom 2,000 (the migration's threshold), each leading at least
            # half of its names; every clienteN once.
            assert ordered == {"maria", "jose", "telecom"}
            rows = set(conn.execute(text("SELECT word, name_key, customer_id FROM customer_words")).all())
            # Only where the word does not lead: "Telecom Maria …" (1,000), "José … Telecom" (1,000).
            assert len(rows) == 2000 and rows == set(conn.execute(text(_EXPECTED)).all())
            assert {w for w, _k, _i in rows} == {"maria", "telecom"}
            conn.execute(text("UPDATE customers SET name = 'Maria Telecom Nova' WHERE id = 1"))
            conn.execute(
                text("INSERT INTO customers (name, kind, status) VALUES ('Telecom Maria', 'PJ', 'ativo')")
            )
            conn.execute(text("DELETE FROM customers WHERE id = 2"))
            assert set(
                conn.execute(text("SELECT word, name_key, customer_id FROM customer_words")).all()
            ) == set(conn.execute(text(_EXPECTED)).all())
    finally:
        _drop(schema)


def test_t0022_at_head_matches_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import models.tenant  # noqa: F401  (registers the tables on SQLModel.metadata)

    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        # customer_words whole; search_words' columns (its trigram index lives only in the migrations).
        return getattr(table, "name", None) == "customer_words" or (
            type_ == "column" and getattr(table, "name", None) == "search_words"
        )

    schema = "t_w" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    try:
        with engine().connect() as conn:
            conn.execute(text(f'SET search_path TO "{schema}"'))
            ctx = MigrationContext.configure(
                conn,
                opts={"include_object": include, "compare_type": True, "target_metadata": SQLModel.metadata},
            )
            diff = compare_metadata(ctx, SQLModel.metadata)
            conn.execute(text("SET search_path TO public"))
        assert [d for d in diff if "platform" not in repr(d)] == []
    finally:
        _drop(schema)
