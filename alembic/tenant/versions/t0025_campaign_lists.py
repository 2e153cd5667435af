"""campaign_lists; campaigns.attachments; campaign_recipients.generation (issue 19, second part)

An uploaded list of customers matched once (the audience of a campaign can be "these customers"), one
attachment per campaign sent with every message, and a retry generation per recipient so a retried send
gets a new idempotency key.

Revision ID: t0025_campaign_lists
Revises: t0024_scheduled_messages
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "t0025_campaign_lists"
down_revision: str | None = "t0024_scheduled_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_lists",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("customer_ids", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("counts", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("problems", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.add_column(
        "campaigns", sa.Column("attachments", postgresql.JSONB(), server_default="[]", nullable=False)
    )
    op.add_column(
        "campaign_recipients", sa.Column("generation", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("campaign_recipients", "generation")
    op.drop_column("campaigns", "attachments")
    op.drop_table("campaign_lists")
