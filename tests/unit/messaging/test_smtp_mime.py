"""The SMTP adapter's wire format (compat32 classes, the fast path) says what `build_mime` (the email
policy path) says: same headers, same parts, same attachments, and header injection refused."""

from email import message_from_bytes, policy

import pytest

from app.messaging.adapters.smtp import build_mime, mime_bytes
from app.messaging.protocol import Attachment, OutboundMessage

FROM = {
    "from_email": "contato@loja.example",
    "from_name": "Loja Exemplo São Paulo",
    "message_id": "<x@loja.example>",
}
PDF = b"%PDF-1.4 fatura\n" + bytes(range(256))

CASES = [
    OutboundMessage(
        message_id=1,
        to="maria@cliente.example",
        kind="email",
        text="Olá, Maria! Sua fatura está disponível. " * 10,
        html="<p>Olá, <b>Maria</b>!</p>" + "x" * 1200,  # a line too long for 7bit
        subject="Sua fatura de dezembro chegou — confira as condições especiais " * 2,
        attachments=[
            Attachment("fatura-dezembro.pdf", "application/pdf", PDF),
            Attachment("foto ção.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ],
        headers={"List-Unsubscribe": "<https://crm.example.test/u/abc>", "Message-ID": "<evil@x>"},
        reply_to="atendimento@loja.example",
    ),
    OutboundMessage(
        message_id=2, to="c2@cliente.example", kind="email", text="plain ascii", subject="Oferta 2"
    ),
    OutboundMessage(message_id=3, to="c3@cliente.example", kind="email", html="<p>Só html</p><br>linha 2"),
]


def _parsed(raw: bytes):  # type: ignore[no-untyped-def]
    return message_from_bytes(raw, policy=policy.default)


@pytest.mark.parametrize("message", CASES, ids=["full", "ascii", "html-only"])
def test_the_fast_path_matches_the_policy_path(message: OutboundMessage) -> None:
    raw = mime_bytes(message, **FROM)
    got = _parsed(raw)
    want = _parsed(build_mime(message, **FROM).as_bytes(policy=policy.SMTP))
    for name in ("From", "To", "Subject", "Message-ID", "Reply-To", "List-Unsubscribe"):
        assert str(got.get(name)) == str(want.get(name)), name
    assert got.get_all("Message-ID") == ["<x@loja.example>"]
    assert got.get_content_type() == want.get_content_type()
    for kind in ("plain", "html"):
        a, b = got.get_body(preferencelist=(kind,)), want.get_body(preferencelist=(kind,))
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert a.get_content() == b.get_content()
    assert [(p.get_filename(), p.get_content_type(), p.get_content()) for p in got.iter_attachments()] == [
        (p.get_filename(), p.get_content_type(), p.get_content()) for p in want.iter_attachments()
    ]
    assert b"\r\n" in raw and max(len(line) for line in raw.split(b"\r\n")) <= 998


@pytest.mark.parametrize(
    "change",
    [{"subject": "Oi\r\nBcc: todos@example.com"}, {"headers": {"X-Campanha": "a\nBcc: todos@example.com"}}],
)
def test_line_breaks_in_headers_are_refused(change: dict[str, object]) -> None:
    message = OutboundMessage(message_id=9, to="a@cliente.example", kind="email", text="x", **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        mime_bytes(message, **FROM)


@pytest.mark.parametrize("size", [1, 56, 57, 58, 4096, 300_001])
@pytest.mark.parametrize("tail", [b"", b"\n", b".\r\n.."])
def test_spliced_attachment_bodies_give_the_bytes_the_generator_writes(
    monkeypatch: pytest.MonkeyPatch, size: int, tail: bytes
) -> None:
    """Attachments' encoded bodies are spliced in (and kept per file, app.messaging.attachments): the wire
    bytes are exactly those of the message generated whole, before and after dot-stuffing."""
    import random

    from app.messaging.adapters import smtp

    monkeypatch.setattr(smtp, "formatdate", lambda **_: "Mon, 07 Dec 2026 02:00:00 GMT")
    data = random.Random(size).randbytes(size) + tail
    message = OutboundMessage(
        message_id=4,
        to="maria@cliente.example",
        kind="email",
        text="Olá\n.linha com ponto\n",
        html="<p>Olá</p>",
        subject="Fatura",
        attachments=[
            Attachment("fatura.pdf", "application/pdf", data, key="attachments/t_x/" + "a" * 32 + "/f.pdf"),
            Attachment("foto ção.png", "image/png", data[:100] + b"1"),
        ],
    )
    random.seed(size)  # the MIME boundaries are random: the same ones for each way of writing it
    whole, _ = smtp._compose(message, **FROM, marks=False)
    random.seed(size)
    assert mime_bytes(message, **FROM) == whole
    random.seed(size)
    payload, length = smtp.wire_data(message, **FROM)
    assert payload == smtp._dot_stuffed(whole) and length == len(whole)
