"""Notifications for users (appointment reminders) and the reminder bookkeeping.

Placeholder revision: filled in by the reminders change.

Revision ID: t0006
Revises: t0005
"""

from collections.abc import Sequence

revision: str = "t0006"
down_revision: str | None = "t0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
