"""p0008 (WABA id on the Cloud API routes) and t0026 (the index of outbound outcomes per channel): an empty
tenant schema reaches head with the index, the platform has the column, the downgrade removes the index."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def test_p0008_waba_routes(database_url: str) -> None:
    with engine().connect() as conn:
        column = conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = 'platform' "
                "AND table_name = 'channel_routes' AND column_name = 'waba_id'"
            )
        ).scalar()
        index = conn.execute(text("SELECT to_regclass('platform.ix_channel_routes_waba')")).scalar()
    assert column == "character varying" and index is not None


def _index(schema: str) -> str | None:
    with engine().connect() as conn:
        return conn.execute(
            text(
                "SELECT indexdef FROM pg_indexes "
                "WHERE schemaname = :s AND indexname = 'ix_messages_channel_outcome'"
            ),
            {"s": schema},
        ).scalar()


def test_t0026_on_empty_schema_reaches_head_and_downgrades(database_url: str) -> None:
    schema = "t_h" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    try:
        definition = _index(schema)
        assert definition is not None and "COALESCE(failed_at, sent_at)" in definition
        with engine().begin() as conn:
            head = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar()
            assert head == "t0026_identity_health"
            command.downgrade(_config("tenant", conn, schema), "t0025_campaign_lists")
            conn.execute(text("SET search_path TO public"))
        assert _index(schema) is None
    finally:
        with engine().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
