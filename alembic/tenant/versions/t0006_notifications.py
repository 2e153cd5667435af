"""Notifications for users (appointment reminders) and the reminder bookkeeping.

`appointments.reminded_at` makes a reminder fire once: the sweep claims due rows with one
`UPDATE ... WHERE reminded_at IS NULL ... RETURNING`, so concurrent sweeps never both send.

Revision ID: t0006
Revises: t0005
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "t0006"
down_revision: str | None = "t0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "reminded_at IS NULL AND done_at IS NULL AND remind_minutes IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("ref_type", sa.String(length=30), nullable=True),
        sa.Column("ref_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_notifications_user_read_created", "notifications", ["user_id", "read_at", "created_at"]
    )
    op.add_column("appointments", sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
    # Appointments already past when this runs are not reminded after the fact.
    op.execute("UPDATE appointments SET reminded_at = now() WHERE starts_at < now() AND reminded_at IS NULL")
    op.create_index(
        "ix_appointments_remind_pending", "appointments", ["starts_at"], postgresql_where=sa.text(_PENDING)
    )


def downgrade() -> None:
    op.drop_index("ix_appointments_remind_pending", table_name="appointments")
    op.drop_column("appointments", "reminded_at")
    op.drop_index("ix_notifications_user_read_created", table_name="notifications")
    op.drop_table("notifications")
