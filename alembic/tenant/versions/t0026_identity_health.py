"""messages: outbound outcomes per channel in time order, for a Cloud API number's failure rate (issue
19, number health). The health check reads a number's last few hundred outcomes (sent, or failed at
send time or by a later status webhook) backwards from now; without this index it would scan the
channel's whole history on every batch.

Revision ID: t0026_identity_health
Revises: t0025_campaign_lists
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0026_identity_health"
down_revision: str | None = "t0025_campaign_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOME = "coalesce(failed_at, sent_at)"


def upgrade() -> None:
    op.execute(
        f"CREATE INDEX ix_messages_channel_outcome ON messages (channel_id, ({OUTCOME})) "
        f"WHERE direction = 'out' AND {OUTCOME} IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_messages_channel_outcome")
