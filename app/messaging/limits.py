"""Which governor identity and rules (`governor.Policy`) a channel sends under.

Identities are per tenant: a WhatsApp number or session is one identity; e-mail is governed per sending
domain, because providers judge reputation per domain (two channels of one organisation sending from
the same domain share its limits).
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from app.messaging import number_health
from app.messaging.governor import Policy
from app.messaging.kinds import (
    ResendConfig,
    SandboxConfig,
    SmtpConfig,
    WhatsAppCloudConfig,
    WppConnectConfig,
)
from models.base import utcnow

PAIR_GAP_S = 6.0  # Meta: one message to the same user every 6 s (131056 beyond it)
WARMUP_FIRST_DAY = 20  # a new QR-code number: 20 on day one, doubling daily up to its cap


def warmup_cap(daily_cap: int, since: datetime, now: datetime | None = None) -> int:
    days = max(0, ((now or utcnow()) - since).days)
    return min(daily_cap, WARMUP_FIRST_DAY * 2 ** min(days, 20))


def identity_for(schema: str, channel_id: int, config: BaseModel) -> str:
    from_email = getattr(config, "from_email", None)
    if isinstance(config, ResendConfig | SmtpConfig) and from_email:
        return f"{schema}:email:{from_email.rsplit('@', 1)[-1].lower()}"
    return f"{schema}:channel:{channel_id}"


def policy_for(
    config: BaseModel,
    created_at: datetime,
    now: datetime | None = None,
    state: dict[str, Any] | None = None,
) -> Policy:
    """The channel's rules; `state` is the channel's provider state, whose number health (Cloud API)
    slows the number and caps its tier (`number_health.adjust`)."""
    if isinstance(config, WhatsAppCloudConfig):
        policy = Policy(
            rate_per_s=config.messages_per_second,
            pair_gap_s=PAIR_GAP_S,
            unique_recipients_24h=config.daily_unique_recipients,
        )
        return number_health.adjust(policy, number_health.read(state))
    if isinstance(config, WppConnectConfig):
        cap = warmup_cap(config.daily_cap, created_at, now) if config.warmup else config.daily_cap
        # Several minutes of waiting is normal here: the slot is reported and the message put back.
        return Policy(
            min_gap_s=config.min_gap_s, max_gap_s=max(config.min_gap_s, config.max_gap_s), daily_cap=cap
        )
    if isinstance(config, ResendConfig | SmtpConfig):
        return Policy(rate_per_s=config.messages_per_second, daily_cap=config.daily_cap)
    if isinstance(config, SandboxConfig):
        return Policy(rate_per_s=config.messages_per_second)
    raise ValueError(f"no sending policy for {type(config).__name__}")
