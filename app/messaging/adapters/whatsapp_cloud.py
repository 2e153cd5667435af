"""Meta WhatsApp Cloud API adapter: `POST /{version}/{phone_number_id}/messages`.

The outbox keeps one adapter per channel and process (`pooled`, app.messaging.adapters.pool), so its
connections serve every chunk, and sends up to `max_in_flight` of a chunk's messages at once: Graph
answers in 100-300 ms, and one request at a time would cap a number far below its messages-per-second
tier. The messages themselves go over an aiohttp session (the hot path: httpx's async client cost 4-10
times its CPU per request here, docs/benchmarks.md); media uploads and downloads, rare and streamed,
stay on httpx, as do error bodies (`graph_error`, `result_from_error` take an httpx.Response).

Attachments are uploaded first (`POST /{phone_number_id}/media`, multipart) and sent by media id: our
files live in private storage with no public URL Meta could fetch a `link` from.

Graph error codes decide the outcome (the HTTP status is only a fallback): the ban signal 131048 (spam
rate: the number is being restricted), 131050 (the recipient stopped marketing messages) and 131008
(required parameter missing: our request was incomplete, never the recipient's doing) come back as
FAILED with their own `error_code`, so the governor can stop the number, consent can suppress the
contact, and screens can say which it was (app.messaging.failure_reasons).
"""

import hashlib
import json
import ssl
from typing import Any

import aiohttp
import httpx

from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.protocol import MediaError, MediaFile, Medium, OutboundMessage, Outcome, SendResult
from app.messaging.whatsapp_events import callback_data

# Connect fast (a dead host should not hold a worker), read longer: Graph occasionally takes seconds.
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# Concurrent sends per adapter (one adapter per channel and worker process): a chunk's requests in flight.
MAX_IN_FLIGHT = 16
# An idle connection is dropped before common servers drop theirs (uvicorn: 5 s, httpx's own default):
# a request written to a connection the server is closing ends UNCERTAIN, never resent.
LIMITS = httpx.Limits(
    max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT, keepalive_expiry=4.0
)
# Meta gives no Retry-After on its throughput errors: back off this long (130429: per-second cap;
# 131056: one message per recipient every 6 s).
THROUGHPUT_BACKOFF = 1.0
PAIR_RATE_BACKOFF = 6.0

_RETRY_CODES = {130429: THROUGHPUT_BACKOFF, 131056: PAIR_RATE_BACKOFF, 4: THROUGHPUT_BACKOFF, 80007: 60.0}
_AUTH_CODES = {190, 10, 200}  # token expired/invalid, permission missing


_ssl_context: ssl.SSLContext | None = None


def ssl_context() -> ssl.SSLContext:
    """One TLS context per process: httpx builds a new one for every client, loading the CA bundle each
    time (~33 ms); adapters built outside the outbox's pool (media downloads, template sync) share it."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = httpx.create_ssl_context()
    return _ssl_context


class CloudApiAdapter:
    kind = "whatsapp_cloud"
    medium = Medium.WHATSAPP
    pooled = True
    max_in_flight = MAX_IN_FLIGHT

    def __init__(
        self,
        config: WhatsAppCloudConfig,
        state: dict[str, Any],
        *,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.config = config
        self.state = state
        base = config.api_base_url.rstrip("/")
        self._messages_url = f"{base}/{config.api_version}/{config.phone_number_id}/messages"
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout.connect, sock_read=timeout.read)
        self._session: aiohttp.ClientSession | None = None  # opened on the first send, in its event loop
        self._client = httpx.AsyncClient(
            base_url=f"{base}/{config.api_version}/",
            headers={"Authorization": f"Bearer {config.access_token}"},
            timeout=timeout,
            limits=LIMITS,
            verify=ssl_context(),
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                await session.close()
        finally:
            await self._client.aclose()

    def _messages_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=MAX_IN_FLIGHT, keepalive_timeout=LIMITS.keepalive_expiry, ssl=ssl_context()
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {self.config.access_token}"},
            )
        return self._session

    async def send(self, message: OutboundMessage) -> SendResult:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": wa_recipient(message.to),
            # Echoed back in every status webhook: how a send whose answer was lost (the worker died
            # between the call and the mark) is matched to its row, instead of being sent again.
            "biz_opaque_callback_data": callback_data(message.message_id),
        }
        if message.kind == "template":
            if message.template is None:
                return SendResult(
                    Outcome.FAILED, error_code="no-template", error="template message without template"
                )
            body["type"] = "template"
            body["template"] = template_object(message.template.name, message.template.language,
                                               message.template.body_params)  # fmt: skip
        elif message.kind in {"image", "document"}:
            if not message.attachments:
                return SendResult(
                    Outcome.FAILED, error_code="no-attachment", error="media message without file"
                )
            attachment = message.attachments[0]
            uploaded = await self._upload(attachment.filename, attachment.content_type, attachment.data)
            if isinstance(uploaded, SendResult):
                return uploaded
            media: dict[str, Any] = {"id": uploaded}
            if message.text:
                media["caption"] = message.text
            if message.kind == "document":
                media["filename"] = attachment.filename
            body["type"] = message.kind
            body[message.kind] = media
        else:
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": message.text}
        try:
            async with self._messages_session().post(self._messages_url, json=body) as response:
                status, content = response.status, await response.read()
                headers = dict(response.headers) if status != 200 else {}
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # No connection, so nothing reached Meta: safe to send again.
            return SendResult(Outcome.RETRY, error_code="network", error=type(exc).__name__)
        except (
            TimeoutError,
            aiohttp.SocketTimeoutError,
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientOSError,
        ) as exc:
            # The request left (or may have); Meta may have accepted it. Only a status webhook can tell.
            return SendResult(Outcome.UNCERTAIN, error_code="timeout", error=type(exc).__name__)
        except aiohttp.ClientError as exc:
            return SendResult(Outcome.RETRY, error_code="network", error=type(exc).__name__)
        if status == 200:
            try:
                wamid = json.loads(content)["messages"][0]["id"]
            except (ValueError, KeyError, IndexError, TypeError):
                return SendResult(
                    Outcome.UNCERTAIN, error_code="bad-response", error="200 without messages[0].id"
                )
            return SendResult(Outcome.SENT, provider_message_id=str(wamid))
        return result_from_error(httpx.Response(status, headers=headers, content=content))

    async def _upload(self, filename: str, content_type: str, data: bytes) -> str | SendResult:
        try:
            response = await self._client.post(
                f"{self.config.phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": content_type},
                files={"file": (filename, data, content_type)},
            )
        except httpx.HTTPError as exc:
            # An upload that may have happened costs nothing but an orphan media id: retry.
            return SendResult(
                Outcome.RETRY, error_code="network", error=f"media upload: {type(exc).__name__}"
            )
        if response.status_code == 200:
            try:
                return str(response.json()["id"])
            except (ValueError, KeyError, TypeError):
                return SendResult(Outcome.RETRY, error_code="bad-response", error="media upload without id")
        return result_from_error(response)

    async def download_media(self, media_id: str, max_bytes: int) -> MediaFile:
        """A customer's image or document, per Meta's contract: `GET /{version}/{media_id}` gives a
        short-lived `url` (with `mime_type`, `sha256`, `file_size`), fetched with the same bearer token."""
        try:
            meta = await self._client.get(media_id)
        except httpx.HTTPError as exc:
            raise MediaError("network", type(exc).__name__, transient=True) from exc
        if meta.status_code != 200:
            raise _media_error(meta)
        try:
            info = meta.json()
            url, mime, digest = str(info["url"]), str(info.get("mime_type") or ""), info.get("sha256")
            declared = int(info.get("file_size") or 0)
        except (ValueError, KeyError, TypeError) as exc:
            raise MediaError("bad-response", "media metadata without url") from exc
        if declared > max_bytes:
            raise MediaError("too-large", f"{declared} bytes")
        data = bytearray()
        try:
            # An absolute URL: httpx ignores base_url and keeps the client's Authorization header.
            async with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _media_error(response)
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise MediaError("too-large", f"more than {max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise MediaError("network", type(exc).__name__, transient=True) from exc
        if isinstance(digest, str) and digest and hashlib.sha256(data).hexdigest() != digest.lower():
            raise MediaError("checksum", "sha256 does not match the metadata", transient=True)
        return MediaFile(bytes(data), mime)


def _media_error(response: httpx.Response) -> MediaError:
    code, text = graph_error(response)
    status = response.status_code
    if code in _AUTH_CODES or status in {401, 403}:
        return MediaError("auth", text)
    if status == 429 or status >= 500:
        return MediaError(str(code or status), text, transient=True)
    return MediaError("not-found" if status in {400, 404} else str(code or status), text)


def wa_recipient(e164: str) -> str:
    """Cloud API takes the number in international form; digits only avoids any `+`/space ambiguity."""
    return "".join(ch for ch in e164 if ch.isdigit())


def template_object(name: str, language: str, body_params: list[str]) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if body_params:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": value} for value in body_params]}
        ]
    return template


def graph_error(response: httpx.Response) -> tuple[int | None, str]:
    """(code, message) of a Graph error body; (None, status line) when the body is not one."""
    try:
        error = response.json()["error"]
        return int(error["code"]), str(error.get("message") or "")[:300]
    except (ValueError, KeyError, TypeError):
        return None, f"HTTP {response.status_code}"


def result_from_error(response: httpx.Response) -> SendResult:
    code, text = graph_error(response)
    status = response.status_code
    error_code = str(code) if code is not None else str(status)
    if code == 131047:
        return SendResult(Outcome.WINDOW_CLOSED, error_code=error_code, error=text)
    if code in _AUTH_CODES or status in {401, 403}:
        return SendResult(Outcome.AUTH, error_code=error_code, error=text)
    if code in _RETRY_CODES:
        wait = _retry_after(response) or _RETRY_CODES[code]
        return SendResult(Outcome.RETRY, error_code=error_code, error=text, retry_after=wait)
    if status == 429 or status >= 500:
        return SendResult(
            Outcome.RETRY, error_code=error_code, error=text, retry_after=_retry_after(response)
        )
    # 131026 undeliverable, 131048 spam rate, 131050 marketing opt-out, 131008 required parameter
    # missing, template/parameter errors: permanent (resending the same request fails the same way).
    return SendResult(Outcome.FAILED, error_code=error_code, error=text)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
