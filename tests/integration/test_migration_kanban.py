"""t0016 (Kanban) on an empty schema and on existing cards: dense positions become rank × 65,536 per
column, stage settings get defaults, stage_history appears; the downgrade restores dense positions."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def _rows(schema: str, sql: str) -> list[tuple]:
    with engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql.replace("{s}", f'"{schema}"')))]


def test_t0016_on_empty_schema_reaches_head(database_url: str) -> None:
    schema = "t_k" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    assert _rows(schema, "SELECT count(*) FROM {s}.stage_history") == [(0,)]
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_t0016_up_and_down_respreads_positions(database_url: str) -> None:
    schema = "t_k" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0015_import_heartbeat")
    with engine().begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO \"{schema}\".pipelines (id, name, is_default) VALUES (1, 'V', true);"
                f"INSERT INTO \"{schema}\".stages (id, pipeline_id, name, position) VALUES (1, 1, 'A', 0), "
                "(2, 1, 'B', 1);"
                f"INSERT INTO \"{schema}\".customers (id, name, kind, status) VALUES (1, 'C', 'PF', 'ativo');"
                f'INSERT INTO "{schema}".opportunities '
                "(id, customer_id, pipeline_id, stage_id, title, position) "
                "VALUES (1, 1, 1, 1, 'x', 0), (2, 1, 1, 1, 'y', 1), (3, 1, 1, 2, 'z', 0)"
            )
        )
    upgrade_tenant(schema, "t0016_kanban")
    assert _rows(schema, "SELECT id, position FROM {s}.opportunities ORDER BY id") == [
        (1, 65536),
        (2, 131072),
        (3, 65536),
    ]
    assert _rows(schema, "SELECT color, wip_limit, required_fields FROM {s}.stages WHERE id = 1") == [
        ("gray", None, [])
    ]
    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), "t0015_import_heartbeat")
        conn.execute(text("SET search_path TO public"))
    assert _rows(schema, "SELECT id, position FROM {s}.opportunities ORDER BY id") == [(1, 0), (2, 1), (3, 0)]
    assert _rows(schema, f"SELECT to_regclass('\"{schema}\".stage_history') IS NULL") == [(True,)]
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
