"""The sandbox channel: records what would have been sent and never sends (demos, tests, benchmarks).

It answers like a provider: a provider id per accepted message, a permanent failure every
`fail_every`-th message when configured, and afterwards the status events a real provider would post
(read for WhatsApp / opened for e-mail, which implies delivered), which the outbox applies through
`emit_statuses` (the webhooks' own path, app.messaging.inbound.apply_status).
"""

import itertools
import logging
import os
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


_prefix = uuid.uuid4().hex[:8]
_sends = itertools.count(1)


def _next_send_id() -> str:
    return f"{_prefix}{next(_sends):x}"


def _new_prefix() -> None:
    """A forked worker process must not repeat its parent's ids."""
    global _prefix
    _prefix = uuid.uuid4().hex[:8]


os.register_at_fork(after_in_child=_new_prefix)


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
        # Unique per send (a retried message gets a new id, as from a real provider), without a uuid4 per
        # message: this process's random prefix and a counter.
        return SendResult(Outcome.SENT, provider_message_id=f"sandbox-{message.message_id}-{_next_send_id()}")

    async def aclose(self) -> None:
        return None


def status_events(channel: Channel, provider_message_id: str) -> list[StatusEvent]:
    """What a real provider would report after accepting the message: read (WhatsApp) / opened (e-mail).

    One event carries the whole progression (a read message was delivered: apply_status stamps both),
    because a status costs a locked read and a write per message and the sandbox also serves throughput
    benchmarks, where two events per message halved the rate."""
    last = "opened" if channel.medium == Medium.EMAIL else "read"
    return [StatusEvent(provider_message_id=provider_message_id, status=last, at=utcnow())]


def emit_statuses(db: Session, channel: Channel, provider_message_ids: list[str]) -> int:
    """Apply the sandbox's status events like a webhook would (app.messaging.inbound.apply_status);
    returns how many messages they touched."""
    from app.messaging import inbound  # function-level: inbound imports the CRM services

    applied = 0
    for pid in provider_message_ids:
        for event in status_events(channel, pid):
            if inbound.apply_status(db, channel, event) is not None:
                applied += 1
    return applied
