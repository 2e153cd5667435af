"""A WPPConnect server simulator (github.com/wppconnect-team/wppconnect-server, REST API v2): the
routes our adapter and session service use, served by uvicorn on 127.0.0.1 in a thread.

Contract followed (the server's swagger and controllers):
- `POST /api/{session}/{secretkey}/generate-token` -> 201 `{"status": "success", "session", "token",
  "full": "session:token"}`; a wrong secret key -> 400 `{"response": false, "message": "The SECRET_KEY
  is incorrect"}`.
- Every other route needs `Authorization: Bearer <token>` of that session: none -> 401 `{"message":
  "Token is not present. Check your header and try again"}`, wrong or expired (`expire_tokens()`) -> 401
  `{"error": "Unauthorized", "message": "Check that the Session and Token are correct"}`.
- `POST /api/{session}/start-session` `{"webhook", "waitQrCode"}` -> `{"status": "INITIALIZING" |
  "CONNECTED", "qrcode": null, "urlcode": null, "version", "session"}`; a fresh session then shows a QR
  code (status QRCODE) and posts the `qrcode` and `status-find` ("notLogged") webhooks; `scan()` plays
  the phone reading it (CONNECTED, `status-find` "inChat").
- `GET /api/{session}/status-session` -> `{"status", "qrcode", "urlcode", "version"}` (statuses
  CLOSED, INITIALIZING, QRCODE, CONNECTED); `GET qrcode-session` -> the PNG while QRCODE, else
  `{"status", "message"}`; `GET check-connection-session` -> `{"status": bool, "message":
  "Connected" | "Disconnected"}`.
- `POST /api/{session}/send-message` `{"phone", "message", "isGroup"}` and `send-file-base64`
  `{"phone", "isGroup", "filename", "caption", "base64": "data:<mime>;base64,..."}` -> 201
  `{"status": "success", "response": [{"id": "true_<phone>@c.us_<id>", "ack": 0, ...}]}`; a session
  that is not connected -> 400 `{"response": null, "status": "Disconnected", "message": "A sessão do
  WhatsApp não está ativa."}`; a number without WhatsApp -> 500 `{"status": "error", "message": "Erro
  ao enviar a mensagem.", "error": "..."}`; the phone must be digits (no "+").
- `GET /api/{session}/check-number-status/{phone}` -> `{"status": "success", "response": {"id":
  {"_serialized"}, "numberExists", "canReceiveMessage"}}`.
- `POST logout-session` / `close-session` -> `{"status": true, "message": "Session successfully
  closed"}` (status CLOSED); after a close, start-session reconnects the paired phone without a QR code,
  after a logout a new QR code is needed.
- `POST /api/{session}/download-media` `{"messageId"}` -> 200 `{"base64", "mimetype"}` (the decrypted
  media of a message the session received); an unknown message id -> 404 `{"status": "error",
  "message": "Message not found"}` (the real server answers 400 here; callers treat both alike).
- Webhooks to the URL given at start-session: `{"event": "onmessage" | "onack" | "status-find" |
  "qrcode", "session", ...}` with WA-Web's message fields (`id`, `from` "<digits>@c.us", `body`,
  `type` "chat", `t`, `sender.pushname`), acks (`id._serialized`, `ack` 1 sent, 2 delivered, 3 read).

Faults: `hang(seconds)` delays every answer. Not implemented: groups, contacts, chats, labels,
multi-device lists, the server's own session persistence.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.simulators.http_thread import ThreadedServer

VERSION = "2.8.6"


def png(seed: str, size: int = 21) -> bytes:
    """A small black-and-white PNG derived from `seed` (stands in for the QR image)."""
    bits = hashlib.sha256(seed.encode()).digest() * 8
    rows = b"".join(
        b"\x00" + bytes(0 if bits[(y * size + x) % len(bits)] & 1 else 255 for x in range(size))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class WppSession:
    name: str
    tokens: set[str] = field(default_factory=set)
    status: str = "CLOSED"
    webhook: str | None = None
    linked: bool = False  # the phone was paired: a restart reconnects without a QR code
    urlcode: str | None = None
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def qrcode(self) -> str | None:
        if self.status != "QRCODE" or not self.urlcode:
            return None
        return "data:image/png;base64," + base64.b64encode(png(self.urlcode)).decode()


class WppConnectSimulator:
    def __init__(self, secret_key: str = "THISISMYSECURETOKEN", me: str = "5511940000000") -> None:
        self.secret_key = secret_key
        self.me = me
        self.sessions: dict[str, WppSession] = {}
        self.unregistered: set[str] = set()
        self.media: dict[str, dict[str, Any]] = {}  # message id -> {"data", "mimetype"}
        self.requests: list[dict[str, Any]] = []
        self.webhook_responses: list[httpx.Response] = []
        self._hang = 0.0
        self._lock = threading.Lock()
        api = "/api/{session}"
        self._server = ThreadedServer(
            Starlette(
                routes=[
                    Route(api + "/{secretkey}/generate-token", self._generate_token, methods=["POST"]),
                    Route(api + "/start-session", self._start, methods=["POST"]),
                    Route(api + "/status-session", self._status, methods=["GET"]),
                    Route(api + "/qrcode-session", self._qrcode, methods=["GET"]),
                    Route(api + "/check-connection-session", self._check_connection, methods=["GET"]),
                    Route(api + "/send-message", self._send_message, methods=["POST"]),
                    Route(api + "/send-file-base64", self._send_file, methods=["POST"]),
                    Route(api + "/check-number-status/{phone}", self._check_number, methods=["GET"]),
                    Route(api + "/download-media", self._download_media, methods=["POST"]),
                    Route(api + "/logout-session", self._logout, methods=["POST"]),
                    Route(api + "/close-session", self._close, methods=["POST"]),
                ]
            ),
            "wppconnect-sim",
        )

    # -------------------------------------------------------- lifecycle and test controls
    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> WppConnectSimulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def hang(self, seconds: float) -> None:
        self._hang = seconds

    def expire_tokens(self) -> None:
        for s in self.sessions.values():
            s.tokens.clear()

    def session(self, name: str) -> WppSession:
        return self.sessions.setdefault(name, WppSession(name))

    def scan(self, name: str) -> httpx.Response | None:
        """The phone reads the QR code: the session connects and tells the app."""
        s = self.session(name)
        s.status, s.urlcode, s.linked = "CONNECTED", None, True
        return self.post(name, {"event": "status-find", "status": "inChat"})

    def refresh_qr(self, name: str) -> httpx.Response | None:
        """WhatsApp rotates the QR code every ~20 s; each new one is posted."""
        s = self.session(name)
        s.status, s.urlcode = "QRCODE", "2@" + secrets.token_urlsafe(24)
        return self.post(name, {"event": "qrcode", "qrcode": s.qrcode, "urlcode": s.urlcode})

    def disconnect_phone(self, name: str) -> httpx.Response | None:
        self.session(name).status = "CLOSED"
        return self.post(name, {"event": "status-find", "status": "desconnectedMobile"})

    def post(self, name: str, event: dict[str, Any], url: str | None = None) -> httpx.Response | None:
        """POST a webhook event for a session to its webhook URL (or `url`)."""
        target = url or self.session(name).webhook
        if not target:
            return None
        response = httpx.post(target, json={**event, "session": name}, timeout=10)
        self.webhook_responses.append(response)
        return response

    def receive(
        self, name: str, phone: str, text: str, *, pushname: str = "Cliente", msg_id: str | None = None
    ) -> httpx.Response | None:
        digits = "".join(ch for ch in phone if ch.isdigit())
        key = msg_id or f"false_{digits}@c.us_{secrets.token_hex(10).upper()}"
        return self.post(name, {
            "event": "onmessage", "id": key, "body": text, "type": "chat", "t": int(time.time()),
            "from": f"{digits}@c.us", "to": f"{self.me}@c.us", "fromMe": False, "isGroupMsg": False,
            "sender": {"id": f"{digits}@c.us", "pushname": pushname}, "notifyName": pushname,
        })  # fmt: skip

    def receive_media(
        self,
        name: str,
        phone: str,
        data: bytes,
        mimetype: str,
        *,
        filename: str | None = None,
        caption: str = "",
        pushname: str = "Cliente",
        msg_id: str | None = None,
    ) -> httpx.Response | None:
        """A customer sends an image or document: kept for download-media, announced by onmessage."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        key = msg_id or f"false_{digits}@c.us_{secrets.token_hex(10).upper()}"
        self.media[key] = {"data": data, "mimetype": mimetype}
        kind = "image" if mimetype.startswith("image/") else "document"
        event: dict[str, Any] = {
            "event": "onmessage", "id": key, "type": kind, "t": int(time.time()), "mimetype": mimetype,
            "body": base64.b64encode(data[:64]).decode() if kind == "image" else "", "caption": caption,
            "from": f"{digits}@c.us", "to": f"{self.me}@c.us", "fromMe": False, "isGroupMsg": False,
            "isMedia": kind == "image", "sender": {"id": f"{digits}@c.us", "pushname": pushname},
            "notifyName": pushname,
        }  # fmt: skip
        if filename:
            event["filename"] = filename
        return self.post(name, event)

    def ack(self, name: str, message_id: str, level: int) -> httpx.Response | None:
        sent = self.session(name).sent[message_id]
        inner = message_id.rsplit("_", 1)[-1]
        return self.post(name, {
            "event": "onack", "ack": level, "t": int(time.time()),
            "id": {"fromMe": True, "remote": sent["to"], "id": inner, "_serialized": message_id},
            "from": f"{self.me}@c.us", "to": sent["to"],
        })  # fmt: skip

    # -------------------------------------------------------- helpers
    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
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
        return body

    def _auth(self, request: Request) -> tuple[WppSession, Response | None]:
        s = self.session(request.path_params["session"])
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return s, JSONResponse(
                {"message": "Token is not present. Check your header and try again"}, status_code=401
            )
        if header[len("Bearer ") :] not in s.tokens:
            return s, JSONResponse(
                {"error": "Unauthorized", "message": "Check that the Session and Token are correct"},
                status_code=401,
            )
        return s, None

    def _later(self, name: str, events: list[dict[str, Any]]) -> None:
        # Webhooks leave after the answer, from another thread, as the real server's event emitters do.
        def run() -> None:
            time.sleep(0.05)
            for event in events:
                with suppress(httpx.HTTPError):
                    self.post(name, event)

        threading.Thread(target=run, daemon=True).start()

    # -------------------------------------------------------- routes
    async def _generate_token(self, request: Request) -> Response:
        await self._record(request)
        name = request.path_params["session"]
        if request.path_params["secretkey"] != self.secret_key:
            return JSONResponse(
                {"response": False, "message": "The SECRET_KEY is incorrect"}, status_code=400
            )
        token = secrets.token_urlsafe(32)
        self.session(name).tokens.add(token)
        return JSONResponse(
            {"status": "success", "session": name, "token": token, "full": f"{name}:{token}"}, status_code=201
        )

    async def _start(self, request: Request) -> Response:
        body = await self._record(request) or {}
        s, denied = self._auth(request)
        if denied:
            return denied
        if isinstance(body.get("webhook"), str) and body["webhook"]:
            s.webhook = body["webhook"]
        if s.linked and s.status != "CONNECTED":
            s.status = "CONNECTED"
            self._later(s.name, [{"event": "status-find", "status": "inChat"}])
        if s.status == "CONNECTED":
            return JSONResponse({"status": "CONNECTED", "qrcode": None, "urlcode": None, "version": VERSION,
                                 "session": s.name})  # fmt: skip
        s.status, s.urlcode = "QRCODE", "2@" + secrets.token_urlsafe(24)
        self._later(
            s.name,
            [
                {"event": "qrcode", "qrcode": s.qrcode, "urlcode": s.urlcode},
                {"event": "status-find", "status": "notLogged"},
            ],
        )
        return JSONResponse({"status": "INITIALIZING", "qrcode": None, "urlcode": None, "version": VERSION,
                             "session": s.name})  # fmt: skip

    async def _status(self, request: Request) -> Response:
        await self._record(request)
        s, denied = self._auth(request)
        if denied:
            return denied
        return JSONResponse(
            {"status": s.status, "qrcode": s.qrcode, "urlcode": s.urlcode, "version": VERSION}
        )

    async def _qrcode(self, request: Request) -> Response:
        await self._record(request)
        s, denied = self._auth(request)
        if denied:
            return denied
        if s.status != "QRCODE" or not s.urlcode:
            return JSONResponse({"status": s.status, "message": "QRCode is not available..."})
        return Response(png(s.urlcode), media_type="image/png")

    async def _check_connection(self, request: Request) -> Response:
        await self._record(request)
        s, denied = self._auth(request)
        if denied:
            return denied
        connected = s.status == "CONNECTED"
        return JSONResponse({"status": connected, "message": "Connected" if connected else "Disconnected"})

    def _deliver(self, s: WppSession, body: dict[str, Any], text: str) -> Response:
        phone = body.get("phone")
        if s.status != "CONNECTED":
            return JSONResponse(
                {
                    "response": None,
                    "status": "Disconnected",
                    "message": "A sessão do WhatsApp não está ativa.",
                },
                status_code=400,
            )
        if not isinstance(phone, str) or not phone.isdigit():
            return JSONResponse({"status": "error", "message": "Erro ao enviar a mensagem.",
                                 "error": "invalid phone"}, status_code=500)  # fmt: skip
        if phone in self.unregistered:
            return JSONResponse({"status": "error", "message": "Erro ao enviar a mensagem.",
                                 "error": {"code": "invalid_wid", "text": "The number does not exist"}},
                                status_code=500)  # fmt: skip
        message_id = f"true_{phone}@c.us_3EB0{secrets.token_hex(8).upper()}"
        with self._lock:
            s.sent[message_id] = {"to": f"{phone}@c.us", "body": body, "text": text}
        return JSONResponse(
            {"status": "success", "response": [{"id": message_id, "ack": 0, "from": f"{self.me}@c.us",
                                                "to": f"{phone}@c.us", "body": text}]},
            status_code=201,
        )  # fmt: skip

    async def _send_message(self, request: Request) -> Response:
        body = await self._record(request) or {}
        s, denied = self._auth(request)
        if denied:
            return denied
        if not isinstance(body.get("message"), str) or not body["message"]:
            return JSONResponse({"status": "error", "message": "message is required"}, status_code=400)
        return self._deliver(s, body, body["message"])

    async def _send_file(self, request: Request) -> Response:
        body = await self._record(request) or {}
        s, denied = self._auth(request)
        if denied:
            return denied
        data = body.get("base64")
        if not isinstance(data, str) or not data.startswith("data:") or ";base64," not in data:
            return JSONResponse({"status": "error", "message": "base64 is required"}, status_code=400)
        try:
            base64.b64decode(data.split(";base64,", 1)[1], validate=True)
        except ValueError:
            return JSONResponse({"status": "error", "message": "invalid base64"}, status_code=400)
        return self._deliver(s, body, str(body.get("caption") or ""))

    async def _check_number(self, request: Request) -> Response:
        await self._record(request)
        _s, denied = self._auth(request)
        if denied:
            return denied
        phone = request.path_params["phone"]
        exists = phone.isdigit() and phone not in self.unregistered
        return JSONResponse({"status": "success", "response": {"id": {"_serialized": f"{phone}@c.us"},
                             "numberExists": exists, "canReceiveMessage": exists}})  # fmt: skip

    async def _download_media(self, request: Request) -> Response:
        body = await self._record(request) or {}
        _s, denied = self._auth(request)
        if denied:
            return denied
        found = self.media.get(str(body.get("messageId") or ""))
        if found is None:
            return JSONResponse({"status": "error", "message": "Message not found"}, status_code=404)
        return JSONResponse(
            {"base64": base64.b64encode(found["data"]).decode(), "mimetype": found["mimetype"]}
        )

    async def _logout(self, request: Request) -> Response:
        return await self._end(request, unlink=True)

    async def _close(self, request: Request) -> Response:
        return await self._end(request, unlink=False)

    async def _end(self, request: Request, *, unlink: bool) -> Response:
        # logout unlinks the phone (a new QR code is needed); close only stops the browser.
        await self._record(request)
        s, denied = self._auth(request)
        if denied:
            return denied
        s.status, s.urlcode = "CLOSED", None
        s.linked = s.linked and not unlink
        return JSONResponse({"status": True, "message": "Session successfully closed"})


@contextmanager
def running(**kwargs: Any) -> Iterator[WppConnectSimulator]:
    sim = WppConnectSimulator(**kwargs).start()
    try:
        yield sim
    finally:
        sim.stop()
