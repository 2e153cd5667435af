"""Adapters kept per channel and process: the outbox's HTTP clients and SMTP connections outlive a chunk.

Building a Cloud API adapter per claimed chunk meant a new httpx client (and new TCP connections) for
every 25 messages, and an SMTP adapter per chunk a new connection (EHLO, STARTTLS, AUTH) as often. An
adapter class that sets `pooled = True` is built once per channel here and reused by every chunk and
every delivery of this process until:
- the channel's configuration changes (another token, host, port...): the next checkout finds a
  different fingerprint, closes the old adapter and builds a new one;
- it sits unused for IDLE_CLOSE_SECONDS (a server drops idle clients anyway);
- a send raised (the outbox discards it: a fresh one is built for the next chunk);
- the worker shuts down (`aclose_all`, the Taskiq WORKER_SHUTDOWN hook).

A configuration change or a failure never closes an adapter under a chunk still sending through it
(another delivery of the same process): it leaves the pool and is closed by its last user.

The adapter's `state` is the channel's provider state as read with the chunk's claim, handed over at
every checkout: the outbox saves what an adapter changed in it, so a pooled adapter must never carry a
state older than the row's. Adapters that are not pooled (WPPConnect, whose token is state; the
sandbox, which costs nothing to build) are built per chunk as before.

Async clients belong to the event loop that opened their connections: the pool is per loop, and a
pool left behind by a finished loop (asyncio.run in tests and scripts) is dropped, not reused.
"""

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass

from app.messaging import channels as channel_service
from app.messaging.protocol import ChannelAdapter
from models.tenant import Channel

log = logging.getLogger(__name__)

IDLE_CLOSE_SECONDS = 300.0


@dataclass
class _Entry:
    key: tuple[str, int]
    fingerprint: str
    adapter: ChannelAdapter
    used_at: float
    users: int = 0  # chunks sending through it now (other deliveries of this process may share it)
    retired: bool = False  # out of the pool: closed once its last user checks it in


@dataclass
class Lease:
    """An adapter lent for one chunk; `entry` is None for one built for this chunk only."""

    adapter: ChannelAdapter
    entry: _Entry | None = None


class AdapterPool:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._entries: dict[tuple[str, int], _Entry] = {}

    async def checkout(self, schema: str, channel: Channel) -> Lease:
        """The channel's adapter for one chunk; give it back with `checkin`."""
        if not pooled(channel.kind):
            return Lease(channel_service.adapter_for(channel))
        self._adopt_loop()
        now = time.monotonic()
        for key, idle in list(self._entries.items()):
            if idle.users == 0 and now - idle.used_at > IDLE_CLOSE_SECONDS:
                await self._retire(key)
        key, fingerprint = (schema, channel.id or 0), _fingerprint(channel)
        entry = self._entries.get(key)
        if entry is not None and entry.fingerprint != fingerprint:
            await self._retire(key)
            entry = None
        if entry is None:
            entry = _Entry(key, fingerprint, channel_service.adapter_for(channel), now)
            self._entries[key] = entry
        entry.users += 1
        entry.used_at = now
        # The row's state as of this chunk's claim (see the module docstring).
        entry.adapter.state = dict(channel.state or {})  # type: ignore[attr-defined]
        return Lease(entry.adapter, entry)

    async def checkin(self, lease: Lease, *, broken: bool = False) -> None:
        """Give the adapter back; `broken`: a send raised, so the next chunk gets a fresh one."""
        entry = lease.entry
        if entry is None:
            await _close(lease.adapter)
            return
        entry.users -= 1
        entry.used_at = time.monotonic()
        if broken and self._entries.get(entry.key) is entry:
            await self._retire(entry.key)
        elif entry.retired and entry.users == 0:
            await _close(entry.adapter)

    async def aclose_all(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        if self._loop is asyncio.get_running_loop():
            for entry in entries:
                await _close(entry.adapter)
        self._loop = None

    def __len__(self) -> int:
        return len(self._entries)

    def _adopt_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections of another (finished) loop cannot be awaited here; the garbage collector
            # closes their sockets.
            self._entries.clear()
            self._loop = loop

    async def _retire(self, key: tuple[str, int]) -> None:
        entry = self._entries.pop(key)
        entry.retired = True
        if entry.users == 0:  # otherwise the last chunk using it closes it (checkin)
            await _close(entry.adapter)


def pooled(kind: str) -> bool:
    from app.messaging.adapters import adapter_class  # the class only: a module per kind, imported lazily

    return bool(getattr(adapter_class(kind), "pooled", False))


def _fingerprint(channel: Channel) -> str:
    # The stored (encrypted) configuration: a rotated secret changes its ciphertext, so its fingerprint.
    raw = json.dumps([channel.kind, channel.config], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


async def _close(adapter: ChannelAdapter) -> None:
    try:
        await adapter.aclose()
    except Exception:  # a connection that breaks while closing is closed all the same
        log.warning("adapter pool: closing a %s adapter failed", adapter.kind, exc_info=True)


# One per process (each pool re-binds itself to the running event loop).
POOL = AdapterPool()
