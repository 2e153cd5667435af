"""The WPPConnect adapter over real HTTP against the server simulator: token life cycle and outcomes."""

from collections.abc import Iterator

import httpx
import pytest

from app.messaging.adapters import build_adapter
from app.messaging.adapters.wppconnect import WppConnectAdapter, read_token
from app.messaging.kinds import WppConnectConfig
from app.messaging.protocol import Attachment, OutboundMessage, Outcome, TemplateRef
from tests.simulators.wppconnect import WppConnectSimulator, running

TO = "+5511987654321"


@pytest.fixture
def sim() -> Iterator[WppConnectSimulator]:
    with running() as s:
        s.session("vendas").status = "CONNECTED"
        yield s


def _config(sim: WppConnectSimulator, secret: str | None = None) -> WppConnectConfig:
    return WppConnectConfig(server_url=sim.url, secret_key=secret or sim.secret_key, session="vendas")


async def _send(adapter: WppConnectAdapter, message: OutboundMessage):  # type: ignore[no-untyped-def]
    try:
        return await adapter.send(message)
    finally:
        await adapter.aclose()


def _text(text: str = "Olá!") -> OutboundMessage:
    return OutboundMessage(message_id=1, to=TO, text=text)


async def test_first_send_generates_the_token_and_keeps_it_encrypted(sim) -> None:
    state: dict[str, str] = {}
    result = await _send(WppConnectAdapter(_config(sim), state), _text())
    assert result.ok and result.provider_message_id in sim.session("vendas").sent
    token = read_token(state)
    assert token in sim.session("vendas").tokens and state["token"] != token
    send = sim.requests[-1]
    assert send["path"] == "/api/vendas/send-message"
    assert send["json"] == {"phone": "5511987654321", "message": "Olá!", "isGroup": False}
    assert send["headers"]["authorization"] == f"Bearer {token}"
    # The next adapter reuses the stored token: no generate-token call.
    before = len(sim.requests)
    assert (await _send(WppConnectAdapter(_config(sim), state), _text())).ok
    assert len(sim.requests) == before + 1


async def test_expired_token_is_generated_again_once(sim) -> None:
    state: dict[str, str] = {}
    assert (await _send(WppConnectAdapter(_config(sim), state), _text())).ok
    old = read_token(state)
    sim.expire_tokens()
    result = await _send(WppConnectAdapter(_config(sim), state), _text())
    assert result.ok and read_token(state) != old
    assert [r["path"].rsplit("/", 1)[-1] for r in sim.requests[-3:]] == [
        "send-message",
        "generate-token",
        "send-message",
    ]


async def test_wrong_secret_key_is_auth_and_does_not_leak_it(sim) -> None:
    result = await _send(WppConnectAdapter(_config(sim, "segredo-errado"), {}), _text())
    assert (result.outcome, result.error_code) == (Outcome.AUTH, "wpp-secret")
    assert "segredo-errado" not in (result.error or "")


async def test_disconnected_session_needs_attention(sim) -> None:
    sim.session("vendas").status = "QRCODE"
    result = await _send(WppConnectAdapter(_config(sim), {}), _text())
    assert (result.outcome, result.error_code) == (Outcome.AUTH, "wpp-disconnected")


async def test_number_without_whatsapp_fails(sim) -> None:
    sim.unregistered.add("5511987654321")
    result = await _send(WppConnectAdapter(_config(sim), {}), _text())
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "wpp-invalid-number")


async def test_document_goes_as_base64_data_url(sim) -> None:
    pdf = Attachment("fatura.pdf", "application/pdf", b"%PDF-1.4")
    message = OutboundMessage(message_id=2, to=TO, kind="document", text="Sua fatura", attachments=[pdf])
    result = await _send(WppConnectAdapter(_config(sim), {}), message)
    assert result.ok
    body = sim.requests[-1]["json"]
    assert body["base64"] == "data:application/pdf;base64,JVBERi0xLjQ="
    assert (body["filename"], body["caption"], body["phone"]) == ("fatura.pdf", "Sua fatura", "5511987654321")


async def test_templates_are_not_a_qr_session_thing(sim) -> None:
    message = OutboundMessage(message_id=3, to=TO, kind="template", template=TemplateRef("x", "pt_BR"))
    result = await _send(WppConnectAdapter(_config(sim), {}), message)
    assert (result.outcome, result.error_code) == (Outcome.FAILED, "unsupported")


async def test_timeout_after_sending_is_uncertain(sim) -> None:
    state: dict[str, str] = {}
    assert (await _send(WppConnectAdapter(_config(sim), state), _text())).ok
    sim.hang(1.0)
    adapter = WppConnectAdapter(_config(sim), state, timeout=httpx.Timeout(0.2))
    result = await _send(adapter, _text())
    assert (result.outcome, result.error_code) == (Outcome.UNCERTAIN, "timeout")


async def test_unreachable_server_is_retry(sim) -> None:
    sim.stop()
    adapter = build_adapter("wppconnect", _config(sim), {"token": "whatever"})
    assert isinstance(adapter, WppConnectAdapter)
    assert (await _send(adapter, _text())).outcome is Outcome.RETRY
