"""Sales Kanban (issue 17): stage settings, archived pipelines/stages, gap-ordered card positions,
time-in-stage and loss reason on cards, and the stage_history table.

Positions become bigint and are respread as rank × 65,536 per column (they were dense 0..n-1), so
every later move writes one card row (app/crm/kanban/ordering.py). A card's stage_entered_at starts
at its last update: the best estimate the old rows carry.

Revision ID: t0016_kanban
Revises: t0015_import_heartbeat
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "t0016_kanban"
down_revision: str | None = "t0015_import_heartbeat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STEP = 65_536


def upgrade() -> None:
    op.add_column("pipelines", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("stages", sa.Column("color", sa.String(20), nullable=False, server_default="gray"))
    op.add_column("stages", sa.Column("wip_limit", sa.Integer(), nullable=True))
    op.add_column(
        "stages",
        sa.Column("required_fields", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
    )
    op.add_column("stages", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("opportunities", "position", type_=sa.BigInteger(), existing_nullable=False)
    op.add_column("opportunities", sa.Column("loss_reason", sa.String(300), nullable=True))
    op.add_column(
        "opportunities",
        sa.Column(
            "stage_entered_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
    )
    op.execute(
        "UPDATE opportunities o SET position = r.rank * "
        f"{STEP}, stage_entered_at = o.updated_at FROM ("
        "SELECT id, row_number() OVER (PARTITION BY stage_id ORDER BY position, id) AS rank "
        "FROM opportunities) r WHERE r.id = o.id"
    )
    op.create_table(
        "stage_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("opportunity_id", sa.BigInteger(), nullable=False),
        sa.Column("pipeline_id", sa.BigInteger(), nullable=False),
        sa.Column("from_stage_id", sa.BigInteger(), nullable=True),
        sa.Column("to_stage_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("moved_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("seconds_in_previous", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["opportunity_id"], ["opportunities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stage_history_opportunity", "stage_history", ["opportunity_id", "id"])
    op.create_index("ix_stage_history_pipeline_at", "stage_history", ["pipeline_id", "moved_at"])


def downgrade() -> None:
    op.drop_index("ix_stage_history_pipeline_at", table_name="stage_history")
    op.drop_index("ix_stage_history_opportunity", table_name="stage_history")
    op.drop_table("stage_history")
    # Back to dense 0..n-1 positions that fit the old integer column.
    op.execute(
        "UPDATE opportunities o SET position = r.rank - 1 FROM ("
        "SELECT id, row_number() OVER (PARTITION BY stage_id ORDER BY position, id) AS rank "
        "FROM opportunities) r WHERE r.id = o.id"
    )
    op.drop_column("opportunities", "stage_entered_at")
    op.drop_column("opportunities", "loss_reason")
    op.alter_column("opportunities", "position", type_=sa.Integer(), existing_nullable=False)
    op.drop_column("stages", "archived_at")
    op.drop_column("stages", "required_fields")
    op.drop_column("stages", "wip_limit")
    op.drop_column("stages", "color")
    op.drop_column("pipelines", "archived_at")
