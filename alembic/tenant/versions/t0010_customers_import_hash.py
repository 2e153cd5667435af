"""customers.import_hash: a fingerprint of the file row a re-import compares before doing any work.

A re-import of the same source (a newer export of the legacy system) is mostly rows that did not change
since the previous version. Each customer an import writes keeps the 64-bit hash of the normalised row
that wrote it; the next import of the source finds the row's customer by its source key and, when the
hashes are equal, knows the row is unchanged without looking its phones/e-mails up or comparing fields
(500k rows: ~540k index probes and an update statement per batch before). No index: it is read only
together with the source key.

Revision ID: t0010
Revises: t0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0010"
down_revision: str | None = "t0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: a catalogue-only change, no table rewrite on a populated tenant.
    op.add_column("customers", sa.Column("import_hash", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "import_hash")
