"""A Meta WhatsApp Cloud API simulator: the part of the Graph API our adapter, template sync and webhook
route use, served by uvicorn on 127.0.0.1 in a thread.

Contract followed (developers.facebook.com/docs/whatsapp/cloud-api: messages, media, templates,
webhooks, error codes):
- Auth: `Authorization: Bearer <access token>` on every route; wrong or missing token -> HTTP 401
  `{"error": {"message", "type": "OAuthException", "code": 190, "fbtrace_id"}}`; an expired token
  (`expire_token()`) adds `error_subcode` 463.
- `POST /{version}/{phone_number_id}/messages`, JSON `{"messaging_product": "whatsapp", "to", "type",
  <type object>}` with type text (`text.body`), template (`template.name`, `language.code`, components
  with body parameters), image / document (`id` of uploaded media or `link`). Success -> 200
  `{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid.…"}]}`.
- Errors are Graph errors `{"error": {"message", "type", "code", "error_subcode"?, "error_data":
  {"messaging_product", "details"}, "fbtrace_id"}}`, HTTP 400 unless said otherwise:
  131047 re-engagement (free-form message more than 24 h after the recipient's last inbound message;
  the simulator tracks inbound per recipient), 130429 throughput (more than `per_second_cap` sends in
  the last second), 131056 pair rate (another message to the same recipient less than `pair_window`
  seconds ago), 131026 undeliverable (`undeliverable` numbers), 131048 spam rate limit (`spam_limited`),
  131050 (the recipient stopped marketing messages: `blocked`; a *status* error at Meta, answered
  synchronously here too so callers can test its mapping), 131008 required parameter missing (no `to`,
  or a media message without its object's id/link), 132001 template does not exist / not approved,
  132000 parameter count mismatch, 131009 bad parameter; a media `id` Meta does not know for this number
  (never uploaded, uploaded by another number, deleted, or older than Meta's 30-day retention) is refused
  as Graph answers it: code 100, "(#100) Param image.id is not a valid whatsapp business account media
  attachment ID".
- `POST /{version}/{phone_number_id}/media` multipart (`file`, `type`, `messaging_product`) -> `{"id"}`;
  the id belongs to that number and lives MEDIA_RETENTION_SECONDS (`clock`), or until `forget_media()`
  (Meta deleted it). `uploads` lists every upload (number, filename, size) in order.
- Media download (inbound images/documents, and anything uploaded): `GET /{version}/{media_id}` with the
  bearer token -> `{"messaging_product": "whatsapp", "url", "mime_type", "sha256", "file_size", "id"}`;
  then `GET <url>` with the same bearer token -> the bytes. Unknown media id -> 404 with a Graph error
  (code 100); a bad token on either -> 401 (code 190).
- `GET /{version}/{waba_id}/message_templates?limit=&after=` -> `{"data": [...], "paging": {"cursors":
  {"before", "after"}, "next"?}}`.
- Webhooks back to the app: `POST <webhook_url>` with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of
  the raw body, key app_secret>` and the `whatsapp_business_account` envelope, carrying `messages`
  (inbound: text, image, document, button, interactive replies) or `statuses` (sent / delivered / read /
  failed with `errors`) for messages the simulator accepted.

Status webhooks on their own: with `status_webhooks=True` every accepted message is reported `sent` by a
background thread, as Meta does, with the `biz_opaque_callback_data` the sender gave echoed back; reports
are batched (up to `status_batch` per payload; Meta's `statuses` is a list) and a payload the app does not
answer with 200 is posted again later (Meta retries for days). `status_backlog()` tells how many wait.

Faults: `fail(status)` answers every request with that status (5xx with a Graph error body, 429 with
Retry-After), `hang(seconds)` waits before answering (a read timeout on the caller's side); `heal()`.
`clock` can be replaced to move time (24-hour window) without sleeping.

Not implemented: interactive/location/contacts sends, reactions, media URL expiry (5 minutes at Meta),
template creation, conversation pricing objects, message status ordering guarantees.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.simulators.http_thread import ThreadedServer

WINDOW_SECONDS = 24 * 3600
MEDIA_RETENTION_SECONDS = 30 * 24 * 3600  # Meta keeps an uploaded file (and its id) this long
_PARAM = re.compile(r"\{\{(\d+)\}\}")

_ERRORS: dict[int, tuple[str, str]] = {
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied "
        "to this number.",
    ),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number in a "
        "short period of time.",
    ),
    131026: ("Message Undeliverable", "Unable to deliver message."),
    131048: ("Spam rate limit hit", "Message failed to send because there are restrictions on how many "
             "messages can be sent from this phone number."),
    131008: ("Required parameter is missing", "Required parameter is missing"),
    131050: ("Unable to deliver the message. This recipient has chosen to stop receiving marketing "
             "messages on WhatsApp from your business.", "user stopped marketing messages"),
    132001: ("Template name does not exist in the translation", "template name does not exist"),
    132000: ("Number of parameters does not match the expected number of params", "param count mismatch"),
    131009: ("Parameter value is not valid", "invalid parameter"),
    131053: ("Media upload error", "Unable to upload the media used in the message."),
    100: ("Invalid parameter", "invalid parameter"),
}  # fmt: skip


@dataclass
class Template:
    name: str
    language: str = "pt_BR"
    category: str = "MARKETING"
    status: str = "APPROVED"
    body: str = "Olá {{1}}"
    id: str = field(default_factory=lambda: str(secrets.randbelow(10**15)))

    def as_graph(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "language": self.language,
            "category": self.category,
            "status": self.status,
            "id": self.id,
            "components": [{"type": "BODY", "text": self.body}],
        }


@dataclass
class Sent:
    wamid: str
    to: str
    type: str
    payload: dict[str, Any]
    at: float
    callback: str | None = None


class CloudApiSimulator:
    def __init__(
        self,
        *,
        access_token: str = "EAAG-test-token",
        app_secret: str = "app-secret-test",
        phone_number_id: str = "106540352242922",
        waba_id: str = "102290129340398",
        display_phone: str = "+55 11 4000-0000",
        per_second_cap: int = 80,
        pair_window: float = 6.0,
        status_webhooks: bool = False,
        status_batch: int = 100,
        record_requests: bool = True,
        media_dir: Path | None = None,
    ) -> None:
        self.access_token = access_token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.waba_id = waba_id
        self.display_phone = display_phone
        self.per_second_cap = per_second_cap
        self.pair_window = pair_window
        self.clock: Callable[[], float] = time.time
        self.webhook_url: str | None = None
        self.undeliverable: set[str] = set()
        self.spam_limited = False
        self.blocked: set[str] = set()
        self.templates: list[Template] = []
        self.sent: dict[str, Sent] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []
        # Uploads noted here too, so several simulator processes on one port (tests/bench/sim_procs.py)
        # know each other's media ids, as Meta's servers do.
        self.media_dir = media_dir
        self.requests: list[dict[str, Any]] = []
        self._inbound_at: dict[str, float] = {}
        self._send_times: collections.deque[float] = collections.deque()
        self.status_webhooks = status_webhooks
        self.status_batch = status_batch
        self.record_requests = record_requests
        self.status_posts = 0
        self._statuses: collections.deque[str] = collections.deque()
        self._status_stop = threading.Event()
        self._status_thread: threading.Thread | None = None
        self._last_to: dict[str, float] = {}
        self._token_expired = False
        self._fail: int | None = None
        self._hang = 0.0
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._server = ThreadedServer(
            Starlette(
                routes=[
                    Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
                    Route("/{version}/{node}/media", self._upload, methods=["POST"]),
                    Route("/{version}/{node}/message_templates", self._templates, methods=["GET"]),
                    Route("/media-download/{media_id}", self._media_bytes, methods=["GET"]),
                    Route("/{version}/{node}", self._media_info, methods=["GET"]),
                ]
            ),
            "cloud-api-sim",
        )

    # -------------------------------------------------------- lifecycle and faults
    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> CloudApiSimulator:
        self._server.start()
        if self.status_webhooks:
            self._status_thread = threading.Thread(
                target=self._post_statuses, name="cloud-sim-statuses", daemon=True
            )
            self._status_thread.start()
        return self

    def stop(self) -> None:
        self._status_stop.set()
        if self._status_thread is not None:
            self._status_thread.join(timeout=10)
        self._server.stop()

    def status_backlog(self) -> int:
        return len(self._statuses)

    def _post_statuses(self) -> None:
        """Report every accepted message `sent`, in batches, retrying a batch the app did not take."""
        with httpx.Client(timeout=30) as client:
            while not self._status_stop.is_set():
                batch: list[str] = []
                while self._statuses and len(batch) < self.status_batch:
                    batch.append(self._statuses.popleft())
                if not batch or not self.webhook_url:
                    self._statuses.extendleft(reversed(batch))
                    self._status_stop.wait(0.1)
                    continue
                items = [self._status_item(w, "sent") for w in batch]
                body = json.dumps(self.envelope({"statuses": items}), separators=(",", ":")).encode()
                headers = {"Content-Type": "application/json", "X-Hub-Signature-256": self.sign(body)}
                try:
                    ok = client.post(self.webhook_url, content=body, headers=headers).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.status_posts += 1
                if not ok:
                    self._statuses.extendleft(reversed(batch))
                    self._status_stop.wait(0.5)

    def fail(self, status: int) -> None:
        self._fail = status

    def hang(self, seconds: float) -> None:
        self._hang = seconds

    def heal(self) -> None:
        self._fail, self._hang = None, 0.0

    def expire_token(self) -> None:
        self._token_expired = True

    def open_window(self, wa_id: str, at: float | None = None) -> None:
        """The recipient wrote to the business (without sending a webhook)."""
        self._inbound_at[_digits(wa_id)] = self.clock() if at is None else at

    # -------------------------------------------------------- Graph helpers
    def _error(
        self, code: int, status: int = 400, subcode: int | None = None, details: str = "", message: str = ""
    ) -> Response:
        title, default = _ERRORS.get(code, ("Unknown error", "unknown"))
        error: dict[str, Any] = {
            "message": message or f"(#{code}) {title}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or default},
            "fbtrace_id": secrets.token_urlsafe(12),
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        return JSONResponse({"error": error}, status_code=status)

    def _auth_error(self) -> Response:
        error: dict[str, Any] = {
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": secrets.token_urlsafe(12),
        }
        if self._token_expired:
            error["message"] = "Error validating access token: Session has expired."
            error["error_subcode"] = 463
        return JSONResponse({"error": error}, status_code=401)

    async def _gate(self, request: Request, body: Any = None) -> Response | None:
        if self.record_requests:
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "headers": dict(request.headers),
                    "json": body,
                }
            )
        if self._hang:
            await asyncio.sleep(self._hang)
        if self._fail is not None:
            if self._fail == 429:
                return JSONResponse(
                    {"error": {"message": "Too many requests", "type": "OAuthException", "code": 4}},
                    status_code=429,
                    headers={"Retry-After": "2"},
                )
            return JSONResponse(
                {"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1,
                           "fbtrace_id": secrets.token_urlsafe(12)}},
                status_code=self._fail,
            )  # fmt: skip
        if self._token_expired or request.headers.get("authorization") != f"Bearer {self.access_token}":
            return self._auth_error()
        return None

    # -------------------------------------------------------- routes
    async def _messages(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if (fault := await self._gate(request, body)) is not None:
            return fault
        if request.path_params["node"] != self.phone_number_id:
            return self._error(100, details="Unsupported post request: unknown phone number id")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return self._error(100, details="messaging_product is required and must be whatsapp")
        to, kind = _digits(str(body.get("to") or "")), body.get("type", "text")
        if not to:
            return self._error(131008, details="Parameter 'to' is required")
        if kind not in {"text", "template", "image", "document"} or not isinstance(body.get(kind), dict):
            return self._error(100, details="invalid to or type")
        if (problem := self._check_content(kind, body[kind])) is not None:
            return problem
        with self._lock:
            now = self.clock()
            while self._send_times and now - self._send_times[0] >= 1.0:
                self._send_times.popleft()
            if len(self._send_times) >= self.per_second_cap:
                return self._error(130429)
            if self.spam_limited:
                return self._error(131048)
            if to in self.blocked:
                return self._error(131050)
            if to in self.undeliverable:
                return self._error(131026)
            if kind != "template" and now - self._inbound_at.get(to, -1e18) > WINDOW_SECONDS:
                return self._error(131047, subcode=2494010)
            if now - self._last_to.get(to, -1e18) < self.pair_window:
                return self._error(131056)
            self._send_times.append(now)
            self._last_to[to] = now
            wamid = "wamid." + secrets.token_urlsafe(24)
            callback = body.get("biz_opaque_callback_data")
            self.sent[wamid] = Sent(
                wamid, to, kind, body, now, callback if isinstance(callback, str) else None
            )
            if self.status_webhooks:
                self._statuses.append(wamid)
        message: dict[str, Any] = {"id": wamid}
        if kind == "template":
            message["message_status"] = "accepted"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": str(body["to"]), "wa_id": to}],
                "messages": [message],
            }
        )

    def _check_content(self, kind: str, obj: dict[str, Any]) -> Response | None:
        if kind == "text":
            text = obj.get("body")
            if not isinstance(text, str) or not text or len(text) > 4096:
                return self._error(131009, details="text.body is required (1 to 4096 characters)")
        elif kind == "template":
            language = (obj.get("language") or {}).get("code")
            template = next(
                (
                    t
                    for t in self.templates
                    if t.name == obj.get("name") and t.language == language and t.status == "APPROVED"
                ),
                None,
            )
            if template is None:
                return self._error(132001, status=404)
            expected = len(set(_PARAM.findall(template.body)))
            params = [
                p
                for c in obj.get("components") or []
                if isinstance(c, dict) and c.get("type") == "body"
                for p in c.get("parameters") or []
            ]
            if len(params) != expected:
                return self._error(132000)
            if any(not isinstance(p, dict) or p.get("type") != "text" or not p.get("text") for p in params):
                return self._error(131009, details="body parameters must be non-empty text")
        else:
            media_id, link = obj.get("id"), obj.get("link")
            if not media_id and not link:
                return self._error(131008, details=f"{kind}.id or {kind}.link is required")
            if media_id and not self._media_known(str(media_id)):
                message = (
                    f"(#100) Param {kind}.id is not a valid whatsapp business account media attachment ID"
                )
                return self._error(100, details=message, message=message)
        return None

    def _media_known(self, media_id: str) -> bool:
        found = self.media.get(media_id)
        if found is None and self.media_dir is not None and media_id.isdigit():
            try:
                found = json.loads((self.media_dir / media_id).read_text())
            except (OSError, ValueError):
                found = None
        return (
            found is not None
            and found.get("phone_number_id") in {None, self.phone_number_id}
            and self.clock() - found.get("uploaded_at", self.clock()) <= MEDIA_RETENTION_SECONDS
        )

    def forget_media(self, media_id: str | None = None) -> None:
        """Meta deleted an uploaded file (or all of them): its id is refused from now on."""
        for known in [media_id] if media_id else list(self.media):
            self.media.pop(known, None)

    async def _upload(self, request: Request) -> Response:
        form = await request.form()
        if (fault := await self._gate(request)) is not None:
            return fault
        upload = form.get("file")
        node = request.path_params["node"]
        if node != self.phone_number_id:
            return self._error(100, details="Unsupported post request: unknown phone number id")
        if form.get("messaging_product") != "whatsapp" or upload is None or isinstance(upload, str):
            return self._error(100, details="messaging_product and file are required")
        data = await upload.read()
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))  # unique across simulator processes too
        if self.media_dir is not None:
            note = {"phone_number_id": node, "uploaded_at": self.clock()}
            (self.media_dir / media_id).write_text(json.dumps(note))
        self.media[media_id] = {
            "filename": upload.filename,
            "mime_type": form.get("type") or upload.content_type,
            "data": data,
            "phone_number_id": node,
            "uploaded_at": self.clock(),
        }
        self.uploads.append({"phone_number_id": node, "filename": upload.filename, "size": len(data)})
        return JSONResponse({"id": media_id})

    async def _media_info(self, request: Request) -> Response:
        if (fault := await self._gate(request)) is not None:
            return fault
        media_id = request.path_params["node"]
        found = self.media.get(media_id)
        if found is None or not self._media_known(media_id):
            return self._error(100, status=404, details=f"Object with ID '{media_id}' does not exist")
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/media-download/{media_id}?ext=1&hash={secrets.token_hex(8)}",
                "mime_type": found["mime_type"],
                "sha256": hashlib.sha256(found["data"]).hexdigest(),
                "file_size": len(found["data"]),
                "id": media_id,
            }
        )

    async def _media_bytes(self, request: Request) -> Response:
        if (fault := await self._gate(request)) is not None:
            return fault
        found = self.media.get(request.path_params["media_id"])
        if found is None:
            return self._error(100, status=404, details="media not found")
        return Response(found["data"], media_type=found["mime_type"] or "application/octet-stream")

    def add_media(self, data: bytes, mime_type: str, filename: str | None = None) -> str:
        """A file a customer sent: downloadable by the returned media id."""
        media_id = str(next(self._seq) + 10**15)
        self.media[media_id] = {"filename": filename, "mime_type": mime_type, "data": data}
        return media_id

    async def _templates(self, request: Request) -> Response:
        if (fault := await self._gate(request)) is not None:
            return fault
        if request.path_params["node"] != self.waba_id:
            return self._error(100, details="Unsupported get request")
        limit = min(int(request.query_params.get("limit") or 25), 100)
        after = request.query_params.get("after")
        start = int(after) if after and after.isdigit() else 0
        page = self.templates[start : start + limit]
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(start + len(page))}}
        if start + limit < len(self.templates):
            paging["next"] = f"{self.url}{request.url.path}?limit={limit}&after={start + limit}"
        return JSONResponse({"data": [t.as_graph() for t in page], "paging": paging})

    # -------------------------------------------------------- webhooks back to the app
    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (secret or self.app_secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    def envelope(self, value: dict[str, Any], phone_number_id: str | None = None) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": _digits(self.display_phone),
                                    "phone_number_id": phone_number_id or self.phone_number_id,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }

    def inbound_payload(
        self,
        wa_id: str,
        text: str = "",
        *,
        kind: str = "text",
        name: str = "Cliente",
        wamid: str | None = None,
        extra: dict[str, Any] | None = None,
        data: bytes | None = None,
        mime_type: str | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """A customer's message: text, image, document, button or interactive (button_reply). An image
        or document with `data` is downloadable (its media id is known); without it the id is unknown."""
        wa = _digits(wa_id)
        message: dict[str, Any] = {
            "from": wa,
            "id": wamid or "wamid." + secrets.token_urlsafe(24),
            "timestamp": str(int(self.clock())),
            "type": kind,
        }
        if kind == "text":
            message["text"] = {"body": text}
        elif kind in {"image", "document"}:
            mime = mime_type or ("image/jpeg" if kind == "image" else "application/pdf")
            name = filename or ("documento.pdf" if kind == "document" else None)
            media = {
                "mime_type": mime,
                "sha256": hashlib.sha256(data if data is not None else text.encode()).hexdigest(),
                "id": self.add_media(data, mime, name) if data is not None else str(next(self._seq) + 10**15),
            }
            if text:
                media["caption"] = text
            if kind == "document" and name:
                media["filename"] = name
            message[kind] = media
        elif kind == "button":
            message["button"] = {"text": text, "payload": text.upper()}
        elif kind == "interactive":
            message["interactive"] = {"type": "button_reply", "button_reply": {"id": "btn-1", "title": text}}
        message.update(extra or {})
        return self.envelope({"contacts": [{"profile": {"name": name}, "wa_id": wa}], "messages": [message]})

    def status_payload(self, wamid: str, status: str, *, error_code: int | None = None) -> dict[str, Any]:
        return self.envelope({"statuses": [self._status_item(wamid, status, error_code=error_code)]})

    def _status_item(self, wamid: str, status: str, *, error_code: int | None = None) -> dict[str, Any]:
        sent = self.sent.get(wamid)
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(self.clock())),
            "recipient_id": sent.to if sent else "0",
        }
        if sent is not None and sent.callback is not None:
            item["biz_opaque_callback_data"] = sent.callback
        if status == "failed":
            code = error_code or 131026
            title, details = _ERRORS.get(code, ("Unknown error", "unknown"))
            item["errors"] = [
                {"code": code, "title": title, "message": title, "error_data": {"details": details}}
            ]
        return item

    def quality_payload(
        self,
        event: str,
        current_limit: str = "TIER_1K",
        *,
        display_phone: str | None = None,
        waba_id: str | None = None,
    ) -> dict[str, Any]:
        """Meta's `phone_number_quality_update`: on the WABA's entry (entry.id = WABA id), naming the
        number only by its display form; `event` FLAGGED / UNFLAGGED / DOWNGRADE / UPGRADE."""
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": waba_id or self.waba_id,
                    "time": int(self.clock()),
                    "changes": [
                        {
                            "field": "phone_number_quality_update",
                            "value": {
                                "display_phone_number": _digits(display_phone or self.display_phone),
                                "event": event,
                                "current_limit": current_limit,
                            },
                        }
                    ],
                }
            ],
        }

    def report_quality(self, event: str, current_limit: str = "TIER_1K", **kwargs: Any) -> httpx.Response:
        """Meta re-rates the number: posts a signed quality update to the app."""
        return self.post(self.quality_payload(event, current_limit, **kwargs))

    def post(
        self, payload: dict[str, Any] | bytes, *, secret: str | None = None, signature: str | None = None
    ) -> httpx.Response:
        """POST a webhook to the app, signed as Meta signs (or with the given signature)."""
        assert self.webhook_url, "set webhook_url first"
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": self.sign(body, secret) if signature is None else signature,
        }
        if not headers["X-Hub-Signature-256"]:
            del headers["X-Hub-Signature-256"]  # signature="" sends none
        return httpx.post(self.webhook_url, content=body, headers=headers, timeout=10)

    def receive(self, wa_id: str, text: str = "", **kwargs: Any) -> httpx.Response:
        """A customer writes: opens their 24-hour window and posts the webhook."""
        self.open_window(wa_id)
        return self.post(self.inbound_payload(wa_id, text, **kwargs))

    def report(self, wamid: str, status: str, **kwargs: Any) -> httpx.Response:
        """A status webhook (sent / delivered / read / failed) for a message this simulator accepted."""
        assert wamid in self.sent, "unknown wamid"
        return self.post(self.status_payload(wamid, status, **kwargs))


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


@contextmanager
def running(**kwargs: Any) -> Iterator[CloudApiSimulator]:
    sim = CloudApiSimulator(**kwargs).start()
    try:
        yield sim
    finally:
        sim.stop()
