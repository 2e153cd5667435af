"""ui_sessions: web UI logins bound to an HttpOnly cookie, with an idle clock (issue 12, item 12)

Revision ID: p0004_ui_sessions
Revises: p0003_signup_confirmation
Create Date: 2026-12-03 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "p0004_ui_sessions"
down_revision: str | None = "p0003_signup_confirmation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("client_token_hash", sa.String(length=64), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["platform.users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("binding_hash"),
        schema="platform",
    )
    op.create_index("ix_platform_ui_sessions_family", "ui_sessions", ["family"], schema="platform")
    op.create_index("ix_platform_ui_sessions_user_id", "ui_sessions", ["user_id"], schema="platform")
    op.create_index(
        "ix_platform_ui_sessions_client_token_hash", "ui_sessions", ["client_token_hash"], schema="platform"
    )


def downgrade() -> None:
    op.drop_table("ui_sessions", schema="platform")
