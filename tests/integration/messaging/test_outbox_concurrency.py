"""A chunk's Cloud API sends go out concurrently over the channel's pooled client (Graph answers in
hundreds of milliseconds: one at a time would cap a number far below its tier), each once; WPPConnect
stays at one send in flight per session."""

import asyncio
import time
import uuid
from contextlib import AbstractContextManager

from app.messaging import channels, governor, outbox
from app.messaging.adapters.whatsapp_cloud import CloudApiAdapter
from app.messaging.adapters.wppconnect import WppConnectAdapter
from models.tenant import Channel, Conversation, Message
from tenants.database import session
from tests.integration.crm.conftest import Crm, new_customer
from tests.simulators.whatsapp_cloud import CloudApiSimulator, running

N = outbox.CLAIM_CHUNK
HANG = 0.3


def _queue(crm: Crm, sim: CloudApiSimulator, phones: list[str]) -> list[int]:
    """A Cloud API channel on the simulator (limits far above the test) and one message per phone."""
    for phone in phones:
        sim.open_window(phone)
    with session(crm.schema) as db:
        channel = channels.create_channel(
            db,
            crm.admin,
            channels.ChannelIn(
                kind="whatsapp_cloud",
                name=f"Cloud {uuid.uuid4().hex[:4]}",
                config={
                    "phone_number_id": sim.phone_number_id,
                    "waba_id": sim.waba_id,
                    "access_token": sim.access_token,
                    "app_secret": sim.app_secret,
                    "verify_token": uuid.uuid4().hex,
                    "api_base_url": sim.url,
                    "messages_per_second": 1000,
                    "daily_unique_recipients": None,
                },
            ),
        )
        customer = new_customer(db, crm.admin, contacts=[{"kind": "whatsapp", "value": phones[0]}])
        conv = Conversation(customer_id=customer.id, channel="whatsapp", channel_id=channel.id)
        db.add(conv)
        db.flush()
        row = db.get(Channel, channel.id)
        assert row is not None
        ids = [
            outbox.queue_message(db, conversation_id=conv.id or 0, channel=row, to_address=p, body="Olá").id
            or 0
            for p in phones
        ]
        db.info.pop("enqueue_after_commit", None)  # the test drives delivery itself
        db.commit()
    return ids


def _deliver(schema: str) -> outbox.DeliveryReport:
    async def run() -> outbox.DeliveryReport:
        try:
            return await outbox.deliver(schema, linger_s=0, max_batches=1)
        finally:
            await outbox.close_adapters()

    return asyncio.run(run())


def _sim() -> AbstractContextManager[CloudApiSimulator]:
    # A number of its own: the platform routes each phone_number_id to one channel.
    number = str(10**14 + uuid.uuid4().int % 10**14)
    return running(phone_number_id=number, pair_window=0.0, per_second_cap=10_000, record_requests=False)


def _phones() -> list[str]:
    return [f"+55119{uuid.uuid4().int % 10**8:08d}" for _ in range(N)]


def test_a_chunk_of_cloud_sends_is_concurrent_and_each_goes_once(crm: Crm) -> None:
    with _sim() as sim:
        ids = _queue(crm, sim, _phones())
        sim.hang(HANG)
        started = time.monotonic()
        report = _deliver(crm.schema)
        elapsed = time.monotonic() - started
        callbacks = [s.callback for s in sim.sent.values()]
    assert report.sent == N
    # One at a time would take N x HANG (7.5 s); CloudApiAdapter.max_in_flight at once, about two rounds.
    assert elapsed < N * HANG / 3, elapsed
    assert len(callbacks) == N and len(set(callbacks)) == N
    with session(crm.schema) as db:
        rows = [db.get(Message, i) for i in ids]
    assert all(r is not None and r.status == "sent" and r.provider_message_id for r in rows)


def test_a_governor_failure_mid_chunk_puts_the_unsent_rest_back(crm: Crm, monkeypatch) -> None:
    """Redis gone while a chunk's concurrent sends come back with 429: the sends made are marked for a
    retry, the ones not started go back to the queue; none is left uncertain (none reached Meta)."""

    def redis_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("redis restarting")

    monkeypatch.setattr(type(governor.get_governor()), "backoff", redis_down)
    with _sim() as sim:
        ids = _queue(crm, sim, _phones())
        sim.fail(429)
        report = _deliver(crm.schema)
        accepted = len(sim.sent)
    assert accepted == 0 and report.sent == 0 and report.uncertain == 0
    assert report.retried + report.deferred == N and report.deferred > 0
    with session(crm.schema) as db:
        statuses = {db.get(Message, i).status for i in ids}  # type: ignore[union-attr]
    assert statuses == {"queued"}


def test_only_the_cloud_adapter_sends_concurrently() -> None:
    assert CloudApiAdapter.max_in_flight > 1
    assert getattr(WppConnectAdapter, "max_in_flight", 1) == 1  # one send in flight per session
