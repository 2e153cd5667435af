"""platform.channel_routes: the shared WhatsApp Cloud webhook URL finds its tenant and channel (issue 18)

Meta posts every number's events to one URL per app; the payload names the phone_number_id. This
table maps it (and the sha256 of the subscription verify token) to the tenant and channel, so the
webhook opens only the right tenant's schema.

Revision ID: p0007_channel_routes
Revises: p0006_first_steps_dismissed
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "p0007_channel_routes"
down_revision: str | None = "p0006_first_steps_dismissed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_routes",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column(
            "tenant_id",
            sa.BigInteger(),
            sa.ForeignKey("platform.tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("verify_token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("provider", "external_id"),
        schema="platform",
    )
    op.create_index("ix_channel_routes_verify", "channel_routes", ["verify_token_hash"], schema="platform")
    op.create_index(
        "ix_channel_routes_tenant", "channel_routes", ["tenant_id", "channel_id"], schema="platform"
    )


def downgrade() -> None:
    op.drop_table("channel_routes", schema="platform")
