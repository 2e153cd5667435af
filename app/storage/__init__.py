"""File storage: local directory by default, MinIO/S3 when S3_ENDPOINT is set.

Uploads are resumable: an upload session is a file on disk whose size is the offset; chunks are
appended at that offset as they stream in, so a 10 GB file is never held in memory.
"""

from functools import lru_cache

from app.settings import get_settings
from app.storage.base import Storage, UploadSession
from app.storage.local import LocalStorage


@lru_cache
def get_storage() -> Storage:
    settings = get_settings()
    if settings.s3_endpoint:
        from app.storage.s3 import S3Storage  # function-level: minio is loaded only when S3 is configured

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.storage_path)


__all__ = ["LocalStorage", "Storage", "UploadSession", "get_storage"]
