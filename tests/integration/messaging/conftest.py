"""Messaging fixtures: the REST app under uvicorn (webhooks arrive over real HTTP), a Resend simulator,
and a tenant with e-mail channels whose secrets are encrypted as app.messaging.channels stores them; the
CRM's module tenant and actors, and an in-process REST client acting as any of them (`x-as`)."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.auth.actor import Actor
from app.security.keys import encrypt
from models.tenant import Channel, Conversation, Message
from tenants.database import session
from tests.conftest import TenantHandle
from tests.integration.crm.conftest import Crm, acting_client, crm  # noqa: F401  (the module tenant fixture)
from tests.integration.security.conftest import live_url  # noqa: F401  (fixture)
from tests.simulators.resend import ResendSimulator, new_webhook_secret


@dataclass
class MailTenant:
    handle: TenantHandle
    admin: Actor
    resend: Channel
    webhook_secret: str

    @property
    def schema(self) -> str:
        return self.handle.schema


@pytest.fixture
def resend_sim() -> Iterator[ResendSimulator]:
    sim = ResendSimulator(api_keys={"re_test_key"}).start()
    yield sim
    sim.stop()


def add_channel(schema: str, kind: str, config: dict, secrets: dict, **over: object) -> Channel:
    with session(schema) as db:
        channel = Channel(
            kind=kind,
            medium="email",
            name=f"{kind} {uuid.uuid4().hex[:4]}",
            config=config,
            secrets=encrypt(json.dumps(secrets)) if secrets else "",
            **over,
        )
        db.add(channel)
        db.commit()
        return channel


@pytest.fixture
def mail_tenant(make_tenant, resend_sim: ResendSimulator) -> MailTenant:
    handle = make_tenant()
    secret = new_webhook_secret()
    resend = add_channel(
        handle.schema,
        "resend",
        {"from_email": "contato@loja.example", "from_name": "Loja", "api_base_url": resend_sim.url},
        {"api_key": "re_test_key", "webhook_secret": secret},
        is_default=True,
    )
    return MailTenant(handle, handle.actor("admin"), resend, secret)


def outbound_message(schema: str, actor: Actor, channel: Channel, to: str, provider_id: str) -> int:
    """A customer with the address, a conversation and a sent e-mail with the provider's id."""
    from app.crm.customers import CustomerIn, create_customer

    with session(schema) as db:
        customer = create_customer(
            db,
            actor,
            CustomerIn.model_validate(
                {"name": f"Cliente {uuid.uuid4().hex[:6]}", "contacts": [{"kind": "email", "value": to}]}
            ),
        )
        db.flush()
        conv = Conversation(customer_id=customer.id, channel="email", channel_id=channel.id)
        db.add(conv)
        db.flush()
        msg = Message(
            conversation_id=conv.id,
            direction="out",
            status="sent",
            channel_id=channel.id,
            provider_message_id=provider_id,
            to_address=to,
        )
        db.add(msg)
        db.commit()
        assert msg.id is not None
        return msg.id


def message(schema: str, message_id: int) -> Message:
    with session(schema) as db:
        row = db.exec(select(Message).where(Message.id == message_id)).one()
        return row


@pytest.fixture(scope="module")
def api(crm: Crm) -> Iterator[TestClient]:  # noqa: F811 (the fixture, imported above)
    """The REST app in process; the `x-as` header picks one of the module's actors."""
    with acting_client(crm) as client:
        yield client


def as_(who: str) -> dict[str, str]:
    return {"x-as": who}
