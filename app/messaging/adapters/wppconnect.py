"""WPPConnect server adapter (QR-code sessions): `POST /api/{session}/send-message` and
`send-file-base64` with the session's bearer token.

The token lives in the channel's provider state, encrypted (`state["token"]`). It is generated with the
server's secret key (`generate-token`) when missing, and once more when the server answers 401 (the
server forgets tokens when it is redeployed): the caller persists `adapter.state` after the batch.
"""

import base64
from typing import Any

import httpx
from cryptography.fernet import InvalidToken

from app.messaging import attachments as attachment_files
from app.messaging.kinds import WppConnectConfig
from app.messaging.protocol import MediaError, MediaFile, Medium, OutboundMessage, Outcome, SendResult
from app.security.keys import decrypt, encrypt

TIMEOUT = httpx.Timeout(20.0, connect=5.0)  # the server drives a browser: sends take a few seconds
LIMITS = httpx.Limits(max_connections=5, max_keepalive_connections=5)


def read_token(state: dict[str, Any]) -> str | None:
    stored = state.get("token")
    if not isinstance(stored, str) or not stored:
        return None
    try:
        return decrypt(stored)
    except (InvalidToken, ValueError):
        return None  # written by hand or under a retired key: generate a new one


def store_token(state: dict[str, Any], token: str) -> None:
    state["token"] = encrypt(token)


def wpp_phone(e164: str) -> str:
    """WPPConnect wants the international number as digits, without "+"."""
    return "".join(ch for ch in e164 if ch.isdigit())


def message_id(body: Any) -> str | None:
    """The id in a send answer: `response` is a list of sent messages (one per chat) or one object."""
    response = body.get("response") if isinstance(body, dict) else None
    first = response[0] if isinstance(response, list) and response else response
    if not isinstance(first, dict):
        return None
    value = first.get("id")
    if isinstance(value, dict):
        value = value.get("_serialized")
    return value if isinstance(value, str) and value else None


class TokenError(Exception):
    """generate-token refused (wrong secret key) or unreachable."""

    def __init__(self, outcome: Outcome, code: str, text: str) -> None:
        super().__init__(text)
        self.result = SendResult(outcome, error_code=code, error=text)


class WppConnectAdapter:
    kind = "wppconnect"
    medium = Medium.WHATSAPP

    def __init__(
        self, config: WppConnectConfig, state: dict[str, Any], *, timeout: httpx.Timeout = TIMEOUT
    ) -> None:
        self.config = config
        self.state = state
        self._client = httpx.AsyncClient(
            base_url=config.server_url.rstrip("/") + "/api/", timeout=timeout, limits=LIMITS
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def generate_token(self) -> str:
        try:
            response = await self._client.post(
                f"{self.config.session}/{self.config.secret_key}/generate-token"
            )
        except httpx.HTTPError as exc:
            raise TokenError(Outcome.RETRY, "network", f"generate-token: {type(exc).__name__}") from exc
        token = response.json().get("token") if response.status_code in {200, 201} else None
        if not isinstance(token, str) or not token:
            # Never echo the URL: it carries the secret key.
            raise TokenError(
                Outcome.AUTH, "wpp-secret", f"generate-token refused (HTTP {response.status_code})"
            )
        store_token(self.state, token)
        return token

    async def request(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """An authenticated call; on 401 the token is generated again and the call made once more."""
        token = read_token(self.state) or await self.generate_token()
        url = f"{self.config.session}/{path}"
        response = await self._client.request(
            method, url, json=json, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code == 401:
            token = await self.generate_token()
            response = await self._client.request(
                method, url, json=json, headers={"Authorization": f"Bearer {token}"}
            )
        return response

    async def send(self, message: OutboundMessage) -> SendResult:
        phone = wpp_phone(message.to)
        if message.kind in {"image", "document"}:
            if not message.attachments:
                return SendResult(
                    Outcome.FAILED, error_code="no-attachment", error="media message without file"
                )
            attachment = message.attachments[0]
            encoded = attachment_files.base64_text(attachment.key, attachment.data)
            path, body = (
                "send-file-base64",
                {
                    "phone": phone,
                    "isGroup": False,
                    "filename": attachment.filename,
                    "caption": message.text,
                    "base64": f"data:{attachment.content_type};base64,{encoded}",
                },
            )
        elif message.kind == "text":
            path, body = "send-message", {"phone": phone, "message": message.text, "isGroup": False}
        else:
            # QR sessions have no provider templates: the sending service renders them to text first.
            return SendResult(Outcome.FAILED, error_code="unsupported", error=f"{message.kind} not supported")
        try:
            response = await self.request("POST", path, body)
        except TokenError as exc:
            return exc.result
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout) as exc:
            return SendResult(Outcome.RETRY, error_code="network", error=type(exc).__name__)
        except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The server may be typing the message into WhatsApp right now: never send it twice.
            return SendResult(Outcome.UNCERTAIN, error_code="timeout", error=type(exc).__name__)
        except httpx.HTTPError as exc:
            return SendResult(Outcome.RETRY, error_code="network", error=type(exc).__name__)
        return _result(response)

    async def download_media(self, message_id: str, max_bytes: int) -> MediaFile:
        """A customer's image or document: `POST /api/{session}/download-media` `{messageId}` answers
        `{"base64", "mimetype"}` (the server decrypts WhatsApp's media for us)."""
        try:
            response = await self.request("POST", "download-media", {"messageId": message_id})
        except TokenError as exc:
            raise MediaError("auth", exc.result.error or "token") from exc
        except httpx.HTTPError as exc:
            raise MediaError("network", type(exc).__name__, transient=True) from exc
        status = response.status_code
        if status != 200:
            if status == 401:
                raise MediaError("auth", "token refused")
            if status == 429 or status >= 500:
                raise MediaError(str(status), f"HTTP {status}", transient=True)
            raise MediaError("not-found" if status in {400, 404} else str(status), f"HTTP {status}")
        try:
            body = response.json()
            encoded, mime = str(body["base64"]), str(body.get("mimetype") or "")
        except (ValueError, KeyError, TypeError) as exc:
            raise MediaError("bad-response", "download-media without base64") from exc
        if encoded.startswith("data:") and ";base64," in encoded:
            encoded = encoded.split(";base64,", 1)[1]
        if len(encoded) * 3 // 4 > max_bytes + 2:
            raise MediaError("too-large", f"about {len(encoded) * 3 // 4} bytes")
        try:
            data = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise MediaError("bad-response", "invalid base64") from exc
        return MediaFile(data, mime.split(";", 1)[0].strip())


def _result(response: httpx.Response) -> SendResult:
    try:
        body = response.json()
    except ValueError:
        body = {}
    status = response.status_code
    if status in {200, 201}:
        found = message_id(body)
        if found is None:
            return SendResult(
                Outcome.UNCERTAIN, error_code="bad-response", error="success without a message id"
            )
        return SendResult(Outcome.SENT, provider_message_id=found)
    text = str(body.get("message") or f"HTTP {status}")[:300] if isinstance(body, dict) else f"HTTP {status}"
    if status == 401:
        return SendResult(Outcome.AUTH, error_code="401", error=text)
    if isinstance(body, dict) and body.get("status") == "Disconnected":
        # The phone is not paired (QR code pending, logged out): someone has to act on the channel.
        return SendResult(Outcome.AUTH, error_code="wpp-disconnected", error=text)
    error = body.get("error") if isinstance(body, dict) else None
    if "invalid_wid" in str(error) or "not exist" in str(error):
        return SendResult(Outcome.FAILED, error_code="wpp-invalid-number", error=text)
    if status == 429 or status >= 500:
        return SendResult(Outcome.RETRY, error_code=str(status), error=text)
    return SendResult(Outcome.FAILED, error_code=str(status), error=text)
