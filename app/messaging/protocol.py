"""The one protocol every provider adapter implements, and the values that cross it.

Adapters are async (HTTP via httpx, SMTP and the Resend SDK in a worker thread) and never touch the
database: the outbox gives them an `OutboundMessage` and records the `SendResult`; webhook parsers turn a
provider's payload into `StatusEvent`s and `InboundEvent`s that `app.messaging.inbound` applies.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    SENT = "sent"  # accepted by the provider; provider_message_id set
    RETRY = "retry"  # transient (throughput, 429, 5xx, timeout before the request left): try later
    FAILED = "failed"  # permanent for this message (undeliverable, invalid recipient, rejected)
    WINDOW_CLOSED = "window_closed"  # WhatsApp 24-hour window closed (131047): a template is needed
    AUTH = "auth"  # credentials expired or wrong (190, 401): the channel needs attention
    UNCERTAIN = "uncertain"  # the request may have reached the provider (timeout after sending)


class Medium(StrEnum):
    WHATSAPP = "whatsapp"
    EMAIL = "email"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    # The storage key `data` was read from, set by the outbox only (checked against the message's
    # tenant): the same key is the same file, so adapters reuse what they made of it — an encoded MIME
    # part, a provider's media id — across a campaign's messages instead of once per message.
    key: str | None = None


@dataclass(frozen=True)
class TemplateRef:
    """A provider-approved template (Meta Cloud API): name, language and positional parameters."""

    name: str
    language: str
    body_params: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int
    to: str  # E.164 (+5511987654321) for WhatsApp, lower-case address for e-mail
    kind: str = "text"  # text | template | image | document | email
    text: str = ""
    subject: str | None = None
    html: str | None = None
    template: TemplateRef | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # e-mail: List-Unsubscribe etc.
    reply_to: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_message_id: str | None = None
    error_code: str | None = None  # the provider's code as text, e.g. "131047", "429", "smtp-550"
    error: str | None = None  # English, for logs and the message row; never contains secrets
    retry_after: float | None = None  # seconds, when the provider said so

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT


@dataclass(frozen=True)
class StatusEvent:
    """A provider's report on a message we sent: sent / delivered / read / failed, opened, clicked..."""

    provider_message_id: str
    # sent, delivered, read, failed, delivery_delayed, bounced, complained, opened, clicked
    status: str
    at: datetime | None = None
    error_code: str | None = None
    error: str | None = None
    event_id: str | None = None  # for replay detection when the provider gives one
    recipient: str | None = None
    # Our message id as the provider echoes it back (Cloud API `biz_opaque_callback_data`): matches a
    # status to a message whose provider id was never recorded (the worker died after the call).
    message_id: int | None = None


@dataclass(frozen=True)
class InboundEvent:
    """A message from a customer: the sender's address (E.164 / e-mail) and what they sent."""

    provider_message_id: str
    sender: str
    text: str = ""
    kind: str = "text"  # text | image | document | button | audio | other
    media: dict[str, Any] = field(default_factory=dict)  # provider media id, mime type, filename, caption
    sender_name: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class MediaFile:
    """A file a customer sent, downloaded from the provider."""

    data: bytes
    content_type: str  # as the provider declares it (the stored type is sniffed from the bytes)


class MediaError(Exception):
    """A provider media download that did not give the file. `transient`: worth another try (network,
    429, 5xx); otherwise final (unknown media id, refused token, too large)."""

    def __init__(self, code: str, detail: str, *, transient: bool = False) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.transient = code, detail, transient


class ChannelAdapter(Protocol):
    """One provider account. Built per send batch from a channel's decrypted config."""

    kind: str
    medium: Medium

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def aclose(self) -> None: ...
