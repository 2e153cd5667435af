"""t0020 (channels, consent ledger, outbox columns), t0021 (campaigns), t0025 (campaign lists) and p0007
(channel routes): an empty schema reaches head, the migrated tables match the models column by column, and
the downgrade removes them."""

import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import models.platform
import models.tenant  # noqa: F401  (registers the tables on SQLModel.metadata)
from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant

TABLES = {
    "channels",
    "consent_events",
    "webhook_receipts",
    "messages",
    "conversations",
    "campaigns",
    "campaign_recipients",
    "campaign_lists",
}


def _diff(schema: str) -> list[object]:
    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", None) in TABLES

    with engine().connect() as conn:
        conn.execute(text(f'SET search_path TO "{schema}"'))
        ctx = MigrationContext.configure(
            conn,
            opts={"include_object": include, "compare_type": True, "target_metadata": SQLModel.metadata},
        )
        tenant_tables = [t for t in SQLModel.metadata.sorted_tables if t.schema is None]
        assert {t.name for t in tenant_tables} >= TABLES
        diff = compare_metadata(ctx, SQLModel.metadata)
        conn.execute(text("SET search_path TO public"))
    # The platform tables are compared in their own schema; here only the tenant ones count.
    return [d for d in diff if "platform" not in repr(d)]


def test_t0020_reaches_head_and_matches_the_models(database_url: str) -> None:
    schema = "t_c" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    try:
        assert _diff(schema) == []
    finally:
        with engine().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_t0020_downgrade_removes_the_outbox(database_url: str) -> None:
    schema = "t_c" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), "t0019_user_preferences")  # through t0025
        conn.execute(text("SET search_path TO public"))
    with engine().connect() as conn:
        gone = conn.execute(text(f"SELECT to_regclass('\"{schema}\".channels') IS NULL")).scalar()
        cols = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = 'messages' AND column_name = 'lease_until'"
            ),
            {"s": schema},
        ).scalar()
    assert gone and cols == 0
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_p0007_channel_routes_exists(database_url: str) -> None:
    with engine().connect() as conn:
        assert conn.execute(text("SELECT to_regclass('platform.channel_routes') IS NOT NULL")).scalar()
