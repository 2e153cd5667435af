"""t0023 adds the partial index of inbound messages whose media is still to be fetched, and removes it."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def _index(schema: str) -> object:
    with engine().connect() as conn:
        return conn.execute(
            text(
                "SELECT indexdef FROM pg_indexes "
                "WHERE schemaname = :s AND indexname = 'ix_messages_media_pending'"
            ),
            {"s": schema},
        ).scalar()


def test_t0023_up_and_down(database_url: str) -> None:
    schema = "t_m" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0021_campaigns")
    assert _index(schema) is None
    upgrade_tenant(schema, "t0023_message_media")
    definition = str(_index(schema))
    assert "WHERE" in definition and "pending" in definition and "(created_at)" in definition
    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), "t0022_customer_words")
        conn.execute(text("SET search_path TO public"))
    assert _index(schema) is None
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
