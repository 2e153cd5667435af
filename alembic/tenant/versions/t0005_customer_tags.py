"""Tags in their own table (customer_tags) instead of a text[] column on customers.

Placeholder revision: filled in by the customer_tags change.

Revision ID: t0005
Revises: t0004
"""

from collections.abc import Sequence

revision: str = "t0005"
down_revision: str | None = "t0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
