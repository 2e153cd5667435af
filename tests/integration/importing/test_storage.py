"""Storage: local and S3 (moto server) backends, resumable upload sessions."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import Conflict, Invalid, NotFound
from app.storage import LocalStorage


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


def _roundtrip(storage, tmp_path: Path) -> None:
    data = b"Nome;Fone\n" + b"Ana;11987654321\n" * 50_000
    session = storage.uploads.start("t_1", "base.csv", len(data))
    storage.uploads.append("t_1", session.upload_id, 0, [data[:1000], data[1000:300_000]])
    with pytest.raises(Conflict):
        storage.uploads.append("t_1", session.upload_id, 10, [data[300_000:]])
    assert storage.uploads.get("t_1", session.upload_id).offset == 300_000
    with pytest.raises(Conflict):  # incomplete
        storage.uploads.finish("t_1", session.upload_id)
    storage.uploads.append("t_1", session.upload_id, 300_000, iter([data[300_000:]]))
    storage.uploads.finish("t_1", session.upload_id)
    part = storage.uploads.part_path("t_1", session.upload_id)
    key = "imports/t_1/abc/base.csv"
    assert storage.commit_upload(key, part) == len(data)
    assert storage.exists(key) and storage.size(key) == len(data)
    with storage.open_local(key) as path:
        assert path.read_bytes() == data
    src = tmp_path / "local.csv"
    src.write_bytes(b"x" * 10)
    storage.put_file("imports/t_1/other.csv", src)
    with storage.open_read("imports/t_1/other.csv") as fh:
        assert fh.read() == b"x" * 10
    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(NotFound):
        storage.uploads.get("t_2", session.upload_id)  # other tenant namespace


def test_local_storage(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "st")
    _roundtrip(storage, tmp_path)
    with pytest.raises(Invalid):
        storage.path("../etc/passwd")
    with pytest.raises(NotFound):
        storage.uploads.get("t_1", "not-an-id")


def test_s3_storage(tmp_path: Path, s3_endpoint: str) -> None:
    from app.storage.s3 import S3Storage

    storage = S3Storage(s3_endpoint, "testing", "testing", "crm-test", False, tmp_path / "spool")
    _roundtrip(storage, tmp_path)


def test_get_storage_picks_s3_when_configured(
    monkeypatch: pytest.MonkeyPatch, s3_endpoint: str, tmp_path: Path
) -> None:
    from app import storage as storage_mod
    from app.settings import get_settings

    monkeypatch.setenv("S3_ENDPOINT", f"http://{s3_endpoint}")
    monkeypatch.setenv("S3_ACCESS_KEY", "testing")
    monkeypatch.setenv("S3_SECRET_KEY", "testing")
    monkeypatch.setenv("STORAGE_DIR", str(tmp_path / "spool"))
    get_settings.cache_clear()
    storage_mod.get_storage.cache_clear()
    try:
        from app.storage.s3 import S3Storage

        assert isinstance(storage_mod.get_storage(), S3Storage)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        storage_mod.get_storage.cache_clear()


def test_pipeline_reads_from_s3(tenant, tmp_path: Path, s3_endpoint: str) -> None:
    from app.importing import jobs, pipeline
    from app.storage.s3 import S3Storage
    from tenants.database import session

    storage = S3Storage(s3_endpoint, "testing", "testing", "crm-pipe", False, tmp_path / "spool")
    src = tmp_path / "c.csv"
    src.write_text("Nome,Celular\nAna,11987654321\n")
    with session(tenant.schema) as db:
        job = jobs.create_import(
            db, tenant.actor("admin"), jobs.ImportOptions(), local_path=src, storage=storage
        )
        db.commit()
    assert storage.exists(job.storage_key)
    report = pipeline.run(tenant.schema, job.id, storage=storage)
    assert report["created"] == 1


def test_abandoned_upload_sessions_are_purged(tmp_path: Path) -> None:
    """Sessions untouched for two days go (part file and all); one still being appended to stays, and
    so does a recent one; the import service's purge is what the hourly task and the embedded loop run."""
    import os
    import time

    from app.importing import jobs

    storage = LocalStorage(tmp_path / "storage")
    uploads = storage.uploads
    old = uploads.start("t_a", "abandonada.csv", 10)
    uploads.append("t_a", old.upload_id, 0, [b"Nome;Fone\n"])
    slow = uploads.start("t_b", "lenta.csv", 20)
    recent = uploads.start("t_b", "recente.csv", None)
    three_days_ago = time.time() - 3 * 24 * 3600
    for session, ns in ((old, "t_a"), (slow, "t_b")):
        for p in uploads._paths(ns, session.upload_id):
            os.utime(p, (three_days_ago, three_days_ago))
    uploads.append("t_b", slow.upload_id, 0, [b"ainda enviando"])  # touched now: not abandoned
    assert jobs.purge_stale_uploads(storage) == 1
    with pytest.raises(NotFound):
        uploads.get("t_a", old.upload_id)
    assert not list((tmp_path / "storage" / ".uploads" / "t_a").iterdir())
    assert uploads.get("t_b", slow.upload_id).offset == len(b"ainda enviando")
    assert uploads.get("t_b", recent.upload_id).offset == 0
    assert jobs.purge_stale_uploads(storage) == 0
