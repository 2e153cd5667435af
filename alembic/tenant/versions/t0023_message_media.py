"""messages: a partial index on inbound messages whose attachment is still to be fetched from the
provider (issue 18, inbound media). The sweep finds them through it when a fetch's kick was lost; it
holds only the few rows between a webhook and its download.

Revision ID: t0023_message_media
Revises: t0022_customer_words
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0023_message_media"
down_revision: str | None = "t0022_customer_words"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "direction = 'in' AND attachments @> '[{\"status\": \"pending\"}]'::jsonb"


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_messages_media_pending ON messages (created_at) WHERE {PENDING}")


def downgrade() -> None:
    op.execute("DROP INDEX ix_messages_media_pending")
