"""scheduled_messages: single, follow-up and recurring sends to one customer (issue 19)

The sweep reads due rows through the partial index of scheduled rows, so it costs one index probe when
nothing is due however many sent or cancelled rows accumulate.

Revision ID: t0024_scheduled_messages
Revises: t0023_message_media
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "t0024_scheduled_messages"
down_revision: str | None = "t0023_message_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduled_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("medium", sa.String(length=10), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("template_id", sa.BigInteger(), nullable=True),
        sa.Column("body", sa.String(), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("html", sa.String(), nullable=True),
        sa.Column("variables", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("local_start", sa.DateTime(timezone=False), nullable=False),
        sa.Column("local_due", sa.DateTime(timezone=False), nullable=False),
        sa.Column("send_at", TS, nullable=False),
        sa.Column("recurrence", postgresql.JSONB(), nullable=True),
        sa.Column("occurrence", sa.Integer(), server_default="0", nullable=False),
        sa.Column("if_no_reply", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("anchor_message_id", sa.BigInteger(), nullable=True),
        sa.Column("anchor_at", TS, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("last_message_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.text("now()"), nullable=False),
    )
    op.create_index(
        "ix_scheduled_messages_due",
        "scheduled_messages",
        ["send_at"],
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index("ix_scheduled_messages_customer", "scheduled_messages", ["customer_id", "send_at"])


def downgrade() -> None:
    op.drop_table("scheduled_messages")
