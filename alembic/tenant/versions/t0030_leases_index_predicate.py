"""ix_messages_leases only for rows that have a lease: `status = 'reserved' AND lease_until IS NOT NULL`
(issue 19, outbox throughput).

With `status = 'reserved'` alone, any statement guarded by that status could be answered by a scan of the
whole partial index, which PostgreSQL judged tiny (few live reserved rows) but which holds an entry for
every version ever reserved until vacuum: the outbox's claim (rows found by id, guarded by status) read
100,000 dead entries per chunk late in a run. The reaper's `lease_until < now()` implies the new
condition, so it keeps the index; the claim, which does not compare the lease, goes by primary key.

Revision ID: t0030_leases_index_predicate
Revises: t0029_drop_ix_provider_id
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "t0030_leases_index_predicate"
down_revision: str | None = "t0029_drop_ix_provider_id"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_messages_leases", table_name="messages")
    op.create_index(
        "ix_messages_leases",
        "messages",
        ["lease_until"],
        postgresql_where=sa.text("status = 'reserved' AND lease_until IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_leases", table_name="messages")
    op.create_index(
        "ix_messages_leases", "messages", ["lease_until"], postgresql_where=sa.text("status = 'reserved'")
    )
