"""messages.claimed_at: when a worker claimed the row for its provider call (issue 19, the reaper's evidence).

The outbox's reaper gives a Cloud API send that never got a status back to the queue only once a status
arrived for a send claimed at or after it (`app.messaging.outbox.reap`). `updated_at` moves with every mark
and status, so the claim keeps its own time. Nullable, no default: adding it rewrites nothing.

Revision ID: t0028_messages_claimed_at
Revises: t0027_recipients_without_fk
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "t0028_messages_claimed_at"
down_revision: str | None = "t0027_recipients_without_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "claimed_at")
