"""The Cloud API adapter over real HTTP against the Meta contract simulator: every documented outcome."""

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.messaging.adapters import build_adapter
from app.messaging.adapters.whatsapp_cloud import CloudApiAdapter
from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.protocol import Attachment, OutboundMessage, Outcome, TemplateRef
from tests.simulators.whatsapp_cloud import CloudApiSimulator, Template, running

# The async adapter fixture lives on the session loop (asyncio_default_fixture_loop_scope): so do the tests.
pytestmark = pytest.mark.asyncio(loop_scope="session")

TO = "+5511987654321"


@pytest.fixture
def sim() -> Iterator[CloudApiSimulator]:
    with running(pair_window=0.0) as s:
        s.templates.append(Template("boas_vindas", body="Olá {{1}}, sua fatura de {{2}} chegou."))
        s.open_window(TO)
        yield s


def _config(sim: CloudApiSimulator, **overrides: str) -> WhatsAppCloudConfig:
    values = {
        "phone_number_id": sim.phone_number_id,
        "waba_id": sim.waba_id,
        "access_token": sim.access_token,
        "app_secret": sim.app_secret,
        "verify_token": "verify-me",
        "api_base_url": sim.url,
        **overrides,
    }
    return WhatsAppCloudConfig(**values)


@pytest.fixture
async def adapter(sim: CloudApiSimulator) -> AsyncIterator[CloudApiAdapter]:
    a = CloudApiAdapter(_config(sim), {})
    yield a
    await a.aclose()


def _text(text: str = "Olá!", to: str = TO) -> OutboundMessage:
    return OutboundMessage(message_id=1, to=to, text=text)


async def test_text_is_sent_with_bearer_token_and_returns_the_wamid(sim, adapter) -> None:
    result = await adapter.send(_text())
    assert result.outcome is Outcome.SENT and result.provider_message_id in sim.sent
    request = sim.requests[-1]
    assert request["path"] == f"/v21.0/{sim.phone_number_id}/messages"
    assert request["headers"]["authorization"] == f"Bearer {sim.access_token}"
    assert request["json"]["to"] == "5511987654321" and request["json"]["type"] == "text"
    assert request["json"]["text"]["body"] == "Olá!"


async def test_build_adapter_resolves_the_kind(sim) -> None:
    adapter = build_adapter("whatsapp_cloud", _config(sim), {})
    try:
        assert isinstance(adapter, CloudApiAdapter)
        assert (await adapter.send(_text())).ok
    finally:
        await adapter.aclose()


async def test_connections_are_reused_across_sends(sim, adapter) -> None:
    peers = set()
    for _ in range(3):
        assert (await adapter.send(_text())).ok
        peers.add(sim.requests[-1]["headers"].get("host"))
    # One pooled session per adapter: keep-alive connections are reused (no new TCP handshake per send).
    idle = adapter._session.connector._conns  # type: ignore[union-attr]
    assert sum(len(conns) for conns in idle.values()) == 1


async def test_template_carries_body_parameters_and_works_outside_the_window(sim, adapter) -> None:
    outside = "+5511911112222"
    message = OutboundMessage(
        message_id=2,
        to=outside,
        kind="template",
        template=TemplateRef("boas_vindas", "pt_BR", ["Maria", "R$ 99,90"]),
    )
    result = await adapter.send(message)
    assert result.ok, result
    template = sim.sent[result.provider_message_id].payload["template"]
    assert template["language"] == {"code": "pt_BR"}
    assert template["components"] == [
        {
            "type": "body",
            "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "R$ 99,90"}],
        }
    ]


async def test_template_with_wrong_parameter_count_fails_permanently(adapter) -> None:
    message = OutboundMessage(
        message_id=3, to=TO, kind="template", template=TemplateRef("boas_vindas", "pt_BR", ["x"])
    )
    result = await adapter.send(message)
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "132000")


async def test_document_is_uploaded_then_sent_by_media_id(sim, adapter) -> None:
    pdf = Attachment("fatura.pdf", "application/pdf", b"%PDF-1.4 fake")
    result = await adapter.send(
        OutboundMessage(message_id=4, to=TO, kind="document", text="Sua fatura", attachments=[pdf])
    )
    assert result.ok, result
    document = sim.sent[result.provider_message_id].payload["document"]
    assert sim.media[document["id"]]["data"] == b"%PDF-1.4 fake"
    assert document["filename"] == "fatura.pdf" and document["caption"] == "Sua fatura"


async def test_image_upload(sim, adapter) -> None:
    png = Attachment("foto.png", "image/png", b"\x89PNG....")
    result = await adapter.send(OutboundMessage(message_id=5, to=TO, kind="image", attachments=[png]))
    assert (
        result.ok
        and sim.media[sim.sent[result.provider_message_id].payload["image"]["id"]]["mime_type"] == "image/png"
    )


async def test_window_closed(adapter) -> None:
    result = await adapter.send(_text(to="+5511900000000"))
    assert (result.outcome, result.error_code) == (Outcome.WINDOW_CLOSED, "131047")


async def test_window_expires_after_24_hours(sim, adapter) -> None:
    sim.open_window(TO, at=time.time() - 24 * 3600 - 5)
    assert (await adapter.send(_text())).outcome is Outcome.WINDOW_CLOSED


async def test_throughput_cap_is_retry_with_backoff(sim, adapter) -> None:
    sim.per_second_cap = 2
    outcomes = [(await adapter.send(_text())).outcome for _ in range(3)]
    assert outcomes[:2] == [Outcome.SENT, Outcome.SENT]
    last = await adapter.send(_text())
    assert (last.outcome, last.error_code) == (Outcome.RETRY, "130429") and last.retry_after


async def test_pair_rate_is_retry_after_six_seconds(sim, adapter) -> None:
    sim.pair_window = 6.0
    assert (await adapter.send(_text())).ok
    result = await adapter.send(_text())
    assert (result.outcome, result.error_code, result.retry_after) == (Outcome.RETRY, "131056", 6.0)


async def test_undeliverable_spam_and_blocked_are_distinct_failures(sim, adapter) -> None:
    sim.undeliverable.add("5511987654321")
    assert (await adapter.send(_text())).error_code == "131026"
    sim.undeliverable.clear()
    sim.blocked.add("5511987654321")
    blocked = await adapter.send(_text())
    assert (blocked.outcome, blocked.error_code) == (Outcome.FAILED, "131050")
    # 131008: Meta's "required parameter is missing" (here, no recipient), its own failure.
    missing = await adapter.send(_text(to=""))
    assert (missing.outcome, missing.error_code) == (Outcome.FAILED, "131008")
    sim.spam_limited = True
    spam = await adapter.send(_text())
    assert (spam.outcome, spam.error_code) == (Outcome.FAILED, "131048")


async def test_wrong_or_expired_token_is_auth(sim) -> None:
    adapter = CloudApiAdapter(_config(sim, access_token="wrong"), {})
    try:
        result = await adapter.send(_text())
        assert (result.outcome, result.error_code) == (Outcome.AUTH, "190")
        assert "wrong" not in (result.error or "")
    finally:
        await adapter.aclose()
    sim.expire_token()
    fresh = CloudApiAdapter(_config(sim), {})
    try:
        assert (await fresh.send(_text())).outcome is Outcome.AUTH
    finally:
        await fresh.aclose()


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_and_429_are_retry(sim, adapter, status: int) -> None:
    sim.fail(status)
    result = await adapter.send(_text())
    assert result.outcome is Outcome.RETRY
    if status == 429:
        assert result.retry_after == 2.0


async def test_timeout_after_sending_is_uncertain(sim) -> None:
    sim.hang(1.0)
    adapter = CloudApiAdapter(_config(sim), {}, timeout=httpx.Timeout(0.2))
    try:
        result = await adapter.send(_text())
    finally:
        await adapter.aclose()
    assert (result.outcome, result.error_code) == (Outcome.UNCERTAIN, "timeout")


async def test_unreachable_server_is_retry(sim) -> None:
    sim.stop()
    adapter = CloudApiAdapter(_config(sim), {})
    try:
        assert (await adapter.send(_text())).outcome is Outcome.RETRY
    finally:
        await adapter.aclose()


# ---------------------------------------------------------------- stored files: one upload, media id reused

KEY = "attachments/t_x/" + "b" * 32 + "/oferta.pdf"
PDF = b"%PDF-1.4 oferta de dezembro " + bytes(range(256)) * 8


def _document(message_id: int, to: str = TO, key: str | None = KEY, data: bytes = PDF) -> OutboundMessage:
    pdf = Attachment("oferta.pdf", "application/pdf", data, key=key)
    return OutboundMessage(message_id=message_id, to=to, kind="document", text="Oferta", attachments=[pdf])


def _posts(sim: CloudApiSimulator, what: str) -> int:
    return sum(1 for r in sim.requests if r["method"] == "POST" and r["path"].endswith(f"/{what}"))


async def test_a_stored_file_is_uploaded_once_and_then_sent_by_its_media_id(sim, adapter) -> None:
    import asyncio

    first = await adapter.send(_document(10))
    # A chunk's concurrent sends of a file not uploaded yet wait for one upload.
    rest = await asyncio.gather(*(adapter.send(_document(11 + i)) for i in range(16)))
    assert first.ok and all(r.ok for r in rest), rest
    assert len(sim.uploads) == 1 and sim.uploads[0]["size"] == len(PDF)
    ids = {sim.sent[r.provider_message_id].payload["document"]["id"] for r in [first, *rest]}
    assert len(ids) == 1 and sim.media[ids.pop()]["data"] == PDF
    # Without a storage key (not a stored file) nothing is remembered: uploaded for each send.
    assert (await adapter.send(_document(40, key=None))).ok
    assert (await adapter.send(_document(41, key=None))).ok
    assert len(sim.uploads) == 3


async def test_media_ids_are_per_number(sim) -> None:
    with running(pair_window=0.0, phone_number_id="106540352249999") as other:
        other.open_window(TO)
        adapters = [CloudApiAdapter(_config(s), {}) for s in (sim, other)]
        try:
            for adapter in adapters:
                for i in range(3):
                    assert (await adapter.send(_document(50 + i))).ok
        finally:
            for adapter in adapters:
                await adapter.aclose()
        assert len(sim.uploads) == 1 and len(other.uploads) == 1


async def test_a_remembered_media_id_expires_and_the_file_goes_up_again(sim, adapter, monkeypatch) -> None:
    from app.messaging.adapters import whatsapp_cloud

    assert (await adapter.send(_document(60))).ok
    assert (await adapter.send(_document(61))).ok
    assert len(sim.uploads) == 1
    monkeypatch.setattr(whatsapp_cloud, "MEDIA_ID_SECONDS", 0.0)
    assert (await adapter.send(_document(62))).ok
    assert len(sim.uploads) == 2


@pytest.mark.parametrize("how", ["deleted", "retention"])
async def test_a_media_id_meta_refuses_is_uploaded_again_and_the_message_sent(sim, adapter, how) -> None:
    assert (await adapter.send(_document(70))).ok
    if how == "deleted":
        sim.forget_media()
    else:  # 31 days later on Meta's side; our remembered id has not expired (a clock of its own)
        start = time.time()
        sim.clock = lambda: start + 31 * 24 * 3600
        sim.open_window(TO)
    result = await adapter.send(_document(71))
    assert result.ok, result
    assert len(sim.uploads) == 2 and _posts(sim, "messages") == 3  # the refused one, then the resend
    sent = sim.sent[result.provider_message_id].payload["document"]["id"]
    assert sim.media[sent]["data"] == PDF
    assert (await adapter.send(_document(72))).ok and len(sim.uploads) == 2  # the new id is remembered


async def test_a_refused_media_id_is_replaced_once_only(sim, adapter, monkeypatch) -> None:
    assert (await adapter.send(_document(80))).ok
    monkeypatch.setattr(sim, "_media_known", lambda media_id: False)  # Meta refuses every id now
    result = await adapter.send(_document(81))
    # The remembered id refused, the file uploaded again, its fresh id refused too: failed, no loop.
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "100")
    assert len(sim.uploads) == 2 and _posts(sim, "messages") == 3
    # An id Meta never took is not replaced when refused: a refusal that is not about its age would
    # otherwise cost an upload per message.
    result = await adapter.send(_document(82))
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "100")
    assert len(sim.uploads) == 2 and _posts(sim, "messages") == 4


async def test_an_uncertain_media_send_is_never_made_again(sim) -> None:
    adapter = CloudApiAdapter(_config(sim), {}, timeout=httpx.Timeout(0.3))
    try:
        assert (await adapter.send(_document(90))).ok
        sim.hang(1.0)
        result = await adapter.send(_document(91))
    finally:
        await adapter.aclose()
    assert (result.outcome, result.error_code) == (Outcome.UNCERTAIN, "timeout")
    assert _posts(sim, "messages") == 2 and len(sim.uploads) == 1
