"""One file sent to many through the outbox (a campaign's attachment is copied onto every message): read
from storage once per process (an S3 server: moto), uploaded to Meta once per number and then sent by
its media id (the Cloud API simulator), encoded once for SMTP (aiosmtpd); a media id Meta stopped
knowing is replaced and the messages still sent; the cache never hands one tenant's file to another."""

import asyncio
import logging
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from app.errors import NotFound
from app.messaging import attachments, channels, outbox
from app.messaging.adapters import smtp
from models.tenant import Channel, Conversation, Customer, Message
from tenants.database import session
from tests.integration.messaging.whatsapp_support import add_cloud_channel
from tests.simulators.smtp_server import SmtpServer
from tests.simulators.whatsapp_cloud import CloudApiSimulator

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 1024  # 256 KB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CountingStorage:
    """The S3 storage, counting the calls that reach the server."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CountingStorage]:
    from moto.server import ThreadedMotoServer

    from app.storage.s3 import S3Storage

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        storage = CountingStorage(
            S3Storage(f"127.0.0.1:{port}", "testing", "testing", "crm-anexos", False, tmp_path / "spool")
        )
        monkeypatch.setattr(attachments, "get_storage", lambda: storage)
        attachments.send_cache().clear()
        yield storage
    finally:
        attachments.send_cache().clear()
        server.stop()


def _sim() -> CloudApiSimulator:
    # Numbers are platform-wide routes: a fresh id per simulator.
    return CloudApiSimulator(phone_number_id=str(10**14 + uuid.uuid4().int % 10**14), pair_window=0.0).start()


@pytest.fixture
def sims() -> Iterator[list[CloudApiSimulator]]:
    started = [_sim(), _sim()]
    yield started
    for sim in started:
        sim.stop()


def _conversation(schema: str, channel_id: int, medium: str) -> int:
    with session(schema) as db:
        customer = Customer(name="Lista da campanha")
        db.add(customer)
        db.flush()
        conv = Conversation(customer_id=customer.id or 0, channel=medium, channel_id=channel_id)
        db.add(conv)
        db.commit()
        return conv.id or 0


def _queue(
    schema: str, channel_id: int, conv_id: int, addresses: list[str], ref: dict, **kw: Any
) -> list[int]:
    with session(schema) as db:
        channel = db.get(Channel, channel_id)
        assert channel is not None
        ids = [
            outbox.queue_message(
                db, conversation_id=conv_id, channel=channel, to_address=to, attachments=[ref], **kw
            ).id
            or 0
            for to in addresses
        ]
        db.info.pop("enqueue_after_commit", None)  # the test drives delivery
        db.commit()
    return ids


def _statuses(schema: str, ids: list[int]) -> Counter[str]:
    with session(schema) as db:
        return Counter(db.exec(select(Message.status).where(Message.id.in_(ids))).all())  # type: ignore[attr-defined]


def _phones(sim: CloudApiSimulator, first: int, n: int) -> list[str]:
    phones = [f"+55119{first + i:08d}" for i in range(n)]
    for phone in phones:
        sim.open_window(phone[1:])
    return phones


def test_a_campaign_file_is_read_once_and_uploaded_once_per_number(tenant, s3, sims) -> None:
    schema, n = tenant.schema, 60
    ref = attachments.store(schema, "oferta.pdf", PDF)
    s3.calls.clear()
    targets = []
    for k, sim in enumerate(sims):
        channel_id = add_cloud_channel(tenant, sim)
        conv = _conversation(schema, channel_id, "whatsapp")
        targets.append((sim, channel_id, conv, k))

    async def campaign() -> list[int]:
        ids: list[int] = []
        for sim, channel_id, conv, k in targets:
            phones = _phones(sim, 10_000 * (k + 1), n)
            ids += _queue(schema, channel_id, conv, phones, ref, body="Oferta de dezembro", kind="document")
        await outbox.deliver(schema)
        # Meta deleted the file meanwhile (or 30 days went by): the next messages are refused with the
        # remembered id, the file goes up again once, and every message is sent.
        for sim, channel_id, conv, k in targets:
            sim.forget_media()
            phones = _phones(sim, 10_000 * (k + 1) + 5_000, n)
            ids += _queue(schema, channel_id, conv, phones, ref, body="Ainda vale", kind="document")
        await outbox.deliver(schema)
        await outbox.close_adapters()
        return ids

    ids = asyncio.run(campaign())
    assert _statuses(schema, ids) == {"sent": 4 * n}
    for sim in sims:
        assert len(sim.uploads) == 2, sim.uploads  # one per number, and one after Meta forgot it
        media = Counter(s.payload["document"]["id"] for s in sim.sent.values())
        assert sorted(media.values()) == [n, n] and len(sim.sent) == 2 * n
        assert [sim.media[m]["data"] for m in media if m in sim.media] == [PDF]  # the live one
        assert {s.payload["document"]["filename"] for s in sim.sent.values()} == {"oferta.pdf"}
    # 240 messages, one process: the file was fetched from S3 once.
    assert s3.calls["open_read"] == 1 and s3.calls["exists"] == 1


def test_smtp_messages_carry_the_file_encoded_once(tenant, s3, tmp_path: Path, monkeypatch) -> None:
    schema, n = tenant.schema, 20
    ref = attachments.store(schema, "oferta.pdf", PDF)
    s3.calls.clear()
    encodings: list[int] = []
    original = smtp._wire_body

    def counted(data: bytes) -> bytes:
        encodings.append(len(data))
        return original(data)

    monkeypatch.setattr(smtp, "_wire_body", counted)
    sink = SmtpServer(tmp_path, mode="none").start()
    try:
        with session(schema) as db:
            channel = channels.create_channel(
                db,
                tenant.actor("admin"),
                channels.ChannelIn(
                    kind="smtp",
                    name="SMTP da loja",
                    config={
                        "host": "127.0.0.1",
                        "port": sink.port,
                        "security": "none",
                        "from_email": "ofertas@loja.example",
                        "messages_per_second": 1000,
                    },
                ),
            )
            db.commit()
            channel_id = channel.id or 0
        conv = _conversation(schema, channel_id, "email")
        addresses = [f"cliente{i}@exemplo.com.br" for i in range(n)]
        ids = _queue(schema, channel_id, conv, addresses, ref, kind="email", subject="Oferta", body="Segue")

        async def run() -> None:
            await outbox.deliver(schema)
            await outbox.close_adapters()

        asyncio.run(run())
        assert _statuses(schema, ids) == {"sent": n}
        assert len(sink.received) == n
        for got in sink.received:
            mime = message_from_bytes(got.data, policy=default_policy)
            [part] = list(mime.iter_attachments())  # type: ignore[attr-defined]
            assert part.get_filename() == "oferta.pdf" and part.get_content() == PDF
    finally:
        sink.stop()
    assert encodings == [len(PDF)] and s3.calls["open_read"] == 1


def test_a_file_gone_from_storage_fails_its_message_as_before(tenant, s3, sims, caplog) -> None:
    schema, sim = tenant.schema, sims[0]
    ref = attachments.store(schema, "oferta.pdf", PDF)
    s3.inner.delete(ref["key"])  # gone behind the application's back
    channel_id = add_cloud_channel(tenant, sim)
    conv = _conversation(schema, channel_id, "whatsapp")
    ids = _queue(schema, channel_id, conv, _phones(sim, 30_000, 2), ref, body="Oferta", kind="document")

    async def run() -> None:
        await outbox.deliver(schema)
        await outbox.close_adapters()

    with caplog.at_level(logging.ERROR, logger="app.messaging.outbox"):
        asyncio.run(run())
    with session(schema) as db:
        rows = db.exec(select(Message.status, Message.error_code).where(Message.id.in_(ids))).all()  # type: ignore[attr-defined]
    assert set(rows) == {("failed", "no-attachment")} and sim.uploads == []
    assert sum("missing from storage" in r.getMessage() for r in caplog.records) == 2


def test_the_cache_never_hands_a_file_to_another_tenant(s3) -> None:
    ref = attachments.store("t_aaa", "oferta.pdf", PDF)
    data = attachments.load_for_send("t_aaa", ref["key"])
    assert data == PDF and attachments.load_for_send("t_aaa", ref["key"]) is data
    assert s3.calls["open_read"] == 1
    # Cached or not, the tenant check runs on every call: another organisation's key is not found.
    with pytest.raises(NotFound):
        attachments.load_for_send("t_bbb", ref["key"])
    # The same file name under the other tenant's prefix is another key: not in storage.
    with pytest.raises(NotFound):
        attachments.load_for_send("t_bbb", ref["key"].replace("t_aaa", "t_bbb"))
    assert s3.calls["open_read"] == 1
    # Deleting a file through the application drops it from this process's cache at once.
    attachments.discard("t_aaa", ref["key"])
    with pytest.raises(NotFound):
        attachments.load_for_send("t_aaa", ref["key"])
