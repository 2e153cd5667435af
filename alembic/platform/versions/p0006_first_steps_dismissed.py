"""tenants.first_steps_dismissed_at (issue 14, item 11)

The first-steps checklist on Início ticks itself from data; the only thing stored is that an admin
hid it, per organisation.

Revision ID: p0006_first_steps_dismissed
Revises: p0005_tenant_timezone
Create Date: 2026-12-05 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "p0006_first_steps_dismissed"
down_revision: str | None = "p0005_tenant_timezone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("first_steps_dismissed_at", sa.DateTime(timezone=True), nullable=True),
        schema="platform",
    )


def downgrade() -> None:
    op.drop_column("tenants", "first_steps_dismissed_at", schema="platform")
