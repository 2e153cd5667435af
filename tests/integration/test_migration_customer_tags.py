"""t0005 moves customers.tags (text[]) into customer_tags and back, data included."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def _rows(schema: str, sql: str) -> list[tuple]:
    with engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql.replace("{s}", f'"{schema}"')))]


def test_t0005_moves_tags_to_customer_tags_and_back(database_url: str) -> None:
    schema = "t_m" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0004")
    long_name = "x" * 70
    with engine().begin() as conn:
        conn.execute(text(f"INSERT INTO \"{schema}\".tags (name, color) VALUES ('vip', 'yellow')"))
        conn.execute(
            text(
                f'INSERT INTO "{schema}".customers (id, name, kind, status, tags) VALUES '
                "(1, 'Ana', 'PF', 'ativo', '{vip,\" novo \"}'), (2, 'Bia', 'PF', 'ativo', '{}'), "
                "(3, 'Caio', 'PF', 'ativo', :caio)"
            ),
            {"caio": ["novo", long_name, "vip", "vip"]},
        )
    upgrade_tenant(schema, "t0005")
    columns = _rows(
        schema,
        f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}' "
        "AND table_name = 'customers' AND column_name = 'tags'",
    )
    assert columns == []
    # Names used by customers but missing from `tags` were created (trimmed, cut to 60 characters).
    assert _rows(schema, "SELECT name, color FROM {s}.tags ORDER BY name") == [
        ("novo", "purple"),
        ("vip", "yellow"),
        ("x" * 60, "purple"),
    ]
    pairs = "SELECT ct.customer_id, t.name FROM {s}.customer_tags ct JOIN {s}.tags t ON t.id = ct.tag_id"
    assert sorted(_rows(schema, pairs)) == [(1, "novo"), (1, "vip"), (3, "novo"), (3, "vip"), (3, "x" * 60)]
    indexes = {r[0] for r in _rows(schema, f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}'")}
    assert "ix_customer_tags_tag" in indexes and "ix_customers_tags" not in indexes

    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), "t0004")
        conn.execute(text("SET search_path TO public"))
    assert _rows(schema, "SELECT id, tags FROM {s}.customers ORDER BY id") == [
        (1, ["novo", "vip"]),
        (2, []),
        (3, ["novo", "vip", "x" * 60]),
    ]
    indexes = {r[0] for r in _rows(schema, f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}'")}
    assert "ix_customers_tags" in indexes and "ix_customer_tags_tag" not in indexes
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
