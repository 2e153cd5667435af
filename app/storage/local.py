"""Local-directory storage (the default): keys are relative paths under settings.storage_path."""

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from app.errors import NotFound
from app.storage.base import UploadArea, check_key, copy_stream, link_or_copy


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.uploads = UploadArea(self.root / ".uploads")

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_stream(self, key: str, stream: BinaryIO | Iterable[bytes]) -> int:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".tmp")
        with tmp.open("wb") as fh:
            total = copy_stream(stream, fh)
        os.replace(tmp, dest)
        return total

    def put_file(self, key: str, src: Path) -> int:
        dest = self.path(key)
        dest.unlink(missing_ok=True)
        link_or_copy(src, dest)
        return dest.stat().st_size

    def commit_upload(self, key: str, part: Path) -> int:
        """Moves a finished upload's part file to `key` (a rename: no copy)."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        return dest.stat().st_size

    @contextmanager
    def open_local(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.exists():
            raise NotFound("Arquivo não encontrado no armazenamento.")
        yield path

    @contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        with self.open_local(key) as path, path.open("rb") as fh:
            yield fh

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
