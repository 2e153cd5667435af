"""customers: drop the unused source index; the wallet list index covers assigned customers only.

- ix_customers_source (source_key, source) served the per-row source-key probes of a re-import. Since
  t0010 a re-import reads the source's whole map once (app/importing/pipeline.load_source_map, a scan
  filtered on `source`, which this index cannot serve: source_key leads), and nothing else reads it.
  It cost 0.34 s of a 500k-row first import's index rebuild and an entry on every customer write.
- ix_customers_wallet (wallet_id, id) becomes partial (`wallet_id IS NOT NULL`), like the owner list
  indexes (t0007): every wallet filter is `wallet_id IN (...)`, which implies NOT NULL, and the
  ON DELETE SET NULL of a wallet looks up `wallet_id = X`. Customers without a wallet (most imported
  ones) cost nothing to index, and an import without a wallet column no longer rebuilds it (0.44 s
  at 500k).

Revision ID: t0013
Revises: t0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0013"
down_revision: str | None = "t0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_customers_source")
    op.execute("DROP INDEX IF EXISTS ix_customers_wallet")
    op.execute("CREATE INDEX ix_customers_wallet ON customers (wallet_id, id) WHERE wallet_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_customers_wallet")
    op.execute("CREATE INDEX ix_customers_wallet ON customers (wallet_id, id)")
    op.execute(
        "CREATE INDEX ix_customers_source ON customers (source_key, source) WHERE source_key IS NOT NULL"
    )
