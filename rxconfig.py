"""Reflex configuration only. The database is ours (tenants.database + Alembic), not Reflex's."""

import os

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from components.theme import THEME

_port = int(os.environ.get("APP_PORT", "3000"))
_redis = os.environ.get("REDIS_URL") or None

config = rx.Config(
    app_name="app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # Several backends share UI state through Redis when it is configured.
    redis_url=_redis,
    state_manager_mode="redis" if _redis else "disk",
    frontend_port=_port,
    backend_port=_port,
    api_url=os.environ.get("PUBLIC_URL", f"http://localhost:{_port}"),
    deploy_url=os.environ.get("PUBLIC_URL", f"http://localhost:{_port}"),
    default_color_mode="light",
    disable_plugins=[SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", **THEME))],
)
