"""t0017 adds customers.name_key (folded name, generated) and moves the name list indexes onto it, on an
empty tenant and on one that already has customers; its downgrade restores the earlier definitions."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def _indexes(schema: str) -> dict[str, str]:
    with engine().connect() as conn:
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s"), {"s": schema}
        )
        return {name: ddl for name, ddl in rows}


def _keys(schema: str) -> list[tuple[str, str]]:
    with engine().connect() as conn:
        rows = conn.execute(text(f'SELECT name, name_key FROM "{schema}".customers ORDER BY name_key, id'))
        return [(r[0], r[1]) for r in rows]


def _downgrade(schema: str, revision: str) -> None:
    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), revision)
        conn.execute(text("SET search_path TO public"))


def _drop(schema: str) -> None:
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_t0017_on_an_empty_tenant_and_back(database_url: str) -> None:
    schema = "t_n" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0016_kanban")
    before = _indexes(schema)
    upgrade_tenant(schema, "t0017_name_sort_key")
    after = _indexes(schema)
    assert after["ix_customers_name_id"].endswith("(name_key, id)")
    assert after["ix_customers_owner_name"].endswith("(owner_id, name_key, id) WHERE (owner_id IS NOT NULL)")
    with engine().begin() as conn:
        conn.execute(
            text(
                f'INSERT INTO "{schema}".customers (name, kind, status) VALUES '
                "('Ágata', 'PF', 'ativo'), ('ANA', 'PF', 'ativo'), ('Peçanha', 'PJ', 'ativo')"
            )
        )
    assert _keys(schema) == [("Ágata", "agata"), ("ANA", "ana"), ("Peçanha", "pecanha")]
    _downgrade(schema, "t0016_kanban")
    assert _indexes(schema) == before
    _drop(schema)


def test_t0017_fills_the_key_of_existing_customers(database_url: str) -> None:
    schema = "t_n" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0016_kanban")
    names = ["Pereira Simões", "zélia", "Peçanha", "ANA", "Ana", "ÉDER ÇAÇA", "Ñandú Öst"]
    with engine().begin() as conn:
        conn.execute(
            text(
                f'INSERT INTO "{schema}".customers (name, owner_id, kind, status) '
                "SELECT n, 1, 'PF', 'ativo' FROM unnest(CAST(:n AS text[])) n"
            ),
            {"n": names},
        )
    upgrade_tenant(schema, "t0017_name_sort_key")
    assert _keys(schema) == [
        ("ANA", "ana"),
        ("Ana", "ana"),
        ("ÉDER ÇAÇA", "eder caca"),
        ("Ñandú Öst", "nandu ost"),
        ("Peçanha", "pecanha"),
        ("Pereira Simões", "pereira simoes"),
        ("zélia", "zelia"),
    ]
    # Writers keep it without knowing it: an UPDATE of the name recomputes the key.
    with engine().begin() as conn:
        conn.execute(text(f"UPDATE \"{schema}\".customers SET name = 'Álvaro' WHERE name = 'zélia'"))
    assert _keys(schema)[0] == ("Álvaro", "alvaro")
    _drop(schema)
