"""t0024 (scheduled messages): an empty schema reaches head with the table matching the model column by
column and its partial index of due rows; the downgrade removes it."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant
from tests.integration import test_migration_channels as channels


def test_t0024_reaches_head_and_matches_the_model(database_url: str, monkeypatch) -> None:
    schema = "t_s" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    try:
        monkeypatch.setattr(channels, "TABLES", {"scheduled_messages"})
        assert channels._diff(schema) == []
        with engine().connect() as conn:
            where = conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes "
                    "WHERE schemaname = :s AND indexname = 'ix_scheduled_messages_due'"
                ),
                {"s": schema},
            ).scalar()
        assert where is not None and "WHERE" in where and "'scheduled'" in where
        with engine().begin() as conn:
            command.downgrade(_config("tenant", conn, schema), "t0023_message_media")
            conn.execute(text("SET search_path TO public"))
        with engine().connect() as conn:
            assert conn.execute(text(f"SELECT to_regclass('{schema}.scheduled_messages') IS NULL")).scalar()
    finally:
        with engine().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
