"""ResendAdapter through the real `resend` SDK over HTTP against the local Resend simulator."""

import asyncio
import base64
import time
from collections.abc import Iterator

import pytest

from app.messaging.adapters.resend_email import ResendAdapter
from app.messaging.kinds import ResendConfig
from app.messaging.protocol import Attachment, OutboundMessage, Outcome
from tests.simulators.resend import ResendSimulator


@pytest.fixture
def sim() -> Iterator[ResendSimulator]:
    simulator = ResendSimulator(api_keys={"re_loja_a", "re_loja_b"}).start()
    yield simulator
    simulator.stop()


def _adapter(sim: ResendSimulator, api_key: str = "re_loja_a", **kw: object) -> ResendAdapter:
    config = ResendConfig(
        api_key=api_key, from_email="contato@loja.example", from_name="Loja Exemplo", api_base_url=sim.url
    )
    return ResendAdapter(config, {}, **kw)  # type: ignore[arg-type]


def _message(message_id: int = 11, **over: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": message_id,
        "to": "maria@cliente.example",
        "kind": "email",
        "subject": "Sua fatura de dezembro",
        "text": "Olá, Maria!",
        "html": "<p>Olá, <b>Maria</b>!</p>",
        "idempotency_key": f"msg-{message_id}-a1b2",
    }
    values.update(over)
    return OutboundMessage(**values)  # type: ignore[arg-type]


async def test_sends_every_field_through_the_sdk(sim: ResendSimulator) -> None:
    adapter = _adapter(sim)
    pdf = b"%PDF-1.4 fatura"
    result = await adapter.send(
        _message(
            attachments=[Attachment("fatura.pdf", "application/pdf", pdf)],
            headers={
                "List-Unsubscribe": "<https://crm.example.test/u/x>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            reply_to="atendimento@loja.example",
            tags={"campaign": "natal 2026"},
        )
    )
    await adapter.aclose()
    assert result.outcome is Outcome.SENT and result.provider_message_id
    [sent] = sim.sent
    assert sent.id == result.provider_message_id and sent.api_key == "re_loja_a"
    body = sent.body
    assert body["from"] == "Loja Exemplo <contato@loja.example>"
    assert body["to"] == ["maria@cliente.example"]
    assert body["subject"] == "Sua fatura de dezembro"
    assert body["html"] == "<p>Olá, <b>Maria</b>!</p>" and body["text"] == "Olá, Maria!"
    assert body["reply_to"] == "atendimento@loja.example"
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["attachments"] == [
        {
            "filename": "fatura.pdf",
            "content": base64.b64encode(pdf).decode(),
            "content_type": "application/pdf",
        }
    ]
    assert {"name": "message_id", "value": "11"} in body["tags"]
    assert {"name": "campaign", "value": "natal_2026"} in body["tags"]  # Resend's tag alphabet
    request = sim.requests[-1]
    assert request["headers"]["authorization"] == "Bearer re_loja_a"
    assert request["headers"]["idempotency-key"] == "msg-11-a1b2"


async def test_a_replayed_send_keeps_its_first_id(sim: ResendSimulator) -> None:
    adapter = _adapter(sim)
    first = await adapter.send(_message())
    again = await adapter.send(_message())
    assert first.outcome is again.outcome is Outcome.SENT
    assert first.provider_message_id == again.provider_message_id
    assert len(sim.sent) == 1


async def test_429_is_retry_with_the_servers_delay(sim: ResendSimulator) -> None:
    sim.rate_limit(1, retry_after=3)
    adapter = _adapter(sim)
    limited = await adapter.send(_message())
    assert limited.outcome is Outcome.RETRY and limited.error_code == "429" and limited.retry_after == 3.0
    later = await adapter.send(_message())
    assert later.outcome is Outcome.SENT


async def test_bad_key_is_auth_and_validation_is_failed(sim: ResendSimulator) -> None:
    wrong = await _adapter(sim, api_key="re_revogada").send(_message())
    assert wrong.outcome is Outcome.AUTH and wrong.error_code == "403"
    assert "re_revogada" not in (wrong.error or "")
    invalid = await _adapter(sim).send(_message(to="sem-arroba"))
    assert invalid.outcome is Outcome.FAILED and invalid.error_code == "422"
    no_subject = await _adapter(sim).send(_message(subject=""))
    assert no_subject.outcome is Outcome.FAILED and "missing_required_field" in (no_subject.error or "")
    assert sim.sent == []


async def test_server_errors_and_timeouts_are_retry_with_a_key(sim: ResendSimulator) -> None:
    sim.fail(500)
    down = await _adapter(sim).send(_message())
    assert down.outcome is Outcome.RETRY and down.error_code == "500"
    sim.heal()
    sim.hang(3)
    started = time.monotonic()
    slow = await _adapter(sim, timeout=0.5).send(_message(12))
    assert time.monotonic() - started < 2.5
    assert slow.outcome is Outcome.RETRY and slow.error_code == "network"
    # Without an idempotency key a retry could send twice: nobody resends it automatically.
    unkeyed = await _adapter(sim, timeout=0.5).send(_message(13, idempotency_key=None))
    assert unkeyed.outcome is Outcome.UNCERTAIN


async def test_tenants_in_one_process_never_borrow_each_others_key(sim: ResendSimulator) -> None:
    a, b = _adapter(sim, "re_loja_a"), _adapter(sim, "re_loja_b")
    sends = [(a if i % 2 == 0 else b).send(_message(100 + i)) for i in range(20)]
    results = await asyncio.gather(*sends)
    assert all(r.outcome is Outcome.SENT for r in results)
    for sent in sim.sent:
        tag = next(t["value"] for t in sent.body["tags"] if t["name"] == "message_id")
        assert sent.api_key == ("re_loja_a" if int(tag) % 2 == 0 else "re_loja_b")


async def test_a_stored_file_is_base64_encoded_once_for_all_its_messages(
    sim: ResendSimulator, monkeypatch
) -> None:
    from app.messaging import attachments

    encoded: list[int] = []
    original = attachments._base64
    monkeypatch.setattr(attachments, "_base64", lambda data: encoded.append(len(data)) or original(data))
    key = "attachments/t_x/" + "c" * 32 + "/oferta.pdf"
    pdf = b"%PDF-1.4 oferta " + bytes(range(256)) * 64
    cache = attachments.send_cache()
    data = cache.get(key, lambda: pdf)  # as the outbox reads it (attachments.load_for_send)
    adapter = _adapter(sim)
    try:
        for i in range(5):
            message = _message(
                message_id=100 + i,
                idempotency_key=f"msg-{100 + i}",
                attachments=[Attachment("oferta.pdf", "application/pdf", data, key=key)],
            )
            assert (await adapter.send(message)).outcome is Outcome.SENT
    finally:
        await adapter.aclose()
        cache.forget(key)
    assert encoded == [len(pdf)]
    assert {s.body["attachments"][0]["content"] for s in sim.sent} == {base64.b64encode(pdf).decode()}
    assert len(sim.sent) == 5
