"""ASGI guard in front of Reflex's websocket (`/_event`): Origin and browser binding at the handshake.

Reflex sends a tab's whole state as soon as its websocket connects, before any page guard runs, so a
copied client token must be refused here, not only on the next event. Cross-site pages are refused by
their Origin (cross-site websocket hijacking); clients that send no Origin are not browsers and gain
nothing from the victim's cookies.
"""

import logging
from collections.abc import Mapping
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth import ui_sessions
from app.settings import get_settings
from tenants.database import platform_session

log = logging.getLogger(__name__)

EVENT_PATH = "/_event"


def _handshake_allowed(token: str, cookies: Mapping[str, str]) -> bool:
    with platform_session() as db:
        return ui_sessions.handshake_allowed(db, token, cookies)


class SocketGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("websocket", "http") and scope.get("path", "").startswith(EVENT_PATH):
            reason = await self._refusal(scope)
            if reason is not None:
                log.warning("websocket handshake refused: %s", reason)
                await _refuse(scope, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refusal(scope: Scope) -> str | None:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            headers[raw_name.decode("latin-1").lower()] = raw_value.decode("latin-1")
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() != get_settings().public_origin:
            return "origin"
        tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
        if tokens:
            cookies = ui_sessions.parse_cookies(headers.get("cookie"))
            if not await run_in_threadpool(_handshake_allowed, tokens[0], cookies):
                return "binding"
        return None


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting makes the server answer the upgrade with 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"forbidden"})


def socket_guard(app: ASGIApp) -> ASGIApp:
    """Reflex api_transformer: wrap the backend's ASGI app."""
    return SocketGuard(app)
