"""t0006 adds notifications and appointments.reminded_at (past appointments count as reminded) and
removes them again."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def _rows(schema: str, sql: str) -> list[tuple]:
    with engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql.replace("{s}", f'"{schema}"')))]


def test_t0006_up_and_down(database_url: str) -> None:
    schema = "t_n" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema, "t0005")
    with engine().begin() as conn:
        conn.execute(
            text(
                f'INSERT INTO "{schema}".appointments '
                "(id, title, description, kind, starts_at, time_zone, remind_minutes) VALUES "
                "(1, 'passado', '', 'call', now() - interval '1 day', 'America/Sao_Paulo', 15), "
                "(2, 'futuro', '', 'call', now() + interval '1 day', 'America/Sao_Paulo', 15)"
            )
        )
    upgrade_tenant(schema, "t0006")
    assert _rows(schema, "SELECT id, reminded_at IS NOT NULL FROM {s}.appointments ORDER BY id") == [
        (1, True),
        (2, False),
    ]
    indexes = {r[0] for r in _rows(schema, f"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema}'")}
    assert {"ix_notifications_user_read_created", "ix_appointments_remind_pending"} <= indexes
    with engine().begin() as conn:
        command.downgrade(_config("tenant", conn, schema), "t0005")
        conn.execute(text("SET search_path TO public"))
    assert _rows(schema, f"SELECT to_regclass('\"{schema}\".notifications') IS NULL") == [(True,)]
    columns = _rows(
        schema,
        f"SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}' "
        "AND table_name = 'appointments' AND column_name = 'reminded_at'",
    )
    assert columns == []
    with engine().begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
