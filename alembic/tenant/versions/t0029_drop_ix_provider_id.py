"""Drop ix_messages_provider_id: every lookup by provider id also names the channel and direction, which
`uq_messages_channel_provider_id` serves (issue 19, outbox throughput).

The plain index held every version of every message, NULL ids included: each outbox step (reserve,
claim, mark) wrote an entry into it that no query read.

Revision ID: t0029_drop_ix_provider_id
Revises: t0028_messages_claimed_at
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0029_drop_ix_provider_id"
down_revision: str | None = "t0028_messages_claimed_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_messages_provider_id", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_provider_id", "messages", ["provider_message_id"], unique=False)
