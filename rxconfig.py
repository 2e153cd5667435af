"""Reflex configuration only. The database is ours (tenants.database + Alembic), not Reflex's."""

import os
from urllib.parse import urlsplit

import reflex as rx
from reflex.constants import StateManagerMode
from reflex.plugins.sitemap import SitemapPlugin

from components.theme import THEME

_port = int(os.environ.get("APP_PORT", "3000"))
_redis = os.environ.get("REDIS_URL") or None
_public_url = os.environ.get("PUBLIC_URL") or f"http://localhost:{_port}"
_public_origin = "{0.scheme}://{0.netloc}".format(urlsplit(_public_url)).lower()

config = rx.Config(
    app_name="app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # Several backends share UI state through Redis when it is configured.
    redis_url=_redis,
    state_manager_mode=StateManagerMode.REDIS if _redis else StateManagerMode.DISK,
    frontend_port=_port,
    backend_port=_port,
    api_url=_public_url,
    deploy_url=_public_url,
    # Socket.IO refuses websocket handshakes from other origins (cross-site websocket hijacking);
    # app/security/ui_socket.py checks the same before Reflex sees the connection.
    cors_allowed_origins=[_public_origin],
    default_color_mode="light",
    disable_plugins=[SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(appearance="inherit", **THEME))],
)
