"""channels, consent ledger, webhook receipts; the outbox columns of messages (issue 18)

Sending identities per tenant with encrypted secrets, the append-only consent ledger (LGPD opt-in /
opt-out with evidence, kept through an erasure by the address hash), provider event ids already
applied (replayed webhooks are ignored), and on messages what the outbox needs: channel, recipient,
frozen variables, idempotency key, lease and attempt bookkeeping, delivery timestamps. The outbox is
read through a partial index of queued outbound rows only.

Revision ID: t0020_channels
Revises: t0019_user_preferences
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "t0020_channels"
down_revision: str | None = "t0019_user_preferences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("medium", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_detail", sa.String(length=500), nullable=True),
        sa.Column("status_at", TS, nullable=True),
        sa.Column("is_default", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("owner_user_id", sa.BigInteger(), nullable=True),
        sa.Column("config", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("secrets", sa.Text(), server_default="", nullable=False),
        sa.Column("state", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.text("now()"), nullable=False),
    )
    op.create_index(
        "uq_channels_default",
        "channels",
        ["medium"],
        unique=True,
        postgresql_where=sa.text("is_default AND deleted_at IS NULL"),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "customer_id", sa.BigInteger(), sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("medium", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=320, collation="C"), nullable=True),
        sa.Column("address_hash", sa.String(length=64, collation="C"), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("legal_basis", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("evidence", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("ix_consent_events_address", "consent_events", ["medium", "address_hash", "id"])
    op.create_index("ix_consent_events_customer", "consent_events", ["customer_id", "id"])
    op.create_table(
        "webhook_receipts",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id"),
    )

    op.add_column(
        "conversations",
        sa.Column(
            "channel_id", sa.BigInteger(), sa.ForeignKey("channels.id", ondelete="SET NULL"), nullable=True
        ),
    )
    op.add_column("conversations", sa.Column("last_inbound_at", TS, nullable=True))
    op.add_column(
        "conversations", sa.Column("unread_count", sa.Integer(), server_default="0", nullable=False)
    )

    op.add_column("messages", sa.Column("error_code", sa.String(length=40), nullable=True))
    op.add_column(
        "messages",
        sa.Column(
            "channel_id", sa.BigInteger(), sa.ForeignKey("channels.id", ondelete="SET NULL"), nullable=True
        ),
    )
    op.add_column("messages", sa.Column("kind", sa.String(length=20), server_default="text", nullable=False))
    op.add_column("messages", sa.Column("to_address", sa.String(length=320, collation="C"), nullable=True))
    op.add_column("messages", sa.Column("subject", sa.String(length=300), nullable=True))
    op.add_column("messages", sa.Column("html", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("template_id", sa.BigInteger(), nullable=True))
    op.add_column("messages", sa.Column("variables", postgresql.JSONB(), server_default="{}", nullable=False))
    op.add_column("messages", sa.Column("idempotency_key", sa.String(length=100), nullable=True))
    op.add_column("messages", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    for name in ("next_attempt_at", "lease_until", "sent_at", "delivered_at", "read_at", "failed_at"):
        op.add_column("messages", sa.Column(name, TS, nullable=True))
    op.add_column("messages", sa.Column("worker_id", sa.String(length=80), nullable=True))
    op.create_index(
        "ix_messages_outbox",
        "messages",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'queued' AND direction = 'out'"),
    )
    op.create_index(
        "ix_messages_leases", "messages", ["lease_until"], postgresql_where=sa.text("status = 'reserved'")
    )
    op.create_index(
        "uq_messages_idempotency",
        "messages",
        ["idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "uq_messages_channel_provider_id",
        "messages",
        ["channel_id", "provider_message_id", "direction"],
        unique=True,
        postgresql_where=sa.text("provider_message_id IS NOT NULL AND channel_id IS NOT NULL"),
    )


def downgrade() -> None:
    for index in ("uq_messages_channel_provider_id", "uq_messages_idempotency", "ix_messages_leases"):
        op.drop_index(index, table_name="messages")
    op.drop_index("ix_messages_outbox", table_name="messages")
    for name in (
        "worker_id",
        "failed_at",
        "read_at",
        "delivered_at",
        "sent_at",
        "lease_until",
        "next_attempt_at",
        "attempts",
        "idempotency_key",
        "variables",
        "template_id",
        "html",
        "subject",
        "to_address",
        "kind",
        "channel_id",
        "error_code",
    ):
        op.drop_column("messages", name)
    for name in ("unread_count", "last_inbound_at", "channel_id"):
        op.drop_column("conversations", name)
    op.drop_table("webhook_receipts")
    op.drop_table("consent_events")
    op.drop_table("channels")
