"""MinIO/S3 storage via the `minio` client.

Resumable uploads are spooled on local disk (same UploadArea as LocalStorage) and sent with
`fput_object`, which streams the file as an S3 multipart upload; readers get a local copy
streamed with `fget_object` (the import reader needs seekable bytes for crash-resume offsets).
"""

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from minio import Minio
from minio.error import S3Error

from app.errors import NotFound
from app.settings import Settings
from app.storage.base import UploadArea, check_key, copy_stream

PART_SIZE = 16 * 1024 * 1024


class S3Storage:
    def __init__(
        self,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        bucket: str,
        secure: bool,
        spool_dir: Path,
    ) -> None:

        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)
        self.bucket = bucket
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.uploads = UploadArea(self.spool_dir / ".uploads")
        if not self.client.bucket_exists(bucket):
            self.client.make_bucket(bucket)

    @classmethod
    def from_settings(cls, settings: Settings) -> "S3Storage":
        assert settings.s3_endpoint
        endpoint = settings.s3_endpoint.removeprefix("http://").removeprefix("https://")
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        return cls(
            endpoint,
            settings.s3_access_key,
            secret,
            settings.s3_bucket,
            settings.s3_secure,
            settings.storage_path,
        )

    def put_file(self, key: str, src: Path) -> int:
        self.client.fput_object(self.bucket, check_key(key), str(src), part_size=PART_SIZE)
        return src.stat().st_size

    def put_stream(self, key: str, stream: BinaryIO | Iterable[bytes]) -> int:
        with tempfile.NamedTemporaryFile(dir=self.spool_dir, suffix=".spool") as tmp:
            copy_stream(stream, tmp)
            tmp.flush()
            return self.put_file(key, Path(tmp.name))

    def commit_upload(self, key: str, part: Path) -> int:
        size = self.put_file(key, part)
        part.unlink(missing_ok=True)
        return size

    @contextmanager
    def open_local(self, key: str) -> Iterator[Path]:

        with tempfile.TemporaryDirectory(dir=self.spool_dir) as tmpdir:
            path = Path(tmpdir) / "object"
            try:
                self.client.fget_object(self.bucket, check_key(key), str(path))
            except S3Error as exc:
                raise NotFound("Arquivo não encontrado no armazenamento.") from exc
            yield path

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        with self.open_local(key) as path, path.open("rb") as fh:
            yield fh

    def size(self, key: str) -> int:
        return int(self.client.stat_object(self.bucket, check_key(key)).size or 0)

    def exists(self, key: str) -> bool:

        try:
            self.client.stat_object(self.bucket, check_key(key))
        except S3Error:
            return False
        return True

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, check_key(key))
