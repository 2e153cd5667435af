"""signup confirmation: tenants.confirmed_at

A public sign-up now stays `unconfirmed` (a status value, no schema change) until its admin opens the
e-mailed link; `confirmed_at` records when. Tenants that exist already were usable, so they count as
confirmed when they were created.

Revision ID: p0003_signup_confirmation
Revises: p0001
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "p0003_signup_confirmation"
down_revision: str | None = "p0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants", sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True), schema="platform"
    )
    op.execute("UPDATE platform.tenants SET confirmed_at = created_at WHERE status <> 'provisioning'")
    # The scheduled purge looks for old unconfirmed sign-ups; few rows ever match.
    op.create_index(
        "ix_tenants_unconfirmed",
        "tenants",
        ["created_at"],
        schema="platform",
        postgresql_where=sa.text("status = 'unconfirmed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tenants_unconfirmed", table_name="tenants", schema="platform")
    op.drop_column("tenants", "confirmed_at", schema="platform")
