"""t0027: at head campaign_recipients has no foreign key to campaigns (and matches the model); the
downgrade puts the key back with its cascade."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant
from tests.integration import test_migration_channels as channels

FK = (
    "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
    "AND conrelid = to_regclass(:t) AND confrelid = to_regclass(:c)"
)


def test_t0027_drops_the_recipients_campaign_key_and_the_downgrade_restores_it(
    database_url: str, monkeypatch
) -> None:
    schema = "t_f" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    names = {"t": f"{schema}.campaign_recipients", "c": f"{schema}.campaigns"}
    try:
        monkeypatch.setattr(channels, "TABLES", {"campaign_recipients"})
        assert channels._diff(schema) == []
        with engine().connect() as conn:
            assert conn.execute(text(FK), names).scalar() == 0
        with engine().begin() as conn:
            command.downgrade(_config("tenant", conn, schema), "t0026_identity_health")
            conn.execute(text("SET search_path TO public"))
        with engine().connect() as conn:
            assert conn.execute(text(FK), names).scalar() == 1
    finally:
        with engine().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
