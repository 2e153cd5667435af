"""Attachments: the type read from the bytes, per-kind size limits, tenant-prefixed keys (another
organisation's key is a 404), over REST with local storage and through a real S3-compatible server."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.errors import Invalid, NotFound
from app.messaging import attachments
from tests.integration.crm.conftest import Crm, acting_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64


@pytest.fixture(scope="module")
def client(crm: Crm) -> Iterator[TestClient]:
    with acting_client(crm, "agent") as c:
        yield c


def test_types_come_from_the_bytes() -> None:
    assert attachments.sniff("foto.bin", PNG) == ("image/png", "image")
    assert attachments.sniff("x", b"\xff\xd8\xff\xe0") == ("image/jpeg", "image")
    assert attachments.sniff("fatura.pdf", PDF) == ("application/pdf", "document")
    assert attachments.sniff("planilha.xlsx", b"PK\x03\x04....")[1] == "document"
    assert attachments.sniff("notas.txt", b"ola mundo") == ("text/plain", "document")
    for name, head in [("virus.pdf", b"MZ\x90\x00"), ("arquivo.zip", b"PK\x03\x04"), ("a.txt", b"a\x00b")]:
        with pytest.raises(Invalid):
            attachments.sniff(name, head)


def test_upload_read_back_and_limits_over_rest(client: TestClient, crm: Crm) -> None:
    r = client.post("/api/anexos", files={"arquivo": ("fatura.pdf", PDF, "text/plain")})
    assert r.status_code == 201, r.text
    ref = r.json()
    assert ref["content_type"] == "application/pdf" and ref["size"] == len(PDF) and ref["kind"] == "document"
    assert ref["key"].startswith(f"attachments/{crm.schema}/")
    got = client.get(f"/api/anexos/{ref['key']}")
    assert got.status_code == 200 and got.content == PDF
    assert (
        got.headers["content-type"] == "application/pdf"
        and got.headers["x-content-type-options"] == "nosniff"
    )
    # Another tenant's key, a made-up key, a path trick.
    other = ref["key"].replace(crm.schema, "t_zz")
    assert client.get(f"/api/anexos/{other}").status_code == 404
    assert client.get("/api/anexos/attachments/../../etc/passwd").status_code == 404
    big_image = PNG + b"\x00" * attachments.IMAGE_MAX_BYTES
    r = client.post("/api/anexos", files={"arquivo": ("foto.png", big_image, "image/png")})
    assert r.status_code == 413 and "5 MB" in r.json()["detail"]
    r = client.post("/api/anexos", files={"arquivo": ("programa.exe", b"MZ\x90\x00" * 10, "application/pdf")})
    assert r.status_code == 422 and "não permitido" in r.text
    r = client.post("/api/anexos", files={"arquivo": ("vazio.pdf", b"", "application/pdf")})
    assert r.status_code == 422


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_attachments_through_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from moto.server import ThreadedMotoServer

    from app.storage.s3 import S3Storage

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        storage = S3Storage(
            f"127.0.0.1:{port}", "testing", "testing", "crm-anexos", False, tmp_path / "spool"
        )
        monkeypatch.setattr(attachments, "get_storage", lambda: storage)
        ref = attachments.store("t_s3", "foto.png", PNG)
        assert storage.exists(ref["key"])
        assert attachments.load("t_s3", ref["key"]) == PNG
        with pytest.raises(NotFound):
            attachments.load("t_other", ref["key"])
    finally:
        server.stop()
