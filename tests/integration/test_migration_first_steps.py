"""p0006 adds platform.tenants.first_steps_dismissed_at on an empty platform schema and removes it."""

import uuid

from alembic import command
from sqlalchemy import create_engine, text

from tenants.migrations import _config, ensure_extensions


def test_p0006_up_and_down_on_an_empty_database(database_url: str) -> None:
    name = "mig_" + uuid.uuid4().hex[:8]
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = database_url.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    try:
        column = (
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'platform' "
            "AND table_name = 'tenants' AND column_name = 'first_steps_dismissed_at'"
        )
        with engine.begin() as conn:
            ensure_extensions(conn)
            command.upgrade(_config("platform", conn), "p0006_first_steps_dismissed")
        with engine.connect() as conn:
            assert conn.execute(text(column)).scalar() == 1
        with engine.begin() as conn:
            command.downgrade(_config("platform", conn), "p0005_tenant_timezone")
        with engine.connect() as conn:
            assert conn.execute(text(column)).scalar() == 0
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
