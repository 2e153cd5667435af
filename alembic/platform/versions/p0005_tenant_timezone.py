"""tenant time zone, per-user override (issue 14, item 2)

Every date a person reads is shown in the organisation's zone (tenants.time_zone); a user may override
it (users.time_zone, NULL = the organisation's). Users kept the old column default without ever choosing
it (nothing let them set it), so that default becomes "follow the organisation".

Revision ID: p0005_tenant_timezone
Revises: p0004_ui_sessions
Create Date: 2026-12-03 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "p0005_tenant_timezone"
down_revision: str | None = "p0004_ui_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="America/Sao_Paulo"),
        schema="platform",
    )
    op.alter_column(
        "users", "time_zone", existing_type=sa.String(length=64), nullable=True, schema="platform"
    )
    op.execute("UPDATE platform.users SET time_zone = NULL WHERE time_zone = 'America/Sao_Paulo'")


def downgrade() -> None:
    op.execute("UPDATE platform.users SET time_zone = 'America/Sao_Paulo' WHERE time_zone IS NULL")
    op.alter_column(
        "users", "time_zone", existing_type=sa.String(length=64), nullable=False, schema="platform"
    )
    op.drop_column("tenants", "time_zone", schema="platform")
