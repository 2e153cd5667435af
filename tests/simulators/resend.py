"""A Resend HTTP simulator: `POST /emails` as published, and Svix-signed webhooks sent back to the app.

Contract followed (https://resend.com/docs/api-reference/emails/send-email, /errors, /introduction
rate limits and idempotency keys, https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests):
- Auth: `Authorization: Bearer <api key>`; missing → 401 `missing_api_key`, unknown → 403
  `invalid_api_key`. Errors are `{"statusCode", "message", "name"}` as JSON.
- Body: JSON with `from` ("a@b" or "Name <a@b>"), `to` (string or list, 1-50), `subject`, `html`
  and/or `text`, optional `cc`, `bcc`, `reply_to`, `headers` (object of strings), `attachments`
  ([{filename, content (base64) | path, content_type}]), `tags` ([{name, value}] of [A-Za-z0-9_-],
  256 at most). Missing field → 422 `missing_required_field`; a bad `from` → 422
  `invalid_from_address`; bad attachment → 422 `invalid_attachment`; any other bad shape → 422
  `validation_error`; a body that is not JSON → 400 `validation_error`. Success → 200 `{"id": uuid}`.
- `Idempotency-Key` (1-256 characters, else 400 `invalid_idempotency_key`): the same key with the same
  body answers the first response again (same id, nothing sent twice); with a different body → 409
  `invalid_idempotent_request`. Keys are kept for the simulator's life (Resend: 24 hours).
- Rate limit: `rate_limit(n)` makes the next n requests answer 429 `rate_limit_exceeded` with
  `ratelimit-limit`, `ratelimit-remaining: 0`, `ratelimit-reset` and `retry-after` headers (seconds).
- Faults: `fail(status)` answers 500 `application_error` (or the given status) to every request;
  `hang(seconds)` holds each request that long first; `heal()` ends both.
- Webhooks: `post_webhook(url, secret, type, data)` POSTs `{"type", "created_at", "data"}` signed the
  Svix way: headers `svix-id`, `svix-timestamp` (unix seconds), `svix-signature: v1,<base64
  HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed with base64-decode(secret without "whsec_")>`.
  `email_event(email_id, type)` builds `data` from what was sent under that id.

Not implemented: batch sends, scheduling, React bodies, templates, retrieving/cancelling e-mails,
domains, and Resend's real rate-limit accounting (only the forced 429s above).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_NAMED = re.compile(r"^(?P<name>[^<>]*)<(?P<addr>[^<>]+)>$")
_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _error(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"statusCode": status, "message": message, "name": name}, status, headers=headers)


def _valid_from(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    m = _NAMED.match(value.strip())
    return bool(_ADDRESS.match(m.group("addr").strip() if m else value.strip()))


def svix_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass
class Sent:
    id: str
    api_key: str
    body: dict[str, Any]
    idempotency_key: str | None


class ResendSimulator:
    def __init__(self, api_keys: set[str] | None = None) -> None:
        self.api_keys = set(api_keys or {"re_test_key"})
        self.sent: list[Sent] = []
        self.requests: list[dict[str, Any]] = []  # every request: method, path, headers, body
        self._idempotent: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._rate_limited = 0
        self.retry_after = 2
        self.fail_status: int | None = None
        self.hang_s = 0.0
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.app = Starlette(routes=[Route("/emails", self._send, methods=["POST"])])

    # -------------------------------------------------------- lifecycle and switches
    def start(self) -> ResendSimulator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="resend-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 5
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("Resend simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.heal()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def rate_limit(self, requests: int = 1, retry_after: int = 2) -> None:
        self._rate_limited, self.retry_after = requests, retry_after

    def fail(self, status: int = 500) -> None:
        self.fail_status = status

    def hang(self, seconds: float) -> None:
        self.hang_s = seconds

    def heal(self) -> None:
        self.fail_status, self.hang_s, self._rate_limited = None, 0.0, 0

    # -------------------------------------------------------- POST /emails
    async def _send(self, request: Request) -> JSONResponse:
        raw = await request.body()
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "headers": dict(request.headers),
                "body": raw,
            }
        )
        if self.hang_s:
            import asyncio

            await asyncio.sleep(self.hang_s)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _error(401, "missing_api_key", "Missing API key in the authorization header.")
        api_key = auth[7:].strip()
        if api_key not in self.api_keys:
            return _error(403, "invalid_api_key", "API key is invalid.")
        if self._rate_limited > 0:
            self._rate_limited -= 1
            reset = str(self.retry_after)
            headers = {
                "ratelimit-limit": "2",
                "ratelimit-remaining": "0",
                "ratelimit-reset": reset,
                "retry-after": reset,
            }
            return _error(
                429,
                "rate_limit_exceeded",
                "Too many requests. You can only make 2 requests per second.",
                headers,
            )
        if self.fail_status is not None:
            return _error(self.fail_status, "application_error", "An unexpected error occurred.")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "validation_error", "Invalid JSON body.")
        if not isinstance(body, dict):
            return _error(422, "validation_error", "The body must be a JSON object.")
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 256:
            return _error(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
        problem = self._invalid(body)
        if problem is not None:
            return problem
        with self._lock:
            if key is not None and (api_key, key) in self._idempotent:
                first_id, first_body = self._idempotent[(api_key, key)]
                if first_body != body:
                    return _error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different request payload.",
                    )
                return JSONResponse({"id": first_id})
            email_id = str(uuid.uuid4())
            self.sent.append(Sent(email_id, api_key, body, key))
            if key is not None:
                self._idempotent[(api_key, key)] = (email_id, body)
        return JSONResponse({"id": email_id})

    @staticmethod
    def _invalid(body: dict[str, Any]) -> JSONResponse | None:
        for name in ("from", "to", "subject"):
            if name not in body or body[name] in (None, "", []):
                return _error(422, "missing_required_field", f"Missing `{name}` field.")
        if not _valid_from(body["from"]):
            return _error(
                422,
                "invalid_from_address",
                (
                    "Invalid `from` field. The email address needs to follow the `email@example.com` "
                    "or `Name <email@example.com>` format."
                ),
            )
        to = body["to"] if isinstance(body["to"], list) else [body["to"]]
        if len(to) > 50 or not all(isinstance(a, str) and _ADDRESS.match(a) for a in to):
            return _error(422, "validation_error", "Invalid `to` field.")
        if not isinstance(body["subject"], str):
            return _error(422, "validation_error", "Invalid `subject` field.")
        if not any(isinstance(body.get(k), str) for k in ("html", "text")):
            return _error(422, "missing_required_field", "Missing `html` or `text` field.")
        headers = body.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            return _error(422, "validation_error", "Invalid `headers` field.")
        for att in body.get("attachments", []) or []:
            if not isinstance(att, dict) or not (att.get("content") or att.get("path")):
                return _error(422, "invalid_attachment", "Attachment must have either a `content` or `path`.")
            if att.get("content"):
                try:
                    base64.b64decode(att["content"], validate=True)
                except (binascii.Error, TypeError):
                    return _error(422, "invalid_attachment", "Attachment content must be base64.")
        for tag in body.get("tags", []) or []:
            if not (
                isinstance(tag, dict)
                and _TAG.match(str(tag.get("name", "")))
                and ("value" not in tag or _TAG.match(str(tag["value"])))
            ):
                return _error(
                    422,
                    "validation_error",
                    "Tags should only contain ASCII letters, numbers, underscores, or dashes.",
                )
        return None

    # -------------------------------------------------------- webhooks back to the app
    def by_id(self, email_id: str) -> Sent:
        return next(s for s in self.sent if s.id == email_id)

    def email_event(self, email_id: str, event_type: str, **extra: Any) -> dict[str, Any]:
        """`data` of an `email.*` event about a sent e-mail, as Resend's webhook payloads carry it."""
        sent = self.by_id(email_id)
        to = sent.body["to"] if isinstance(sent.body["to"], list) else [sent.body["to"]]
        data: dict[str, Any] = {
            "created_at": datetime.now(UTC).isoformat(),
            "email_id": email_id,
            "from": sent.body["from"],
            "to": to,
            "subject": sent.body["subject"],
            "tags": {t["name"]: t.get("value", "") for t in sent.body.get("tags", [])},
        }
        if event_type == "email.bounced":
            data["bounce"] = {
                "message": "The recipient's email provider sent a hard bounce message.",
                "subType": "General",
                "type": "Permanent",
            }
        if event_type == "email.clicked":
            data["click"] = {
                "ipAddress": "203.0.113.9",
                "link": "https://loja.example/oferta",
                "timestamp": datetime.now(UTC).isoformat(),
                "userAgent": "Mozilla/5.0",
            }
        data.update(extra)
        return data

    def post_webhook(
        self,
        url: str,
        secret: str,
        event_type: str,
        data: dict[str, Any],
        *,
        msg_id: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        """POST one signed event to the app, as Resend (through Svix) does; overrides forge bad ones."""
        payload = body
        if payload is None:
            payload = json.dumps(
                {"type": event_type, "created_at": datetime.now(UTC).isoformat(), "data": data}
            ).encode()
        msg_id = msg_id or f"msg_{secrets.token_urlsafe(18)}"
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {
            "content-type": "application/json",
            "svix-id": msg_id,
            "svix-timestamp": str(ts),
            "svix-signature": signature if signature is not None else svix_sign(secret, msg_id, ts, payload),
            "user-agent": "Svix-Webhooks/1.0",
        }
        return httpx.post(url, content=payload, headers=headers, timeout=30)
