"""campaign_recipients without the foreign key to campaigns (issue 19: materialise 500k recipients ≤ 5 s).

Materialising a campaign inserts every recipient in one `INSERT … SELECT`; the foreign key checked each
row against `campaigns` (500,000 `RI_FKey_check` calls, a quarter of the statement: docs/benchmarks.md).
The only writer is `app.campaigns.audience.materialise`, which inserts the recipients of the campaign it
has just created in the same transaction, and campaigns are never deleted (cancelled, archived with the
tenant's schema), so the key guarded nothing the code can break.

Revision ID: t0027_recipients_without_fk
Revises: t0026_identity_health
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0027_recipients_without_fk"
down_revision: str | None = "t0026_identity_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE campaign_recipients DROP CONSTRAINT IF EXISTS campaign_recipients_campaign_id_fkey")


def downgrade() -> None:
    op.create_foreign_key(
        "campaign_recipients_campaign_id_fkey",
        "campaign_recipients",
        "campaigns",
        ["campaign_id"],
        ["id"],
        ondelete="CASCADE",
    )
