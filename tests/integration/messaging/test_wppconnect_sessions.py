"""WPPConnect sessions end to end over real HTTP: REST /api/canais/{id}/sessao starts the session on
the simulator with our webhook URL; the simulator posts QR codes, status changes, customers' messages
and acks back to POST /api/webhooks/wppconnect/{tenant}-{channel}."""

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlmodel import select

from app.settings import get_settings
from models.tenant import Message
from tenants.database import session
from tests.conftest import api_login
from tests.integration.messaging.whatsapp_support import (  # noqa: F401
    add_wpp_channel,
    audit_rows,
    channel,
    live_app,
    run_async,
)
from tests.simulators.wppconnect import WppConnectSimulator, running

PHONE = "+5511987654321"


@pytest.fixture
def app_url(live_app: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # noqa: F811
    # The webhook URL handed to WPPConnect is built from PUBLIC_URL.
    monkeypatch.setenv("PUBLIC_URL", live_app)
    get_settings.cache_clear()
    yield live_app
    monkeypatch.delenv("PUBLIC_URL")
    get_settings.cache_clear()


@pytest.fixture
def sim() -> Iterator[WppConnectSimulator]:
    with running() as s:
        yield s


def _wait(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


def _headers(app_url: str, tenant) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=app_url) as c:
        return api_login(c, tenant)


def test_pairing_by_qr_code_then_messages_and_acks(tenant, sim, app_url) -> None:
    channel_id = add_wpp_channel(tenant, sim)
    headers = _headers(app_url, tenant)
    api = httpx.Client(base_url=app_url, headers=headers, timeout=10)

    started = api.post(f"/api/canais/{channel_id}/sessao")
    assert started.status_code == 200, started.text
    assert started.json()["status"] in {"connecting", "qrcode"}
    webhook = sim.session("vendas").webhook or ""
    assert webhook.startswith(f"{app_url}/api/webhooks/wppconnect/{tenant.id}-{channel_id}?token=")

    # The QR code arrives by webhook; the screen reads it from the channel.
    _wait(lambda: channel(tenant.schema, channel_id).status == "qrcode")
    shown = api.get(f"/api/canais/{channel_id}/sessao").json()
    assert shown["status"] == "qrcode" and shown["qrcode"].startswith("data:image/png;base64,")
    assert shown["status_label"] == "Aguardando leitura do QR code"
    png = api.get(f"/api/canais/{channel_id}/sessao/qrcode")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")

    assert sim.scan("vendas").status_code == 200  # type: ignore[union-attr]
    assert channel(tenant.schema, channel_id).status == "active"
    assert api.get(f"/api/canais/{channel_id}/sessao").json() | {"qrcode": None} == {
        "channel_id": channel_id,
        "status": "active",
        "status_label": "Conectado",
        "qrcode": None,
        "detail": None,
    }
    assert api.get(f"/api/canais/{channel_id}/sessao/qrcode").status_code == 204

    # A customer writes; a replay of the same message is ignored.
    first = sim.receive("vendas", "551187654321", "Quero um plano", msg_id="false_551187654321@c.us_AAA")
    assert first is not None and first.status_code == 200
    again = sim.receive("vendas", "551187654321", "Quero um plano", msg_id="false_551187654321@c.us_AAA")
    assert again is not None and again.json() == {"status": "ignored"}
    with session(tenant.schema) as db:
        [msg] = db.exec(select(Message).where(Message.direction == "in")).all()
        assert (msg.body, msg.channel_id, msg.status) == ("Quero um plano", channel_id, "received")
        conversation_id = msg.conversation_id

    # Our reply, as the outbox records it, then the phone's acks.

    from app.messaging.adapters.wppconnect import WppConnectAdapter
    from app.messaging.kinds import WppConnectConfig
    from app.messaging.protocol import OutboundMessage
    from tests.integration.messaging.test_wppconnect_adapter import _send

    config = WppConnectConfig(server_url=sim.url, secret_key=sim.secret_key, session="vendas")
    result = run_async(
        _send(
            WppConnectAdapter(config, dict(channel(tenant.schema, channel_id).state)),
            OutboundMessage(message_id=1, to=PHONE, text="Claro!"),
        )
    )
    assert result.ok and result.provider_message_id
    with session(tenant.schema) as db:
        db.add(
            Message(
                conversation_id=conversation_id,
                direction="out",
                body="Claro!",
                status="sent",
                provider_message_id=result.provider_message_id,
                channel_id=channel_id,
                to_address=PHONE,
            )
        )
        db.commit()
    for level in (2, 3):
        assert sim.ack("vendas", result.provider_message_id, level).status_code == 200  # type: ignore[union-attr]
    with session(tenant.schema) as db:
        out = db.exec(select(Message).where(Message.direction == "out")).one()
        assert out.status == "read" and out.delivered_at is not None

    # The phone is unpaired from the screen.
    ended = api.delete(f"/api/canais/{channel_id}/sessao")
    assert ended.status_code == 200 and ended.json()["status"] == "disconnected"
    assert sim.session("vendas").status == "CLOSED" and not sim.session("vendas").linked
    actions = [r.action for r in audit_rows(tenant.schema, "channel.session_start")]
    assert actions == ["channel.session_start"]
    assert audit_rows(tenant.schema, "channel.session_logout")


def test_webhook_secret_is_checked_and_failures_audited(tenant, sim, app_url) -> None:
    channel_id = add_wpp_channel(tenant, sim)
    api = httpx.Client(base_url=app_url, headers=_headers(app_url, tenant), timeout=10)
    assert api.post(f"/api/canais/{channel_id}/sessao").status_code == 200
    good = sim.session("vendas").webhook or ""
    base = good.split("?", 1)[0]
    event = {"event": "status-find", "status": "inChat", "session": "vendas"}
    assert httpx.post(base + "?token=errado", json=event).status_code == 401
    assert httpx.post(base, json=event).status_code == 401
    rows = audit_rows(tenant.schema, "webhook.rejected")
    assert [r.after["reason"] for r in rows] == ["mismatch", "missing"]
    token = good.split("token=", 1)[1]
    assert all(token not in str(r.after) for r in rows)
    # Unknown tenant, channel or key shape: 404 with one body; malformed (but authenticated): 400.
    for key in (f"{tenant.id}-999999", f"999999-{channel_id}", "abc", f"{tenant.id}-{channel_id}-1"):
        assert (
            httpx.post(f"{app_url}/api/webhooks/wppconnect/{key}?token={token}", json=event).status_code
            == 404
        )
    assert httpx.post(good, content=b"{nope").status_code == 400
    assert httpx.post(good, json={"event": "onack", "id": "x"}).status_code == 400
    assert httpx.post(good, json=event).status_code == 200
    assert channel(tenant.schema, channel_id).status == "active"


def test_close_keeps_the_phone_paired_and_start_reconnects(tenant, sim, app_url) -> None:
    channel_id = add_wpp_channel(tenant, sim)
    api = httpx.Client(base_url=app_url, headers=_headers(app_url, tenant), timeout=10)
    assert api.post(f"/api/canais/{channel_id}/sessao").status_code == 200
    _wait(lambda: channel(tenant.schema, channel_id).status == "qrcode")
    sim.scan("vendas")
    sim.disconnect_phone("vendas")
    assert channel(tenant.schema, channel_id).status == "disconnected"
    assert channel(tenant.schema, channel_id).status_detail == "desconnectedMobile"
    # Sending stopped (the outbox uses live sessions only) and the admins are told.
    from tests.integration.messaging.whatsapp_support import channel_alerts

    assert [title for _, title in channel_alerts(tenant.schema, channel_id)] == [
        "WhatsApp desconectado: " + channel(tenant.schema, channel_id).name
    ]
    again = api.post(f"/api/canais/{channel_id}/sessao")
    assert again.json()["status"] == "active"  # paired: no QR code this time


def test_expired_server_token_is_regenerated_by_the_status_call(tenant, sim, app_url) -> None:
    channel_id = add_wpp_channel(tenant, sim)
    api = httpx.Client(base_url=app_url, headers=_headers(app_url, tenant), timeout=10)
    assert api.post(f"/api/canais/{channel_id}/sessao").status_code == 200
    old = channel(tenant.schema, channel_id).state["token"]
    sim.expire_tokens()
    assert api.get(f"/api/canais/{channel_id}/sessao").status_code == 200
    assert channel(tenant.schema, channel_id).state["token"] != old


def test_permissions_and_unavailable_server(tenant, sim, app_url) -> None:
    channel_id = add_wpp_channel(tenant, sim)
    agent = tenant.actor("agent")
    with httpx.Client(base_url=app_url) as c:
        agent_headers = api_login(c, tenant, agent.email)
    assert httpx.post(f"{app_url}/api/canais/{channel_id}/sessao", headers=agent_headers).status_code == 403
    own = add_wpp_channel(tenant, sim, name="agente", owner_user_id=agent.user_id)
    assert httpx.post(f"{app_url}/api/canais/{own}/sessao", headers=agent_headers).status_code == 200
    sim.stop()
    down = httpx.get(f"{app_url}/api/canais/{own}/sessao", headers=agent_headers)
    assert down.status_code == 503 and down.json()["error"] == "provider_unavailable"


def test_a_hung_provider_does_not_block_the_web_process(tenant, sim, app_url) -> None:
    """While a session call waits on a hung WPPConnect server, webhooks and other requests are served."""
    channel_id = add_wpp_channel(tenant, sim)
    headers = _headers(app_url, tenant)
    assert httpx.post(f"{app_url}/api/canais/{channel_id}/sessao", headers=headers).status_code == 200
    webhook = sim.session("vendas").webhook or ""
    sim.hang(3.0)
    slow: list[int] = []
    thread = threading.Thread(
        target=lambda: slow.append(
            httpx.get(f"{app_url}/api/canais/{channel_id}/sessao", headers=headers, timeout=20).status_code
        )
    )
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)
    fast = httpx.post(webhook, json={"event": "status-find", "status": "inChat", "session": "vendas"})
    elapsed = time.monotonic() - started
    assert fast.status_code == 200 and elapsed < 2.0, elapsed
    thread.join()
    assert slow == [200]
