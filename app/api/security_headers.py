"""Security headers on every HTTP response: the REST API, and (because Reflex mounts its backend and, in
prod, its compiled frontend inside the REST app, see app/app.py) the Reflex port too.

A plain ASGI middleware (not BaseHTTPMiddleware): it only edits the `http.response.start` message, so
streamed responses (CSV exports) and websockets pass through untouched.
"""

from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.settings import get_settings

# What the Reflex frontend needs, checked in Chromium (tests/e2e/test_csp.py):
# - script-src 'unsafe-inline': React Router's prerendered pages hydrate from inline <script> blocks
#   whose content changes with every build, so hashes cannot be pinned in configuration.
# - script-src 'unsafe-eval': Reflex runs `rx.call_script` / `rx.call_function` payloads (the import
#   page's resumable upload) and server-rendered components through eval() in .web/utils/state.js.
# - style-src 'unsafe-inline': Radix/Emotion put computed styles in style attributes and <style> tags.
# - connect-src 'self' plus the public origin: the state websocket and the REST/upload calls go to
#   Reflex's api_url (PUBLIC_URL), which need not be the origin the page was opened on.
CSP_TEMPLATE = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; "
    "connect-src 'self' {connect}; "
    "worker-src 'self' blob:; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI (/api/docs) loads its script and styles from jsDelivr and starts with an inline script.
DOCS_CSP = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


def public_origin() -> str:
    """The origin Reflex's frontend talks to (rxconfig's api_url): PUBLIC_URL, else localhost:APP_PORT."""
    settings = get_settings()
    url = urlsplit(settings.public_url or f"http://localhost:{settings.app_port}")
    return f"{url.scheme}://{url.netloc}"


@lru_cache
def default_csp() -> str:
    origin = public_origin()
    websocket = (
        "wss://" + origin.removeprefix("https://")
        if origin.startswith("https://")
        else ("ws://" + origin.removeprefix("http://"))
    )
    return CSP_TEMPLATE.format(connect=f"{origin} {websocket}")


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers for one response; HSTS only when the app is served over HTTPS."""
    settings = get_settings()
    if scope.get("path", "").startswith("/api/docs"):
        policy = DOCS_CSP
    else:
        policy = settings.content_security_policy or default_csp()
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"content-security-policy", policy.encode("latin-1")),
    ]
    if scope.get("scheme") == "https" or public_origin().startswith("https://"):
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope)
        names = {name for name, _ in extra} | {b"server"}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The app's own values for these names give way to ours; `server` is dropped (the
                # servers themselves are told not to add it: app/cli/, README).
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
