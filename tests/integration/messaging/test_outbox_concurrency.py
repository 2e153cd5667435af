"""A chunk's Cloud API sends go out concurrently over the channel's pooled client (Graph answers in
hundreds of milliseconds: one at a time would cap a number far below its tier), each once; WPPConnect
stays at one send in flight per session."""

import asyncio
import time
import uuid

from app.messaging import channels, outbox
from app.messaging.adapters.whatsapp_cloud import CloudApiAdapter
from app.messaging.adapters.wppconnect import WppConnectAdapter
from models.tenant import Channel, Conversation, Message
from tenants.database import session
from tests.integration.crm.conftest import Crm, new_customer
from tests.simulators.whatsapp_cloud import running

N = outbox.CLAIM_CHUNK
HANG = 0.3


def test_a_chunk_of_cloud_sends_is_concurrent_and_each_goes_once(crm: Crm) -> None:
    phones = [f"+55119{uuid.uuid4().int % 10**8:08d}" for _ in range(N)]
    with running(pair_window=0.0, per_second_cap=10_000, record_requests=False) as sim:
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
                outbox.queue_message(
                    db, conversation_id=conv.id or 0, channel=row, to_address=p, body="Olá"
                ).id
                for p in phones
            ]
            db.info.pop("enqueue_after_commit", None)  # the test drives delivery itself
            db.commit()
        sim.hang(HANG)

        async def deliver() -> outbox.DeliveryReport:
            try:
                return await outbox.deliver(crm.schema, linger_s=0)
            finally:
                await outbox.close_adapters()

        started = time.monotonic()
        report = asyncio.run(deliver())
        elapsed = time.monotonic() - started
        callbacks = [s.callback for s in sim.sent.values()]
    assert report.sent == N
    # One at a time would take N x HANG (7.5 s); CloudApiAdapter.max_in_flight at once, about two rounds.
    assert elapsed < N * HANG / 3, elapsed
    assert len(callbacks) == N and len(set(callbacks)) == N
    with session(crm.schema) as db:
        rows = [db.get(Message, i) for i in ids]
    assert all(r is not None and r.status == "sent" and r.provider_message_id for r in rows)


def test_only_the_cloud_adapter_sends_concurrently() -> None:
    assert CloudApiAdapter.max_in_flight > 1
    assert getattr(WppConnectAdapter, "max_in_flight", 1) == 1  # one send in flight per session
