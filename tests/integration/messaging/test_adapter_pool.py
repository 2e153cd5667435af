"""The outbox's adapters kept per channel and process (app.messaging.adapters.pool): one SMTP connection
across chunks, a new adapter when the channel's configuration changes, never closed under a chunk still
sending through it, a fresh one after a send raised; kinds that are not pooled are built per chunk."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.messaging.adapters.pool import AdapterPool
from app.messaging.protocol import OutboundMessage
from models.tenant import Channel
from tests.integration.messaging.conftest import add_channel
from tests.simulators.smtp_server import SmtpServer


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path, mode="none").start()
    yield server
    server.stop()


def _mail(i: int) -> OutboundMessage:
    return OutboundMessage(
        message_id=i, to=f"c{i}@cliente.example", kind="email", text="Oi", subject="Oferta"
    )


def _smtp_channel(schema: str, port: int) -> Channel:
    config = {"host": "127.0.0.1", "port": port, "security": "none", "from_email": "contato@loja.example"}
    return add_channel(schema, "smtp", config, {})


async def test_one_smtp_connection_serves_every_chunk_until_the_config_changes(make_tenant, sink) -> None:
    schema = make_tenant().schema
    channel = _smtp_channel(schema, sink.port)
    pool = AdapterPool()
    adapters = []
    for i in range(3):  # three chunks
        lease = await pool.checkout(schema, channel)
        assert (await lease.adapter.send(_mail(i))).ok
        await pool.checkin(lease)
        adapters.append(lease.adapter)
    assert len({id(a) for a in adapters}) == 1 and len(pool) == 1
    assert len({r.session_id for r in sink.received}) == 1

    held = await pool.checkout(schema, channel)  # a chunk of another delivery, still sending
    channel.config = {**channel.config, "from_name": "Loja"}
    fresh = await pool.checkout(schema, channel)
    assert fresh.adapter is not held.adapter
    assert (await held.adapter.send(_mail(10))).ok  # not closed under its user
    await pool.checkin(held)
    assert held.adapter.open_connections == 0  # type: ignore[attr-defined]  # closed by its last user
    await pool.checkin(fresh)
    await pool.aclose_all()
    assert fresh.adapter.open_connections == 0 and len(pool) == 0  # type: ignore[attr-defined]


async def test_a_send_that_raised_gets_a_fresh_adapter_next_time(make_tenant, sink) -> None:
    schema = make_tenant().schema
    channel = _smtp_channel(schema, sink.port)
    pool = AdapterPool()
    first = await pool.checkout(schema, channel)
    await pool.checkin(first, broken=True)
    second = await pool.checkout(schema, channel)
    assert second.adapter is not first.adapter
    await pool.checkin(second)
    await pool.aclose_all()


async def test_kinds_that_are_not_pooled_are_built_per_chunk(make_tenant) -> None:
    schema = make_tenant().schema
    channel = add_channel(schema, "sandbox_email", {}, {})
    pool = AdapterPool()
    a, b = await pool.checkout(schema, channel), await pool.checkout(schema, channel)
    assert a.adapter is not b.adapter and a.entry is None and len(pool) == 0
    await pool.checkin(a)
    await pool.checkin(b)
