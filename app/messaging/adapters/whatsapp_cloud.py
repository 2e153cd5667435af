"""Meta WhatsApp Cloud API adapter: `POST /{version}/{phone_number_id}/messages`.

The outbox keeps one adapter per channel and process (`pooled`, app.messaging.adapters.pool), so its
connections serve every chunk, and sends up to `max_in_flight` of a chunk's messages at once: Graph
answers in 100-300 ms, and one request at a time would cap a number far below its messages-per-second
tier. The messages themselves go over an aiohttp session (the hot path: httpx's async client cost 4-10
times its CPU per request here, docs/benchmarks.md); media uploads and downloads, rare and streamed,
stay on httpx, as do error bodies (`graph_error`, `result_from_error` take an httpx.Response).

Attachments are uploaded first (`POST /{phone_number_id}/media`, multipart) and sent by media id: our
files live in private storage with no public URL Meta could fetch a `link` from. A file that comes with its
storage key (every outbox send) is uploaded once and its media id reused by the adapter's later sends
(`_media_id`): a campaign's file costs one upload per number, worker process and MEDIA_ID_SECONDS instead
of one per message. Meta keeps an upload for 30 days; an id it no longer knows is refused before anything
is sent (HTTP 400, code 100, "... is not a valid whatsapp business account media attachment ID"), and the
send is made once more with the file uploaded again — a refusal, never an uncertain answer, so nothing
that may have reached Meta is sent twice.

Graph error codes decide the outcome (the HTTP status is only a fallback): the ban signal 131048 (spam
rate: the number is being restricted), 131050 (the recipient stopped marketing messages) and 131008
(required parameter missing: our request was incomplete, never the recipient's doing) come back as
FAILED with their own `error_code`, so the governor can stop the number, consent can suppress the
contact, and screens can say which it was (app.messaging.failure_reasons).
"""

import asyncio
import hashlib
import json
import re
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.protocol import (
    Attachment,
    MediaError,
    MediaFile,
    Medium,
    OutboundMessage,
    Outcome,
    SendResult,
)
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

# How long an uploaded file's media id is reused: well inside the 30 days Meta keeps an upload, so an id
# is not used in its last days (a refused one is replaced anyway, `_stale_media`); re-uploading a file
# once a day per number and process costs nothing next to a campaign.
MEDIA_ID_SECONDS = 24 * 3600.0
# Media ids one adapter (channel and process) remembers; the least recently used go first.
MEDIA_IDS_MAX = 256
# Meta's refusal of a media id it does not know (expired, deleted, uploaded by another number).
_STALE_MEDIA = re.compile(r"media attachment id", re.IGNORECASE)

_RETRY_CODES = {130429: THROUGHPUT_BACKOFF, 131056: PAIR_RATE_BACKOFF, 4: THROUGHPUT_BACKOFF, 80007: 60.0}
_AUTH_CODES = {190, 10, 200}  # token expired/invalid, permission missing


@dataclass
class _MediaId:
    id: str
    uploaded_at: float  # time.monotonic()
    size: int  # of the file uploaded: a file of another size under the same key is not this one
    # Meta took a message with it: a later refusal means it expired, and only then is the file uploaded
    # again (a refusal of an id never accepted is not about its age, and re-uploading for every message
    # is what this cache exists to avoid).
    accepted: bool = False


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
        # Uploaded files by storage key (this adapter is one number's), and one lock per key being
        # uploaded so a chunk's concurrent sends of one file wait for a single upload.
        self._media_ids: OrderedDict[str, _MediaId] = OrderedDict()
        self._uploading: dict[str, asyncio.Lock] = {}
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
        if message.kind in {"image", "document"}:
            if not message.attachments:
                return SendResult(
                    Outcome.FAILED, error_code="no-attachment", error="media message without file"
                )
            return await self._send_media(message, message.attachments[0], body)
        if message.kind == "template":
            if message.template is None:
                return SendResult(
                    Outcome.FAILED, error_code="no-template", error="template message without template"
                )
            body["type"] = "template"
            body["template"] = template_object(message.template.name, message.template.language,
                                               message.template.body_params)  # fmt: skip
        else:
            body["type"] = "text"
            body["text"] = {"preview_url": False, "body": message.text}
        answer = await self._post_message(body)
        return answer if isinstance(answer, SendResult) else _result(*answer)

    async def _send_media(
        self, message: OutboundMessage, attachment: Attachment, body: dict[str, Any]
    ) -> SendResult:
        got = await self._media_id(attachment)
        if isinstance(got, SendResult):
            return got
        media_id, accepted = got
        answer = await self._post_message(_with_media(body, message, attachment, media_id))
        if isinstance(answer, SendResult):
            return answer
        if accepted and _stale_media(answer[0], answer[1]):
            # Meta no longer knows an id it took before (expired, deleted) and refused the message, so
            # it was not sent: the file goes up again and the message once more.
            got = await self._media_id(attachment, stale=media_id)
            if isinstance(got, SendResult):
                return got
            media_id = got[0]
            answer = await self._post_message(_with_media(body, message, attachment, media_id))
            if isinstance(answer, SendResult):
                return answer
        if answer[0] == 200 and attachment.key is not None:
            known = self._media_ids.get(attachment.key)
            if known is not None and known.id == media_id:
                known.accepted = True
        return _result(*answer)

    async def _post_message(self, body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]] | SendResult:
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
        return status, content, headers

    async def _media_id(
        self, attachment: Attachment, *, stale: str | None = None
    ) -> tuple[str, bool] | SendResult:
        """(the file's media id on this number, whether Meta took a message with it before): from an
        earlier upload of the same storage key (less than MEDIA_ID_SECONDS ago, and not `stale`, the one
        Meta just refused), else uploaded now. A file without a key (not from storage) is uploaded for
        this send only."""
        key = attachment.key
        if key is None:
            uploaded = await self._upload(attachment.filename, attachment.content_type, attachment.data)
            return uploaded if isinstance(uploaded, SendResult) else (uploaded, False)
        known = self._known_media_id(key, attachment, stale)
        if known is not None:
            return known.id, known.accepted
        lock = self._uploading.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                known = self._known_media_id(key, attachment, stale)  # uploaded by the send we waited for
                if known is not None:
                    return known.id, known.accepted
                uploaded = await self._upload(attachment.filename, attachment.content_type, attachment.data)
                if isinstance(uploaded, SendResult):
                    return uploaded
                self._media_ids[key] = _MediaId(uploaded, time.monotonic(), len(attachment.data))
                while len(self._media_ids) > MEDIA_IDS_MAX:
                    self._media_ids.popitem(last=False)
                return uploaded, False
        finally:
            if not lock.locked():
                self._uploading.pop(key, None)

    def _known_media_id(self, key: str, attachment: Attachment, stale: str | None) -> _MediaId | None:
        known = self._media_ids.get(key)
        if known is None:
            return None
        if (
            known.id == stale
            or known.size != len(attachment.data)
            or time.monotonic() - known.uploaded_at > MEDIA_ID_SECONDS
        ):
            del self._media_ids[key]
            return None
        self._media_ids.move_to_end(key)
        return known

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


def _with_media(
    body: dict[str, Any], message: OutboundMessage, attachment: Attachment, media_id: str
) -> dict[str, Any]:
    media: dict[str, Any] = {"id": media_id}
    if message.text:
        media["caption"] = message.text
    if message.kind == "document":
        media["filename"] = attachment.filename
    return {**body, "type": message.kind, message.kind: media}


def _result(status: int, content: bytes, headers: dict[str, str]) -> SendResult:
    if status == 200:
        try:
            wamid = json.loads(content)["messages"][0]["id"]
        except (ValueError, KeyError, IndexError, TypeError):
            return SendResult(
                Outcome.UNCERTAIN, error_code="bad-response", error="200 without messages[0].id"
            )
        return SendResult(Outcome.SENT, provider_message_id=str(wamid))
    return result_from_error(httpx.Response(status, headers=headers, content=content))


def _stale_media(status: int, content: bytes) -> bool:
    """Meta refused the message's media id as unknown to this number (expired, deleted): Graph error 100
    with "... is not a valid whatsapp business account media attachment ID" (HTTP 400)."""
    if status != 400:
        return False
    try:
        error = json.loads(content)["error"]
        details = str((error.get("error_data") or {}).get("details") or "")
        return int(error["code"]) == 100 and bool(
            _STALE_MEDIA.search(str(error.get("message") or "")) or _STALE_MEDIA.search(details)
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


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
