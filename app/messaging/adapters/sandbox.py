"""The sandbox channel: records what would have been sent and never sends (demos, tests, benchmarks).

It answers like a provider: a provider id per accepted message, a permanent failure every
`fail_every`-th message when configured, and afterwards the status events a real provider would post
(delivered, then read for WhatsApp / opened for e-mail), which the outbox applies through
`emit_statuses` (app.messaging.inbound.apply_status once it exists).
"""

import logging
import uuid
from collections import deque
from typing import Any

from sqlmodel import Session

from app.messaging.kinds import SandboxConfig
from app.messaging.protocol import Medium, OutboundMessage, Outcome, SendResult, StatusEvent
from models.base import utcnow
from models.tenant import Channel

log = logging.getLogger(__name__)

# The last messages "sent" in this process, newest last: what a demo or a test looks at.
RECORDED: deque[OutboundMessage] = deque(maxlen=20_000)


class SandboxAdapter:
    def __init__(self, config: SandboxConfig, state: dict[str, Any]) -> None:
        self.config = config
        self.state = state
        # One class serves both sandbox kinds; the adapter speaks no medium-specific protocol.
        self.kind = "sandbox"
        self.medium = Medium(state.get("medium", Medium.WHATSAPP))

    async def send(self, message: OutboundMessage) -> SendResult:
        every = self.config.fail_every
        if every and message.message_id % every == 0:
            # Deterministic by message id, so a test knows which ones fail.
            return SendResult(Outcome.FAILED, error_code="sandbox-fail", error="sandbox: configured failure")
        RECORDED.append(message)
        log.debug("sandbox: recorded message %s to %s", message.message_id, message.to)
        return SendResult(
            Outcome.SENT, provider_message_id=f"sandbox-{message.message_id}-{uuid.uuid4().hex[:8]}"
        )

    async def aclose(self) -> None:
        return None


def status_events(channel: Channel, provider_message_id: str) -> list[StatusEvent]:
    """What a real provider would report after accepting the message."""
    now = utcnow()
    last = "opened" if channel.medium == Medium.EMAIL else "read"
    return [
        StatusEvent(provider_message_id=provider_message_id, status="delivered", at=now),
        StatusEvent(provider_message_id=provider_message_id, status=last, at=now),
    ]


def emit_statuses(db: Session, channel: Channel, provider_message_ids: list[str]) -> int:
    """Apply the sandbox's status events like a webhook would; returns how many were applied.

    Goes through app.messaging.inbound.apply_status (the webhooks' path) when it is installed; until
    then the events are only logged, so the send path does not depend on the status path."""
    try:
        from app.messaging import inbound  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        log.debug(
            "sandbox: inbound.apply_status not installed; %s status events dropped", len(provider_message_ids)
        )
        return 0
    applied = 0
    for pid in provider_message_ids:
        for event in status_events(channel, pid):
            if inbound.apply_status(db, channel, event) is not None:
                applied += 1
    return applied
