"""campaigns, campaign_recipients; messages.campaign_id (issue 19)

Also the index of sends per channel over time (e-mail reputation, monitoring). A campaign's audience is
materialised once (unique per campaign and customer) with the address, the
sending identity and the variables frozen; the feeder moves pending recipients into the outbox through a
partial index of pending rows. Counters live on the campaign row, kept incrementally.

Revision ID: t0021_campaigns
Revises: t0020_channels
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "t0021_campaigns"
down_revision: str | None = "t0020_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("medium", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("assignment", sa.String(length=20), nullable=False),
        sa.Column("template_id", sa.BigInteger(), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("body", sa.String(), nullable=True),
        sa.Column("variables", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("audience", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("schedule_at", TS, nullable=True),
        sa.Column("window", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("counts", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.text("now()"), nullable=False),
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=320, collation="C"), nullable=True),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("skip_reason", sa.String(length=30), nullable=True),
        sa.Column("variables", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("replied_at", TS, nullable=True),
    )
    op.create_index(
        "uq_campaign_recipients_customer", "campaign_recipients", ["campaign_id", "customer_id"], unique=True
    )
    op.create_index(
        "ix_campaign_recipients_pending",
        "campaign_recipients",
        ["campaign_id", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_campaign_recipients_message",
        "campaign_recipients",
        ["message_id"],
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
    op.add_column("messages", sa.Column("campaign_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_messages_campaign", "messages", ["campaign_id"], postgresql_where=sa.text("campaign_id IS NOT NULL")
    )
    op.create_index("ix_messages_uncertain", "messages", ["id"], postgresql_where=sa.text("status = 'uncertain'"))
    op.create_index(
        "ix_messages_channel_sent",
        "messages",
        ["channel_id", "sent_at"],
        postgresql_where=sa.text("sent_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_channel_sent", table_name="messages")
    op.drop_index("ix_messages_uncertain", table_name="messages")
    op.drop_index("ix_messages_campaign", table_name="messages")
    op.drop_column("messages", "campaign_id")
    op.drop_table("campaign_recipients")
    op.drop_table("campaigns")
