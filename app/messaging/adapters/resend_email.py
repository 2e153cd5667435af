"""E-mail through Resend (https://resend.com/docs/api-reference/emails/send-email) with its Python SDK.

The SDK is synchronous and keeps the API key and base URL in module globals (`resend.api_key`,
`resend.api_url`) that every request reads. Several tenants send from one worker process, so each call
runs in a worker thread holding `_SDK_LOCK` from setting those globals until the response is read: no
request can leave with another tenant's key. The lock makes this process's Resend calls one at a time;
Resend's own limit (2 requests/s per team by default) is lower than what one connection does anyway.

Outcomes (https://resend.com/docs/api-reference/errors):
- 429 rate_limit_exceeded / daily or monthly quota → RETRY after the `retry-after` (or
  `ratelimit-reset`) header; the throttle governor is the first line, this is the provider's word.
- 401 missing_api_key / 403 invalid_api_key or unverified domain → AUTH (the channel needs attention).
- 400 / 422 validation → FAILED (this message can never pass); 409 concurrent idempotent request → RETRY.
- 5xx and network errors → RETRY. The request may well have reached Resend, but every send carries the
  message's idempotency key (`Idempotency-Key` header): Resend answers a replay within 24 hours with the
  first request's response instead of sending again, so retrying is safe. Without a key a network
  error is UNCERTAIN (never resent automatically).
"""

import asyncio
import re
import threading
from typing import Any, cast

import resend
from resend.exceptions import ResendError
from resend.http_client_requests import RequestsClient

from app.messaging import attachments as attachment_files
from app.messaging.kinds import ResendConfig
from app.messaging.protocol import Medium, OutboundMessage, Outcome, SendResult

_SDK_LOCK = threading.Lock()
# Seconds for one request (the SDK's default is 30); a slower answer is a network error (RETRY).
TIMEOUT = 20.0
# Resend accepts tag names and values of ASCII letters, digits, "_" and "-" only (256 at most).
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# The header Resend's own pipeline sets; a caller's copy would be dropped or conflict.
_OWN_HEADERS = frozenset({"from", "to", "subject", "reply-to", "message-id", "date"})
# Seconds to wait when a 429 carries no usable header (Resend's window is one second).
DEFAULT_RETRY_AFTER = 1.0


def _tag(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value)[:256]


def send_params(message: OutboundMessage, config: ResendConfig) -> dict[str, Any]:
    """The POST /emails body for `message` (the SDK's SendParams)."""
    sender = f"{config.from_name} <{config.from_email}>" if config.from_name else config.from_email
    params: dict[str, Any] = {
        "from": sender,
        "to": [message.to],
        "subject": message.subject or "",
    }
    if message.html:
        params["html"] = message.html
    if message.text or not message.html:
        params["text"] = message.text
    if message.reply_to:
        params["reply_to"] = message.reply_to
    headers = {k: v for k, v in message.headers.items() if k.lower() not in _OWN_HEADERS}
    if headers:
        params["headers"] = headers
    if message.attachments:
        params["attachments"] = [
            {
                "filename": a.filename,
                # Encoded once per file and process for a campaign's messages (app.messaging.attachments).
                "content": attachment_files.base64_text(a.key, a.data),
                "content_type": a.content_type,
            }
            for a in message.attachments
        ]
    tags = {"message_id": str(message.message_id), **message.tags}
    params["tags"] = [{"name": _tag(k), "value": _tag(v)} for k, v in tags.items()]
    return params


def _retry_after(headers: dict[str, str]) -> float:
    lower = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after", "ratelimit-reset"):
        try:
            return max(0.0, float(lower[name]))
        except (KeyError, ValueError):
            continue
    return DEFAULT_RETRY_AFTER


def _status(code: object) -> int:
    try:
        return int(str(code))
    except ValueError:
        return 500


def result_for_error(exc: ResendError, *, has_idempotency_key: bool) -> SendResult:
    """The outcome of a refused or failed request (see the module docstring)."""
    status = _status(exc.code)
    error = f"{status} {exc.error_type}: {exc.message}"[:500]
    if exc.error_type == "HttpClientError":
        # The SDK wraps every transport failure (refused connect, timeout, reset) in this type.
        outcome = Outcome.RETRY if has_idempotency_key else Outcome.UNCERTAIN
        return SendResult(outcome, error_code="network", error=error)
    if status == 429:
        return SendResult(Outcome.RETRY, error_code="429", error=error, retry_after=_retry_after(exc.headers))
    if status in (401, 403):
        return SendResult(Outcome.AUTH, error_code=str(status), error=error)
    if status == 409 and exc.error_type == "concurrent_idempotent_requests":
        return SendResult(Outcome.RETRY, error_code="409", error=error, retry_after=DEFAULT_RETRY_AFTER)
    if status >= 500:
        return SendResult(Outcome.RETRY, error_code=str(status), error=error)
    return SendResult(Outcome.FAILED, error_code=str(status), error=error)


class ResendAdapter:
    kind = "resend"
    medium = Medium.EMAIL

    def __init__(self, config: ResendConfig, state: dict[str, Any], *, timeout: float = TIMEOUT) -> None:
        self.config = config
        self.state = state
        self._http = RequestsClient(timeout=cast(int, timeout))

    async def send(self, message: OutboundMessage) -> SendResult:
        return await asyncio.to_thread(self._send, message)

    async def aclose(self) -> None:
        # The SDK opens a connection per request (requests without a session): nothing is kept.
        return None

    def _send(self, message: OutboundMessage) -> SendResult:
        params = send_params(message, self.config)
        options: dict[str, Any] = {}
        if message.idempotency_key:
            options["idempotency_key"] = message.idempotency_key[:256]
        try:
            with _SDK_LOCK:
                resend.api_key = self.config.api_key
                resend.api_url = self.config.api_base_url.rstrip("/")
                resend.default_http_client = self._http
                try:
                    response = resend.Emails.send(
                        cast(resend.Emails.SendParams, params),
                        cast(resend.Emails.SendOptions, options) if options else None,
                    )
                finally:
                    # Nothing of this tenant lingers in the module for code that forgets to set it.
                    resend.api_key = None
        except ResendError as exc:
            return result_for_error(exc, has_idempotency_key=bool(message.idempotency_key))
        email_id = response.get("id") if isinstance(response, dict) else None
        if not email_id:
            return SendResult(Outcome.UNCERTAIN, error_code="no-id", error="200 without an email id")
        return SendResult(Outcome.SENT, provider_message_id=str(email_id))
