"""The Storage protocol and the resumable upload sessions every backend shares."""

import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol, cast

from app.errors import Conflict, Invalid, NotFound, TooLarge

COPY_CHUNK = 1024 * 1024
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,499}$")


def safe_filename(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")) or "arquivo"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base)[-120:] or "arquivo"


def check_key(key: str) -> str:
    if not _SAFE_KEY.match(key) or ".." in key.split("/"):
        raise Invalid("key", "Chave de armazenamento inválida.")
    return key


@dataclass
class UploadSession:
    upload_id: str
    filename: str
    offset: int
    size: int | None  # declared total, when the client knows it
    complete: bool


class Storage(Protocol):
    def put_stream(self, key: str, stream: BinaryIO | Iterable[bytes]) -> int: ...
    def put_file(self, key: str, src: Path) -> int: ...
    def open_local(self, key: str) -> AbstractContextManager[Path]: ...
    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def commit_upload(self, key: str, part: Path) -> int: ...


class UploadArea:
    """Resumable upload sessions on local disk, namespaced per tenant schema.

    The part file's size is the offset; `append` refuses a chunk at any other offset (the client
    asks for the offset after a dropped connection and resends from there).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, namespace: str) -> Path:
        if not re.fullmatch(r"[a-z0-9_]{1,63}", namespace):
            raise Invalid("namespace", "Identificador inválido.")
        path = self.root / namespace
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _paths(self, namespace: str, upload_id: str) -> tuple[Path, Path]:
        if not _UPLOAD_ID.match(upload_id):
            raise NotFound("Envio não encontrado.")
        d = self._dir(namespace)
        return d / f"{upload_id}.part", d / f"{upload_id}.json"

    def start(self, namespace: str, filename: str, size: int | None = None) -> UploadSession:
        upload_id = uuid.uuid4().hex
        part, meta = self._paths(namespace, upload_id)
        part.touch()
        meta.write_text(json.dumps({"filename": filename, "size": size, "complete": False}))
        return UploadSession(upload_id, filename, 0, size, False)

    def get(self, namespace: str, upload_id: str) -> UploadSession:
        part, meta = self._paths(namespace, upload_id)
        if not meta.exists() or not part.exists():
            raise NotFound("Envio não encontrado.")
        data = json.loads(meta.read_text())
        return UploadSession(
            upload_id, data["filename"], part.stat().st_size, data.get("size"), data["complete"]
        )

    @contextmanager
    def reserving(self, namespace: str) -> Iterator[None]:
        """Serialises quota checks of one namespace (start of an upload) across threads and processes
        of this host: two uploads started at once cannot both take the last free bytes."""
        with (self._dir(namespace) / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def reserved(self, namespace: str) -> int:
        """Bytes the namespace's open upload sessions hold or may still write (their declared sizes)."""
        total = 0
        for meta in self._dir(namespace).glob("*.json"):
            try:
                declared = json.loads(meta.read_text()).get("size")
                part = meta.with_suffix(".part")
                total += max(int(declared or 0), part.stat().st_size if part.exists() else 0)
            except (FileNotFoundError, ValueError):  # finished or discarded meanwhile
                continue
        return total

    def append(
        self,
        namespace: str,
        upload_id: str,
        offset: int,
        chunks: Iterable[bytes],
        max_size: int | None = None,
    ) -> UploadSession:
        """Appends at `offset`. A byte past the declared size (or `max_size` for a session without
        one) rejects the whole upload: the session and its bytes are deleted."""
        session = self.get(namespace, upload_id)
        if session.complete:
            raise Conflict("Este envio já foi concluído.")
        if offset != session.offset:
            raise Conflict(
                f"Posição incorreta: o envio está em {session.offset} bytes.", offset=session.offset
            )
        limit = session.size if session.size is not None else max_size
        part, _ = self._paths(namespace, upload_id)
        written = 0
        overflow = False
        with part.open("ab") as fh:
            try:
                for chunk in chunks:
                    if limit is not None and offset + written + len(chunk) > limit:
                        overflow = True
                        break
                    fh.write(chunk)
                    written += len(chunk)
            finally:
                fh.flush()
                os.fsync(fh.fileno())
        if overflow:
            self.discard(namespace, upload_id)
            raise TooLarge("O envio passou do tamanho declarado e foi descartado.")
        return self.get(namespace, upload_id)

    def part_path(self, namespace: str, upload_id: str) -> Path:
        part, _ = self._paths(namespace, upload_id)
        if not part.exists():
            raise NotFound("Envio não encontrado.")
        return part

    def finish(self, namespace: str, upload_id: str) -> UploadSession:
        session = self.get(namespace, upload_id)
        if session.size is not None and session.offset != session.size:
            raise Conflict(
                f"Envio incompleto: {session.offset} de {session.size} bytes.", offset=session.offset
            )
        _, meta = self._paths(namespace, upload_id)
        meta.write_text(json.dumps({"filename": session.filename, "size": session.size, "complete": True}))
        session.complete = True
        return session

    def discard(self, namespace: str, upload_id: str) -> None:
        for p in self._paths(namespace, upload_id):
            p.unlink(missing_ok=True)

    def purge_stale(self, max_age_s: float, now: float | None = None) -> int:
        """Removes the upload sessions nobody touched for `max_age_s` (a page closed halfway through a
        10 GB file, a preview never imported); returns how many. Appending touches the part file, so a
        slow upload in progress is never taken."""
        if not self.root.exists():
            return 0
        cutoff = (now if now is not None else time.time()) - max_age_s
        removed = 0
        for meta in self.root.glob("*/*.json"):
            part = meta.with_suffix(".part")
            try:
                touched = max(meta.stat().st_mtime, part.stat().st_mtime if part.exists() else 0.0)
            except FileNotFoundError:  # removed meanwhile (the import started, or another purge)
                continue
            if touched < cutoff:
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
                removed += 1
        return removed


def copy_stream(stream: BinaryIO | Iterable[bytes], dest: IO[bytes]) -> int:
    total = 0
    if isinstance(stream, IO) or hasattr(stream, "read"):
        reader = cast(BinaryIO, stream)
        while chunk := reader.read(COPY_CHUNK):
            dest.write(chunk)
            total += len(chunk)
    else:
        for chunk in stream:
            dest.write(chunk)
            total += len(chunk)
    return total


def iter_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            yield chunk


def link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link when on the same filesystem (a 10 GB file is not copied), stream-copy otherwise."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
