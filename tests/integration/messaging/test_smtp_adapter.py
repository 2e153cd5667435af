"""SmtpAdapter against a real SMTP server (aiosmtpd on 127.0.0.1) with STARTTLS, implicit TLS and AUTH."""

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.messaging.adapters.smtp import SmtpAdapter
from app.messaging.kinds import SmtpConfig
from app.messaging.protocol import Attachment, OutboundMessage, Outcome
from tests.simulators.smtp_server import SmtpServer, free_port

USERS = {"crm@loja.example": "s3nha-forte"}


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    srv = SmtpServer(tmp_path, mode="starttls", users=USERS).start()
    # The client trusts the self-signed certificate as it would a private CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(srv.cert_file))
    yield srv
    srv.stop()


def _config(port: int, **over: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "crm@loja.example",
        "password": "s3nha-forte",
        "security": "starttls",
        "from_email": "contato@loja.example",
        "from_name": "Loja Exemplo",
    }
    values.update(over)
    return SmtpConfig.model_validate(values)


def _message(message_id: int = 7, to: str = "maria@cliente.example", **over: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": message_id,
        "to": to,
        "kind": "email",
        "subject": "Sua fatura de dezembro",
        "text": "Olá, Maria! Sua fatura está disponível.",
        "html": "<p>Olá, <b>Maria</b>! Sua fatura está disponível.</p>",
    }
    values.update(over)
    return OutboundMessage(**values)  # type: ignore[arg-type]


async def test_starttls_auth_sends_both_parts_attachment_and_headers(server: SmtpServer) -> None:
    adapter = SmtpAdapter(_config(server.port), {})
    pdf = b"%PDF-1.4 fatura\n" + bytes(range(256))
    msg = _message(
        attachments=[Attachment("fatura-dezembro.pdf", "application/pdf", pdf)],
        headers={
            "List-Unsubscribe": "<https://crm.example.test/u/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": "<not-theirs@evil.example>",  # ours wins
        },
        reply_to="atendimento@loja.example",
    )
    try:
        result = await adapter.send(msg)
    finally:
        await adapter.aclose()
    assert result.outcome is Outcome.SENT, result
    assert result.provider_message_id and result.provider_message_id.endswith("@loja.example>")
    [got] = server.received
    assert got.authenticated_as == "crm@loja.example"
    assert got.mail_from == "contato@loja.example" and got.rcpt_tos == ["maria@cliente.example"]
    mime = got.message
    assert mime["Message-ID"] == result.provider_message_id
    assert mime["From"] == "Loja Exemplo <contato@loja.example>"
    assert mime["To"] == "maria@cliente.example"
    assert mime["Reply-To"] == "atendimento@loja.example"
    assert mime["Subject"] == "Sua fatura de dezembro"
    assert mime["List-Unsubscribe"] == "<https://crm.example.test/u/abc>"
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mime.get_all("Message-ID") == [result.provider_message_id]
    assert mime.get_content_type() == "multipart/mixed"
    body_text = mime.get_body(preferencelist=("plain",))
    body_html = mime.get_body(preferencelist=("html",))
    assert body_text is not None and "Olá, Maria!" in body_text.get_content()
    assert body_html is not None and "<b>Maria</b>" in body_html.get_content()
    [att] = list(mime.iter_attachments())
    assert att.get_filename() == "fatura-dezembro.pdf" and att.get_content_type() == "application/pdf"
    assert att.get_content() == pdf


async def test_one_connection_carries_a_batch_and_reconnects_after_a_drop(server: SmtpServer) -> None:
    adapter = SmtpAdapter(_config(server.port), {})
    try:
        first = [await adapter.send(_message(i, to=f"c{i}@cliente.example")) for i in range(3)]
        assert [r.outcome for r in first] == [Outcome.SENT] * 3
        assert len({r.session_id for r in server.received}) == 1
        assert len({r.provider_message_id for r in first}) == 3
        # The server restarts: the kept connection is dead, the next send reconnects by itself.
        server.stop()
        server.start()
        again = await adapter.send(_message(9, to="depois@cliente.example"))
    finally:
        await adapter.aclose()
    assert again.outcome is Outcome.SENT, again
    assert len({r.session_id for r in server.received}) == 2


async def test_overlapping_sends_use_up_to_max_in_flight_connections_each_message_once(
    server: SmtpServer,
) -> None:
    """The outbox sends `max_in_flight` of a chunk's messages at once: each on a connection of its own
    (never two transactions interleaved on one), no more connections than that, every message once."""
    adapter = SmtpAdapter(_config(server.port), {})
    n = 4 * adapter.max_in_flight
    try:
        results = await asyncio.gather(
            *(adapter.send(_message(i, to=f"c{i}@cliente.example")) for i in range(n))
        )
        assert adapter.open_connections <= adapter.max_in_flight
    finally:
        await adapter.aclose()
    assert adapter.open_connections == 0
    assert [r.outcome for r in results] == [Outcome.SENT] * n
    assert sorted(r.rcpt_tos[0] for r in server.received) == sorted(f"c{i}@cliente.example" for i in range(n))
    assert 1 < len({r.session_id for r in server.received}) <= adapter.max_in_flight


async def test_wrong_password_is_auth(server: SmtpServer) -> None:
    adapter = SmtpAdapter(_config(server.port, password="errada"), {})
    result = await adapter.send(_message())
    await adapter.aclose()
    assert result.outcome is Outcome.AUTH and result.error_code == "smtp-535"
    assert "errada" not in (result.error or "")
    assert server.received == []


async def test_refused_recipient_fails_and_the_connection_carries_on(server: SmtpServer) -> None:
    server.handler.refuse["ninguem@cliente.example"] = "550 5.1.1 User unknown"
    server.handler.refuse["cheio@cliente.example"] = "452 4.2.2 Mailbox full"
    adapter = SmtpAdapter(_config(server.port), {})
    try:
        refused = await adapter.send(_message(1, to="ninguem@cliente.example"))
        full = await adapter.send(_message(2, to="cheio@cliente.example"))
        ok = await adapter.send(_message(3))
    finally:
        await adapter.aclose()
    assert refused.outcome is Outcome.FAILED and refused.error_code == "smtp-550"
    assert "User unknown" in (refused.error or "")
    assert full.outcome is Outcome.RETRY and full.error_code == "smtp-452"
    assert ok.outcome is Outcome.SENT
    assert [r.rcpt_tos for r in server.received] == [["maria@cliente.example"]]


async def test_a_refused_sender_is_the_channels_problem(server: SmtpServer) -> None:
    server.handler.refuse_senders["contato@loja.example"] = "553 5.7.1 Sender not owned by user"
    adapter = SmtpAdapter(_config(server.port), {})
    result = await adapter.send(_message())
    await adapter.aclose()
    assert result.outcome is Outcome.AUTH and result.error_code == "smtp-553"


async def test_lost_reply_after_the_content_is_uncertain(server: SmtpServer) -> None:
    server.handler.drop_after_data = True
    adapter = SmtpAdapter(_config(server.port), {})
    result = await adapter.send(_message())
    await adapter.aclose()
    # The server may have queued it: the outbox must never send it again.
    assert result.outcome is Outcome.UNCERTAIN and result.provider_message_id


async def test_untrusted_certificate_is_auth(server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")
    adapter = SmtpAdapter(_config(server.port), {})
    result = await adapter.send(_message())
    await adapter.aclose()
    assert result.outcome is Outcome.AUTH and result.error_code == "smtp-tls"


async def test_starttls_never_falls_back_to_plain_text(tmp_path: Path) -> None:
    plain = SmtpServer(tmp_path, mode="none").start()
    try:
        adapter = SmtpAdapter(_config(plain.port), {})
        result = await adapter.send(_message())
        await adapter.aclose()
        assert result.outcome is Outcome.AUTH and result.error_code == "smtp-unsupported"
        assert plain.received == []
        # security "none" without a login is what such a server takes (a local relay).
        relay = SmtpAdapter(_config(plain.port, security="none", username="", password=""), {})
        sent = await relay.send(_message())
        await relay.aclose()
        assert sent.outcome is Outcome.SENT and len(plain.received) == 1
    finally:
        plain.stop()


async def test_implicit_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = SmtpServer(tmp_path, mode="ssl", users=USERS).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(srv.cert_file))
    try:
        adapter = SmtpAdapter(_config(srv.port, security="ssl"), {})
        result = await adapter.send(_message())
        await adapter.aclose()
    finally:
        srv.stop()
    assert result.outcome is Outcome.SENT
    assert srv.received[0].authenticated_as == "crm@loja.example"


async def test_unreachable_or_silent_server_is_retry() -> None:
    refused = SmtpAdapter(_config(free_port()), {}, timeout=2)
    result = await refused.send(_message())
    await refused.aclose()
    assert result.outcome is Outcome.RETRY and result.error_code == "smtp-connect"
    # A server that accepts the TCP connection and never greets: the timeout, not a hang.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        adapter = SmtpAdapter(_config(silent.getsockname()[1]), {}, timeout=0.5)
        started = time.monotonic()
        result = await adapter.send(_message())
        await adapter.aclose()
    assert result.outcome is Outcome.RETRY and time.monotonic() - started < 5


async def test_header_injection_is_refused_before_connecting() -> None:
    adapter = SmtpAdapter(_config(free_port()), {})
    result = await adapter.send(_message(subject="Oi\r\nBcc: todos@example.com"))
    await adapter.aclose()
    assert result.outcome is Outcome.FAILED and result.error_code == "invalid-message"
