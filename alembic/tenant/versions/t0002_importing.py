"""importing: reserved revision (filled by the importing work).

Revision ID: t0002
Revises: t0001
"""

from collections.abc import Sequence

revision: str = "t0002"
down_revision: str | None = "t0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
