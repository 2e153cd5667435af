"""A Meta Cloud API number's health: what Meta says about it (quality webhooks: flagged or not, its
messaging tier) and what its recent sends say (the failed share), kept in `Channel.state["health"]`, and
how it bends the governor's `Policy` for the number.

Pure: no database, no Redis. `app.messaging.number_signals` changes the state; `limits.policy_for`
applies it on every batch, so a change reaches every worker at its next batch.

Levels, worst last: healthy → slowed (failure rate over the first threshold: half the rate) → flagged
(Meta flagged the number's quality: half the rate, tier capped at the current one) → restricted (failure
rate over the second threshold: paused in the governor until an admin resumes the channel).
"""

import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from app.messaging.governor import Policy

KEY = "health"
LEVELS = ("healthy", "slowed", "flagged", "restricted")
LABELS_PT = {
    "healthy": "Saudável",
    "slowed": "Desacelerado",
    "flagged": "Sinalizado pela Meta",
    "restricted": "Pausado por falhas",
}
SLOW_FACTOR = 0.5
_TIER = re.compile(r"^TIER_(\d+)(K?)$")


def tier_of(current_limit: str) -> int | None:
    """Meta's `current_limit` as unique recipients per 24 h; None for TIER_UNLIMITED or unknown."""
    found = _TIER.match(current_limit or "")
    if found is None:
        return None
    return int(found.group(1)) * (1000 if found.group(2) else 1)


@dataclass(frozen=True)
class NumberHealth:
    quality: str = "healthy"  # healthy | flagged: Meta's last quality event
    current_limit: str = ""  # Meta's tier as it sent it (TIER_1K...); "" = never told
    failures: str = "ok"  # ok | slowed | paused: the recent sends' failed share
    failure_rate: float = 0.0
    sample: int = 0
    last_event: str = ""
    updated_at: str = ""
    counted_from: str = ""  # ISO time of the admin's last resume: older sends no longer count

    @property
    def level(self) -> str:
        if self.failures == "paused":
            return "restricted"
        if self.quality == "flagged":
            return "flagged"
        return "slowed" if self.failures == "slowed" else "healthy"

    @property
    def meta_tier(self) -> int | None:
        return tier_of(self.current_limit)

    def as_state(self) -> dict[str, Any]:
        return asdict(self)


def read(state: dict[str, Any] | None) -> NumberHealth:
    raw = (state or {}).get(KEY)
    if not isinstance(raw, dict):
        return NumberHealth()
    fields = NumberHealth.__dataclass_fields__
    return NumberHealth(**{k: v for k, v in raw.items() if k in fields})


def worse(before: NumberHealth, after: NumberHealth) -> bool:
    """A worsening the admins hear about: a worse level, or a lower Meta tier."""
    if LEVELS.index(after.level) > LEVELS.index(before.level):
        return True
    if not before.current_limit or before.current_limit == after.current_limit:
        return False  # a first tier we are told is news, not a worsening
    old, new = before.meta_tier, after.meta_tier
    return new is not None and (old is None or new < old)


def adjust(policy: Policy, health: NumberHealth) -> Policy:
    """The number's policy under its health: Meta's tier caps the configured one (flagged numbers are
    not upgraded by Meta, so the cap holds while flagged), slowed and flagged numbers send at half rate
    (a quarter when both). A restricted number is stopped by the governor's pause, not by the policy."""
    tier = policy.unique_recipients_24h
    if (meta := health.meta_tier) is not None:
        tier = meta if tier is None else min(tier, meta)
    rate = policy.rate_per_s
    if rate is not None:
        factor = (SLOW_FACTOR if health.quality == "flagged" else 1.0) * (
            SLOW_FACTOR if health.failures in ("slowed", "paused") else 1.0
        )
        rate = max(1.0, rate * factor) if factor < 1.0 else rate
    return replace(policy, rate_per_s=rate, unique_recipients_24h=tier)
