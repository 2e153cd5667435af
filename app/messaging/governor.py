"""The sending governor: one per deployment, shared by every worker, keyed by sending identity (a Cloud
API number, a WPPConnect session, an e-mail domain or account). It hands out time slots instead of
refusing: a caller asks for the next slot for one recipient and sleeps until it (`asyncio.sleep`, no
retry loop, no CPU while waiting). A slot further away than the policy's `max_wait_s` is not taken, only
reported, so the outbox can put the message back with `next_attempt_at` at that time instead of holding a
worker and a lease for minutes.

The rules (`Policy`), all checked at once:
- a rate: at most `rate_per_s` slots per second, evenly spaced (Cloud API throughput, e-mail provider
  limits), or a randomised gap between `min_gap_s` and `max_gap_s` (WPPConnect sessions look human);
- the pair rate: one message to the same recipient every `pair_gap_s` (Cloud API: 6 s, error 131056);
  a message held by it is never granted early (its slot would hold up every other recipient's): the
  caller puts it back until the pair time and goes on with other recipients;
- a cap on sends per rolling 24 hours (`daily_cap`: WPPConnect warm-up, e-mail quotas);
- Meta's messaging tier: at most `unique_recipients_24h` distinct recipients per rolling 24 hours;
  recipients already contacted in the window do not count again;
- a backoff the provider imposed (`backoff`: 130429 / 131056 / 429 answers) and a pause (`pause`: a
  ban signal, a disconnected session, a bounce rate over the threshold) that stops the identity until
  someone resumes it.

Two stores with the same algorithm: Redis (one Lua script, atomic across processes and machines) when
REDIS_URL is set, and a lock-protected dict in embedded mode. The clock is a parameter (`now`, epoch
seconds) so tests drive it; production callers pass `time.time()`.
"""

import random
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from app.settings import get_settings

DAY_S = 86_400.0


@dataclass(frozen=True)
class Policy:
    rate_per_s: float | None = None
    min_gap_s: float = 0.0
    max_gap_s: float = 0.0
    pair_gap_s: float = 0.0
    daily_cap: int | None = None
    unique_recipients_24h: int | None = None
    max_wait_s: float = 5.0

    def gap(self, rng: random.Random | None = None) -> float:
        """Seconds between two slots of this identity (randomised when a range is set)."""
        if self.max_gap_s > 0:
            return (rng or random).uniform(self.min_gap_s, max(self.min_gap_s, self.max_gap_s))
        return 1.0 / self.rate_per_s if self.rate_per_s else 0.0


@dataclass(frozen=True)
class Slot:
    granted: bool
    at: float  # when to send (granted) or when to ask again (not granted)
    reason: str | None = None  # why not granted: wait | pair | daily_cap | tier | paused

    def wait(self, now: float) -> float:
        return max(0.0, self.at - now)


class Governor(Protocol):
    def reserve(self, identity: str, recipient: str, policy: Policy, now: float) -> Slot: ...
    def backoff(self, identity: str, until: float) -> None: ...
    def pause(self, identity: str, reason: str) -> None: ...
    def resume(self, identity: str) -> None: ...
    def usage(self, identity: str, now: float) -> dict[str, Any]: ...


# The Lua script and the Python store implement exactly this; keep them in step (tests run both).
# KEYS: 1 next-slot, 2 pair key, 3 sends zset (24 h), 4 recipients zset (24 h), 5 paused
# ARGV: now, gap, pair_gap, daily_cap (-1 none), tier (-1 none), max_wait, recipient, member id
_LUA = """
local now = tonumber(ARGV[1])
local gap = tonumber(ARGV[2])
local pair_gap = tonumber(ARGV[3])
local daily_cap = tonumber(ARGV[4])
local tier = tonumber(ARGV[5])
local max_wait = tonumber(ARGV[6])
local recipient = ARGV[7]
local member = ARGV[8]
local day = 86400
-- %.6f: tostring() keeps 14 digits, which at today's epoch is only 0.1 ms and drifts over many slots.
local function fmt(x) return string.format('%.6f', x) end

local paused = redis.call('GET', KEYS[5])
if paused then
  return {0, fmt(now + 60), 'paused'}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - day)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - day)
if daily_cap >= 0 and redis.call('ZCARD', KEYS[3]) >= daily_cap then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {0, fmt(tonumber(oldest[2]) + day), 'daily_cap'}
end
local known = redis.call('ZSCORE', KEYS[4], recipient)
if tier >= 0 and not known and redis.call('ZCARD', KEYS[4]) >= tier then
  local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
  return {0, fmt(tonumber(oldest[2]) + day), 'tier'}
end
local slot = now
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if nxt > slot then slot = nxt end
if pair_gap > 0 then
  local pair = tonumber(redis.call('GET', KEYS[2]) or '0')
  if pair > slot then return {0, fmt(pair), 'pair'} end
end
if slot - now > max_wait then
  return {0, fmt(slot), 'wait'}
end
local ttl = math.ceil((slot + gap - now) * 1000) + 60000
redis.call('SET', KEYS[1], fmt(slot + gap), 'PX', ttl)
if pair_gap > 0 then
  local pair_ttl = math.ceil((slot + pair_gap - now) * 1000) + 1000
  redis.call('SET', KEYS[2], fmt(slot + pair_gap), 'PX', pair_ttl)
end
if daily_cap >= 0 then
  redis.call('ZADD', KEYS[3], slot, member)
  redis.call('EXPIRE', KEYS[3], day + 3600)
end
if tier >= 0 then
  -- The window is rolling: a recipient counts from its latest message.
  redis.call('ZADD', KEYS[4], slot, recipient)
  redis.call('EXPIRE', KEYS[4], day + 3600)
end
return {1, fmt(slot), ''}
"""


def _arg(value: int | None) -> int:
    return -1 if value is None else value


class RedisGovernor:
    def __init__(self, client: Any, prefix: str = "gov") -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(_LUA)
        self._rng = random.Random()

    def _k(self, identity: str, part: str) -> str:
        # The identity in braces: every key of one identity lands on one Redis Cluster slot.
        return f"{self.prefix}:{{{identity}}}:{part}"

    def reserve(self, identity: str, recipient: str, policy: Policy, now: float) -> Slot:
        keys = [
            self._k(identity, "next"),
            self._k(identity, f"pair:{recipient}"),
            self._k(identity, "sends"),
            self._k(identity, "recipients"),
            self._k(identity, "paused"),
        ]
        args = [
            repr(now),
            repr(policy.gap(self._rng)),
            repr(policy.pair_gap_s),
            _arg(policy.daily_cap),
            _arg(policy.unique_recipients_24h),
            repr(policy.max_wait_s),
            recipient,
            f"{now!r}:{self._rng.getrandbits(48)}",
        ]
        granted, at, reason = self._script(keys=keys, args=args)
        reason = reason.decode() if isinstance(reason, bytes) else reason
        return Slot(bool(int(granted)), float(at), reason or None)

    def backoff(self, identity: str, until: float) -> None:
        key = self._k(identity, "next")
        # Only ever pushes the next slot later (a concurrent reservation may already be further out).
        self.client.eval(
            "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') "
            "if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'EX', 90000) end return 1",
            1,
            key,
            repr(until),
        )

    def pause(self, identity: str, reason: str) -> None:
        self.client.set(self._k(identity, "paused"), reason)

    def resume(self, identity: str) -> None:
        self.client.delete(self._k(identity, "paused"))

    def usage(self, identity: str, now: float) -> dict[str, Any]:
        sends, recipients = self._k(identity, "sends"), self._k(identity, "recipients")
        pipe = self.client.pipeline()
        pipe.zcount(sends, now - DAY_S, "+inf").zcount(recipients, now - DAY_S, "+inf")
        pipe.get(self._k(identity, "paused")).get(self._k(identity, "next"))
        sent, unique, paused, nxt = pipe.execute()
        return {
            "sends_24h": int(sent),
            "unique_recipients_24h": int(unique),
            "paused": paused.decode() if isinstance(paused, bytes) else paused,
            "next_slot": float(nxt) if nxt else None,
        }


class MemoryGovernor:
    """The same rules in one process (embedded mode: no Redis)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._pair: dict[tuple[str, str], float] = {}
        self._sends: dict[str, list[float]] = {}
        self._recipients: dict[str, dict[str, float]] = {}
        self._paused: dict[str, str] = {}
        self._rng = random.Random()

    def reserve(self, identity: str, recipient: str, policy: Policy, now: float) -> Slot:
        with self._lock:
            if identity in self._paused:
                return Slot(False, now + 60, "paused")
            sends = [t for t in self._sends.get(identity, []) if t > now - DAY_S]
            self._sends[identity] = sends
            seen = {r: t for r, t in self._recipients.get(identity, {}).items() if t > now - DAY_S}
            self._recipients[identity] = seen
            if policy.daily_cap is not None and len(sends) >= policy.daily_cap:
                return Slot(False, min(sends) + DAY_S, "daily_cap")
            known = recipient in seen
            tier = policy.unique_recipients_24h
            if tier is not None and not known and len(seen) >= tier:
                return Slot(False, min(seen.values()) + DAY_S, "tier")
            slot = max(now, self._next.get(identity, 0.0))
            if policy.pair_gap_s > 0:
                pair = self._pair.get((identity, recipient), 0.0)
                if pair > slot:
                    return Slot(False, pair, "pair")
            if slot - now > policy.max_wait_s:
                return Slot(False, slot, "wait")
            self._next[identity] = slot + policy.gap(self._rng)
            if policy.pair_gap_s > 0:
                self._pair[(identity, recipient)] = slot + policy.pair_gap_s
            if policy.daily_cap is not None:
                sends.append(slot)
            if tier is not None:
                seen[recipient] = slot
            return Slot(True, slot, None)

    def backoff(self, identity: str, until: float) -> None:
        with self._lock:
            self._next[identity] = max(self._next.get(identity, 0.0), until)

    def pause(self, identity: str, reason: str) -> None:
        with self._lock:
            self._paused[identity] = reason

    def resume(self, identity: str) -> None:
        with self._lock:
            self._paused.pop(identity, None)

    def usage(self, identity: str, now: float) -> dict[str, Any]:
        with self._lock:
            return {
                "sends_24h": sum(1 for t in self._sends.get(identity, []) if t > now - DAY_S),
                "unique_recipients_24h": sum(
                    1 for t in self._recipients.get(identity, {}).values() if t > now - DAY_S
                ),
                "paused": self._paused.get(identity),
                "next_slot": self._next.get(identity),
            }


_memory = MemoryGovernor()


@lru_cache
def _redis_governor(url: str) -> RedisGovernor:
    import redis  # function-level: only with REDIS_URL

    return RedisGovernor(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))


def get_governor() -> Governor:
    url = get_settings().redis_url
    return _redis_governor(url) if url else _memory


def now() -> float:
    return time.time()
