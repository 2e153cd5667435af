"""Shared set-up of the WhatsApp tests: the app served over real HTTP (so simulators can post webhooks
to it), and channels created as the channels service stores them (encrypted secrets, Cloud API route)."""

import asyncio
import hashlib
import json
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlmodel import select

from app.security.keys import encrypt
from models.platform import ChannelRoute
from models.tenant import AuditLog, Channel
from tenants.database import platform_session, session
from tests.simulators.http_thread import ThreadedServer
from tests.simulators.whatsapp_cloud import CloudApiSimulator
from tests.simulators.wppconnect import WppConnectSimulator

T = TypeVar("T")


@pytest.fixture
def live_app(database_url: str) -> Iterator[str]:
    """The REST app on 127.0.0.1 (the same ASGI object production serves)."""
    from app.api import api

    server = ThreadedServer(api, "crm-app").start()
    try:
        yield server.url
    finally:
        server.stop()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a sync test, even when the thread already runs an event loop
    (Playwright's sync API does, when e2e tests share the process)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def add_channel(schema: str, kind: str, config: dict[str, Any], secrets: dict[str, Any], **extra: Any) -> int:
    with session(schema) as db:
        channel = Channel(
            kind=kind,
            medium="whatsapp",
            name=f"{kind} teste",
            config=config,
            secrets=encrypt(json.dumps(secrets)),
            **extra,
        )
        db.add(channel)
        db.commit()
        assert channel.id is not None
        return channel.id


def add_cloud_channel(tenant: Any, sim: CloudApiSimulator, verify_token: str = "verifique-me") -> int:
    channel_id = add_channel(
        tenant.schema,
        "whatsapp_cloud",
        {
            "phone_number_id": sim.phone_number_id,
            "waba_id": sim.waba_id,
            "display_phone": sim.display_phone,
            "api_base_url": sim.url,
            "api_version": "v21.0",
        },
        {"access_token": sim.access_token, "app_secret": sim.app_secret, "verify_token": verify_token},
    )
    with platform_session() as db:
        db.add(
            ChannelRoute(
                provider="whatsapp_cloud",
                external_id=sim.phone_number_id,
                tenant_id=tenant.id,
                channel_id=channel_id,
                verify_token_hash=hashlib.sha256(verify_token.encode()).hexdigest(),
                waba_id=sim.waba_id,
            )
        )
        db.commit()
    return channel_id


def add_wpp_channel(tenant: Any, sim: WppConnectSimulator, name: str = "vendas", **extra: Any) -> int:
    extra.setdefault("status", "disconnected")  # no session started yet
    return add_channel(
        tenant.schema,
        "wppconnect",
        {"server_url": sim.url, "session": name},
        {"secret_key": sim.secret_key},
        **extra,
    )


def audit_rows(schema: str, action: str) -> list[AuditLog]:
    with session(schema) as db:
        return list(db.exec(select(AuditLog).where(AuditLog.action == action)).all())


def channel(schema: str, channel_id: int) -> Channel:
    with session(schema) as db:
        found = db.get(Channel, channel_id)
        assert found is not None
        return found


def channel_alerts(schema: str, channel_id: int) -> list[tuple[int, str]]:
    """(user id, title) of the admins' alerts about a channel (app.messaging.alerts)."""
    from models.tenant import Notification

    with session(schema) as db:
        rows = db.exec(
            select(Notification).where(
                Notification.kind == "channel_alert", Notification.ref_id == channel_id
            )
        ).all()
        return [(n.user_id, n.title) for n in rows]
