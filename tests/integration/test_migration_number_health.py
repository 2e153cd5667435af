"""p0008 (WABA id on the Cloud API routes) and t0026 (the index of outbound outcomes per channel): an empty
tenant schema reaches head with the index, the platform has the column, the downgrade removes the index."""

import uuid

from alembic import command
from sqlalchemy import text

from tenants.database import engine
from tenants.migrations import _config, upgrade_tenant


def test_p0008_waba_routes(database_url: str) -> None:
    with engine().connect() as conn:
        column = conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = 'platform' "
                "AND table_name = 'channel_routes' AND column_name = 'waba_id'"
            )
        ).scalar()
        index = conn.execute(text("SELECT to_regclass('platform.ix_channel_routes_waba')")).scalar()
    assert column == "character varying" and index is not None


def _index(schema: str) -> str | None:
    with engine().connect() as conn:
        return conn.execute(
            text(
                "SELECT indexdef FROM pg_indexes "
                "WHERE schemaname = :s AND indexname = 'ix_messages_channel_outcome'"
            ),
            {"s": schema},
        ).scalar()


def test_t0026_on_empty_schema_reaches_head_and_downgrades(database_url: str) -> None:
    schema = "t_h" + uuid.uuid4().hex[:8]
    upgrade_tenant(schema)
    try:
        definition = _index(schema)
        assert definition is not None and "COALESCE(failed_at, sent_at)" in definition
        with engine().begin() as conn:
            head = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar()
            assert head == "t0030_leases_index_predicate"  # the tree's head
            command.downgrade(_config("tenant", conn, schema), "t0025_campaign_lists")
            conn.execute(text("SET search_path TO public"))
        assert _index(schema) is None
    finally:
        with engine().begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_p0008_fills_existing_routes_from_their_channels(tenant) -> None:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from models.platform import ChannelRoute
    from tenants.database import platform_session
    from tenants.migrations import upgrade_platform
    from tests.integration.messaging.whatsapp_support import add_channel

    channel_id = add_channel(
        tenant.schema,
        "whatsapp_cloud",
        {
            "phone_number_id": "p0008-" + uuid.uuid4().hex[:8],
            "waba_id": "waba-p0008",
            "api_base_url": "http://x",
        },
        {"access_token": "t", "app_secret": "s", "verify_token": "v"},
    )
    with platform_session() as db:
        db.add(
            ChannelRoute(
                provider="whatsapp_cloud",
                external_id=f"p0008-{channel_id}",
                tenant_id=tenant.id,
                channel_id=channel_id,
            )
        )
        db.commit()
    with engine().begin() as conn:
        command.downgrade(_config("platform", conn), "p0007_channel_routes")
    upgrade_platform()
    with platform_session() as db:
        route = db.exec(select(ChannelRoute).where(ChannelRoute.external_id == f"p0008-{channel_id}")).one()
    assert route.waba_id == "waba-p0008"
