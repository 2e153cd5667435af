"""Images and documents customers send on WhatsApp: the webhook stores a pending attachment, the
`messaging.fetch_media` task downloads it from the provider (Cloud API simulator: media id → URL → bytes;
WPPConnect simulator: download-media) over real HTTP into storage, checked like every attachment."""

import secrets
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlmodel import col, select

from app.messaging import attachments, inbound_media
from app.settings import get_settings
from models.tenant import AuditLog, Interaction, Message
from tenants.database import session
from tests.conftest import api_login
from tests.integration.messaging.whatsapp_support import (  # noqa: F401
    add_cloud_channel,
    add_wpp_channel,
    audit_rows,
    live_app,
    run_async,
)
from tests.simulators import whatsapp_cloud, wppconnect

PHONE = "+5511987654321"
PNG = wppconnect.png("foto")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def cloud(live_app: str) -> Iterator[whatsapp_cloud.CloudApiSimulator]:  # noqa: F811
    with whatsapp_cloud.running(phone_number_id=str(10**14 + secrets.randbelow(10**14))) as s:
        s.webhook_url = f"{live_app}/api/webhooks/whatsapp-cloud"
        yield s


def _wait(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def _inbound(schema: str) -> list[Message]:
    with session(schema) as db:
        return list(db.exec(select(Message).where(Message.direction == "in").order_by(col(Message.id))).all())


def _ref(schema: str, message_id: int) -> dict:
    [msg] = [m for m in _inbound(schema) if m.id == message_id]
    [ref] = msg.attachments
    return ref


def _settle(schema: str, message_id: int) -> dict:
    """The attachment once the task the webhook kicked (in-process broker) has run; running the task
    again then changes nothing."""
    _wait(lambda: _ref(schema, message_id)["status"] != "pending", timeout=15)
    assert run_async(inbound_media.fetch(schema, message_id)) == 0
    return _ref(schema, message_id)


def test_cloud_image_is_downloaded_into_storage(tenant, cloud) -> None:
    add_cloud_channel(tenant, cloud)
    response = cloud.receive(PHONE, "segue a foto", kind="image", data=PNG, mime_type="image/png")
    assert response.status_code == 200, response.text
    [msg] = _inbound(tenant.schema)
    assert msg.kind == "image" and msg.body == "segue a foto"
    ref = _settle(tenant.schema, msg.id)
    assert ref["status"] == "stored", ref
    assert (ref["content_type"], ref["size"], ref["kind"]) == ("image/png", len(PNG), "image")
    assert ref["key"].startswith(f"attachments/{tenant.schema}/")
    assert attachments.load(tenant.schema, ref["key"]) == PNG
    # Meta's contract: metadata by media id, then the URL, both with the channel's bearer token.
    paths = [r["path"] for r in cloud.requests if r["method"] == "GET"]
    media_id = ref["provider_media_id"]
    assert f"/v21.0/{media_id}" in paths and f"/media-download/{media_id}" in paths
    assert all(
        r["headers"]["authorization"] == f"Bearer {cloud.access_token}"
        for r in cloud.requests
        if r["method"] == "GET"
    )
    # The timeline entry carries the stored reference too (previews), and the download is audited.
    with session(tenant.schema) as db:
        entry = db.exec(select(Interaction).where(Interaction.kind == "message_in")).one()
    assert entry.payload["attachments"][0]["key"] == ref["key"]
    [audit] = audit_rows(tenant.schema, "attachment.receive")
    assert audit.after["attachments"][0]["status"] == "stored"  # type: ignore[index]


def test_replays_store_one_file(tenant, cloud) -> None:
    add_cloud_channel(tenant, cloud)
    payload = cloud.inbound_payload(
        PHONE, "", kind="document", data=PDF, filename="fatura.pdf", wamid="wamid.media-replay"
    )
    cloud.open_window(PHONE)
    assert cloud.post(payload).status_code == 200
    assert cloud.post(payload).json()["ignored"] == 1
    [msg] = _inbound(tenant.schema)
    first = _settle(tenant.schema, msg.id)
    assert first["status"] == "stored" and first["filename"] == "fatura.pdf"
    assert first["content_type"] == "application/pdf"
    # A second kick of the task (a redelivered job) finds nothing pending.
    assert run_async(inbound_media.fetch(tenant.schema, msg.id)) == 0
    assert _settle(tenant.schema, msg.id) == first
    assert len(audit_rows(tenant.schema, "attachment.receive")) == 1
    downloads = [r for r in cloud.requests if r["path"].startswith("/media-download/")]
    assert len(downloads) == 1


def test_unknown_media_id_and_bad_token_fail_with_reasons(tenant, cloud) -> None:
    add_cloud_channel(tenant, cloud)
    cloud.receive(PHONE, "", kind="image")  # a media id the simulator does not know: 404
    [unknown] = _inbound(tenant.schema)
    ref = _settle(tenant.schema, unknown.id)
    assert ref["status"] == "failed" and ref["error_code"] == "not-found"
    assert ref["error"] == "O arquivo não está mais disponível no WhatsApp."

    cloud.access_token = "rotated-at-meta"  # the channel's token is refused from now on: 401
    cloud.receive(PHONE, "", kind="image", data=PNG, mime_type="image/png")
    second = _inbound(tenant.schema)[-1]
    ref = _settle(tenant.schema, second.id)
    assert ref["status"] == "failed" and ref["error_code"] == "auth"
    assert "credenciais" in ref["error"]


def test_size_limit_and_type_allow_list(tenant, cloud) -> None:
    add_cloud_channel(tenant, cloud)
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (attachments.IMAGE_MAX_BYTES + 1)
    cloud.receive(PHONE, "", kind="image", data=big, mime_type="image/png")
    cloud.receive(PHONE, "", kind="document", data=b"MZ\x90\x00binary", mime_type="application/x-msdownload")
    cloud.receive(PHONE, "", kind="document", data=b"MZ\x90\x00binary", mime_type="application/pdf")
    large, exe, disguised = (_settle(tenant.schema, m.id or 0) for m in _inbound(tenant.schema))
    assert (large["status"], large["error_code"]) == ("failed", "too-large")
    assert large["error"] == "Arquivo grande demais: o limite é 5 MB."
    # Refused on the metadata's file_size: the bytes were never fetched.
    assert not [r for r in cloud.requests if r["path"] == f"/media-download/{large['provider_media_id']}"]
    assert (exe["status"], exe["error_code"]) == ("failed", "type")
    assert (disguised["status"], disguised["error_code"]) == ("failed", "type")  # sniffed, not believed
    assert "Tipo de arquivo não permitido" in disguised["error"]


# ---------------------------------------------------------------- WPPConnect


@pytest.fixture
def app_url(live_app: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # noqa: F811
    monkeypatch.setenv("PUBLIC_URL", live_app)
    get_settings.cache_clear()
    yield live_app
    monkeypatch.delenv("PUBLIC_URL")
    get_settings.cache_clear()


def test_wppconnect_media_through_download_media(tenant, app_url) -> None:
    with wppconnect.running() as sim:
        channel_id = add_wpp_channel(tenant, sim)
        with httpx.Client(base_url=app_url) as c:
            headers = api_login(c, tenant)
            assert c.post(f"/api/canais/{channel_id}/sessao", headers=headers).status_code == 200
        _wait(lambda: sim.session("vendas").status == "QRCODE")
        sim.scan("vendas")
        response = sim.receive_media("vendas", PHONE, PDF, "application/pdf", filename="contrato.pdf")
        assert response is not None and response.status_code == 200, response
        [msg] = _inbound(tenant.schema)
        ref = _settle(tenant.schema, msg.id or 0)
        assert ref["status"] == "stored" and ref["filename"] == "contrato.pdf"
        assert attachments.load(tenant.schema, ref["key"]) == PDF
        calls = [r for r in sim.requests if r["path"] == "/api/vendas/download-media"]
        assert calls and calls[0]["json"] == {"messageId": msg.provider_message_id}

        sim.receive("vendas", PHONE, "oi")  # text: nothing to fetch
        assert _inbound(tenant.schema)[-1].attachments == []
    with session(tenant.schema) as db:
        assert db.exec(select(AuditLog).where(AuditLog.action == "attachment.receive")).first() is not None


def test_simulators_follow_the_download_contract(cloud) -> None:
    media_id = cloud.add_media(PNG, "image/png")
    base = f"{cloud.url}/v21.0"
    bad = httpx.get(f"{base}/{media_id}", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == 190
    good = {"Authorization": f"Bearer {cloud.access_token}"}
    assert httpx.get(f"{base}/999", headers=good).status_code == 404
    info = httpx.get(f"{base}/{media_id}", headers=good).json()
    assert (info["mime_type"], info["file_size"]) == ("image/png", len(PNG))
    assert httpx.get(info["url"], headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(info["url"], headers=good).content == PNG
    with wppconnect.running() as sim:
        token = httpx.post(f"{sim.url}/api/s1/{sim.secret_key}/generate-token").json()["token"]
        url = f"{sim.url}/api/s1/download-media"
        assert (
            httpx.post(url, json={"messageId": "x"}, headers={"Authorization": "Bearer no"}).status_code
            == 401
        )
        assert (
            httpx.post(url, json={"messageId": "x"}, headers={"Authorization": f"Bearer {token}"}).status_code
            == 404
        )


def test_a_lost_fetch_is_found_by_the_sweep(tenant) -> None:
    """A pending fetch older than STALE_AFTER_S (its kick lost) is listed for the sweep to kick again;
    fresh, fetched and day-old ones are not."""
    from datetime import timedelta

    from models.base import utcnow
    from models.tenant import Conversation, Customer

    with session(tenant.schema) as db:
        customer = Customer(name="Cliente")
        db.add(customer)
        db.flush()
        conv = Conversation(customer_id=customer.id, channel="whatsapp")
        db.add(conv)
        db.flush()
        now = utcnow()
        pending = [{"status": "pending", "kind": "image", "provider_media_id": "1"}]
        rows = {
            "lost": Message(conversation_id=conv.id, direction="in", attachments=pending,
                            created_at=now - timedelta(minutes=5)),
            "fresh": Message(conversation_id=conv.id, direction="in", attachments=pending, created_at=now),
            "ancient": Message(conversation_id=conv.id, direction="in", attachments=pending,
                               created_at=now - timedelta(days=2)),
            "stored": Message(conversation_id=conv.id, direction="in", created_at=now - timedelta(minutes=5),
                              attachments=[{"status": "stored", "key": "k"}]),
        }  # fmt: skip
        db.add_all(rows.values())
        db.commit()
        ids = {name: m.id for name, m in rows.items()}
    assert inbound_media.stale(tenant.schema) == [ids["lost"]]
    # The sweep runs it: its channel is gone (no channel_id), so it fails with a reason and leaves the list.
    from tasks.messaging import _sweep_tenant

    run_async(_sweep_tenant(tenant.schema, inline=True))
    assert inbound_media.stale(tenant.schema) == []
    ref = _ref(tenant.schema, ids["lost"])
    assert (ref["status"], ref["error"]) == ("failed", "O canal desta mensagem não existe mais.")
