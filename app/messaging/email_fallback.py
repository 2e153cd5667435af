"""SMTP as the fallback of Resend (issue 18): which channel sends an e-mail when Resend cannot.

A pure rule over the tenant's channels, called by the outbox: before a send (no usable Resend channel)
and after a Resend result. It falls back only when Resend said no for reasons of its own account or
service (AUTH, a 5xx answer): never after a 429 (the governor waits instead), a network error (the
idempotent retry on Resend is safe, a second provider could deliver twice), a permanent refusal of the
message (SMTP would refuse it too) or an UNCERTAIN send (it may already be in the inbox).
"""

from collections.abc import Sequence

from app.messaging.protocol import Outcome, SendResult
from models.tenant.messaging import Channel

# A channel in one of these states is not tried first; the fallback takes over at once.
_UNUSABLE = frozenset({"error", "paused", "disconnected"})


def resend_gave_up(result: SendResult) -> bool:
    """True when a Resend result means "try SMTP": AUTH, or an HTTP 5xx answer from Resend."""
    if result.outcome is Outcome.AUTH:
        return True
    return (
        result.outcome is Outcome.RETRY
        and (result.error_code or "").isdigit()
        and int(result.error_code or 0) >= 500
    )


def smtp_channel(channels: Sequence[Channel]) -> Channel | None:
    """The tenant's SMTP channel: the e-mail default if it is SMTP, else the organisation's oldest one."""
    live = [c for c in channels if c.kind == "smtp" and c.deleted_at is None and c.status not in _UNUSABLE]
    live.sort(key=lambda c: (not c.is_default, c.owner_user_id is not None, c.id or 0))
    return live[0] if live else None


def fallback_for(
    channel: Channel | None, channels: Sequence[Channel], result: SendResult | None = None
) -> Channel | None:
    """The SMTP channel to send through instead of `channel`, or None to keep `channel` (or give up).

    `channel` is the e-mail channel chosen for the message (None: the tenant has no usable one);
    `result` is what it answered, when it was tried.
    """
    if channel is not None and channel.kind == "smtp":
        return None
    if channel is None or channel.deleted_at is not None:
        return smtp_channel(channels)
    if channel.kind != "resend":
        return None  # the sandbox and anything else keep their own answer
    if channel.status in _UNUSABLE or (result is not None and resend_gave_up(result)):
        return smtp_channel(channels)
    return None
