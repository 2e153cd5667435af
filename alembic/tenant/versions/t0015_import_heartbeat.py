"""Import liveness: a heartbeat the running import refreshes, and how often the job was taken over.

A job `running`/`queued` whose advisory lock is free, or whose heartbeat is older than
app.importing.recovery.HEARTBEAT_STALE_S, is dead and resumed automatically (app/importing/recovery.py).
`recoveries` counts those take-overs; while it is non-zero and the job is active, the status says
"retomando após falha".

Revision ID: t0015_import_heartbeat
Revises: t0014
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "t0015_import_heartbeat"
down_revision: str | None = "t0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "import_jobs", sa.Column("recoveries", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("import_jobs", "recoveries")
    op.drop_column("import_jobs", "heartbeat_at")
