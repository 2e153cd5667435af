"""Agents' and managers' lists sorted by status: a partial (owner_id, status, id) index.

The four (owner_id, <sort column>, id) indexes covered every sortable column but status. An agent's
list sorted by status walked (status, id) and dropped the 19 of 20 rows owned by someone else; with
one more filter (a tag, a date, a plan: 1 row in 400) that was 20-30k rows, 8-14 ms a page. Partial
like its siblings (t0007): unassigned customers are not in it. Building it on 500k customers takes
about 0.6-1.1 s (21 MB), which the bulk import pays once when it rebuilds the indexes.

Revision ID: t0008
Revises: t0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "t0008"
down_revision: str | None = "t0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_customers_owner_status",
        "customers",
        ["owner_id", "status", "id"],
        postgresql_where="owner_id IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_customers_owner_status", table_name="customers")
