"""Index changes for the import write path.

Placeholder revision: filled in by the import performance change.

Revision ID: t0007
Revises: t0006
"""

from collections.abc import Sequence

revision: str = "t0007"
down_revision: str | None = "t0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
