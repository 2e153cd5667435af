"""t0019 adds user_preferences (primary key user + key) on top of t0018 and removes it again."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def _scalar(sql: str) -> object:
    with engine().connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_t0019_up_and_down(database_url: str) -> None:
    schema = "t_p" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0018_name_tsv")
    assert _scalar(f"SELECT to_regclass('\"{schema}\".user_preferences') IS NULL") is True
    upgrade_tenant(schema, "t0019_user_preferences")
    with engine().begin() as conn:
        conn.execute(
            text(
                f'INSERT INTO "{schema}".user_preferences (user_id, key, value) '
                "VALUES (7, 'kanban.filters', '{\"owner\": \"me\"}')"
            )
        )
    assert _scalar(f"SELECT value->>'owner' FROM \"{schema}\".user_preferences WHERE user_id = 7") == "me"
    key = _scalar(
        "SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        f"WHERE i.indrelid = '\"{schema}\".user_preferences'::regclass AND i.indisprimary"
    )
    assert key == "user_id,key"
    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), "t0018_name_tsv")
        conn.execute(text("SET search_path TO public"))
    assert _scalar(f"SELECT to_regclass('\"{schema}\".user_preferences') IS NULL") is True
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
