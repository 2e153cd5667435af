"""platform.channel_routes.waba_id: WABA-level webhooks find their channels (issue 19, number health)

Meta posts `phone_number_quality_update` (and other account-level changes) on the WABA's entry
(entry.id = WABA id) without the phone_number_id the routes are keyed by. The column names the WABA
of each Cloud API number's route; existing routes are filled from their channel's config.

Revision ID: p0008_waba_routes
Revises: p0007_channel_routes
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "p0008_waba_routes"
down_revision: str | None = "p0007_channel_routes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("channel_routes", sa.Column("waba_id", sa.String(length=64), nullable=True), schema="platform")
    op.create_index(
        "ix_channel_routes_waba",
        "channel_routes",
        ["provider", "waba_id"],
        schema="platform",
        postgresql_where=sa.text("waba_id IS NOT NULL"),
    )
    bind = op.get_bind()
    tenants = bind.execute(
        sa.text("SELECT id, schema_name FROM platform.tenants WHERE schema_name IS NOT NULL")
    ).all()
    for tenant_id, schema in tenants:
        # Schema names are ours (t_<base36>), never user input; a tenant not yet at t0020 has no channels.
        if bind.execute(sa.text("SELECT to_regclass(:t)"), {"t": f'"{schema}".channels'}).scalar() is None:
            continue
        bind.execute(
            sa.text(
                f'UPDATE platform.channel_routes r SET waba_id = c.config->>\'waba_id\' FROM "{schema}".channels c '
                "WHERE r.tenant_id = :tid AND r.channel_id = c.id AND r.provider = 'whatsapp_cloud'"
            ),
            {"tid": tenant_id},
        )


def downgrade() -> None:
    op.drop_index("ix_channel_routes_waba", table_name="channel_routes", schema="platform")
    op.drop_column("channel_routes", "waba_id", schema="platform")
