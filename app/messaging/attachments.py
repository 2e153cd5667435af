"""Message attachments (images and documents sent or received on WhatsApp and e-mail), kept through the
storage layer (local directory or S3/MinIO) under the tenant's own prefix.

The type is read from the file's first bytes, not from the name or the browser's claim: a renamed
executable is not a PDF. Limits follow the strictest provider a file may go through (WhatsApp: images
5 MB; documents are capped lower than Meta's 100 MB so base64 sends through WPPConnect and e-mail stay
reasonable).
"""

import base64
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Invalid, NotFound, TooLarge
from app.settings import get_settings
from app.storage import get_storage
from app.storage.base import check_key, safe_filename

IMAGE_MAX_BYTES = 5 * 1024 * 1024
DOCUMENT_MAX_BYTES = 16 * 1024 * 1024
MAX_BYTES = DOCUMENT_MAX_BYTES
# (magic prefix, offset) → (content type, kind)
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "image"),
    (b"\xff\xd8\xff", 0, "image/jpeg", "image"),
    (b"WEBP", 8, "image/webp", "image"),
    (b"%PDF-", 0, "application/pdf", "document"),
    (b"PK\x03\x04", 0, "application/zip", "document"),  # docx / xlsx / odt: refined by extension below
]
_OFFICE = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
}
_TEXT = {".txt": "text/plain", ".csv": "text/csv"}
OFFICE_TYPES = frozenset(_OFFICE.values())
# A name for a received file that came without one (WhatsApp images never carry a filename).
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
    **{v: k for k, v in _OFFICE.items()},
}


def sniff(filename: str, head: bytes) -> tuple[str, str]:
    """(content type, kind) of a file from its first bytes; Invalid for anything not allowed."""
    ext = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    for magic, offset, content_type, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if content_type == "application/zip":
                if ext not in _OFFICE:
                    break
                return _OFFICE[ext], kind
            return content_type, kind
    if ext in _TEXT and b"\x00" not in head:
        return _TEXT[ext], "document"
    raise Invalid(
        "arquivo", "Tipo de arquivo não permitido: envie imagem (JPG, PNG, WebP), PDF, Office ou texto."
    )


def _limit(kind: str) -> int:
    return IMAGE_MAX_BYTES if kind == "image" else DOCUMENT_MAX_BYTES


def store(schema: str, filename: str, data: bytes) -> dict[str, Any]:
    """Check and keep one attachment; returns the reference messages carry in `attachments`."""
    if not data:
        raise Invalid("arquivo", "O arquivo está vazio.")
    content_type, kind = sniff(filename, data[:16])
    if len(data) > _limit(kind):
        mb, what = _limit(kind) // (1024 * 1024), "imagens" if kind == "image" else "documentos"
        raise TooLarge(f"Arquivo grande demais: o limite para {what} é {mb} MB.")
    name = safe_filename(filename)
    key = f"attachments/{schema}/{uuid.uuid4().hex}/{name}"
    get_storage().put_stream(key, [data])
    return {"key": key, "filename": name, "content_type": content_type, "size": len(data), "kind": kind}


def safe_name(filename: str) -> str:
    """The name a file is kept and shown under (path parts and odd characters removed)."""
    return safe_filename(filename)


def discard(schema: str, key: str) -> None:
    """Remove one of this tenant's attachments (a duplicate download nobody refers to)."""
    get_storage().delete(check_own(schema, key))
    _send_cache().forget(key)


def too_large_message(limit: int = MAX_BYTES) -> str:
    return f"Arquivo grande demais: o limite é {limit // (1024 * 1024)} MB."


def upload(db: Session, actor: Actor, filename: str, data: bytes) -> dict[str, Any]:
    """An agent's file to send (REST /api/anexos and the profile's send dialogs): checked, kept, audited."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    if actor.schema is None:
        raise NotFound("Anexo não encontrado.")
    if len(data) > MAX_BYTES:
        raise TooLarge(too_large_message())
    ref = store(actor.schema, filename or "arquivo", data)
    record(db, actor, "attachment.upload", "attachment", ref["key"], None, ref)
    return ref


_OWN_KEY = re.compile(r"^attachments/(?P<schema>[a-z0-9_]+)/[0-9a-f]{32}/[A-Za-z0-9._-]+$")


def check_own(schema: str, key: str) -> str:
    """The key, if it names one of this tenant's attachments (never another tenant's), else NotFound."""
    match = _OWN_KEY.match(key)
    if match is None or match["schema"] != schema:
        raise NotFound("Anexo não encontrado.")
    return check_key(key)


def load(schema: str, key: str) -> bytes:
    """The file as storage holds it now (downloads, queue-time checks): read on every call."""
    storage = get_storage()
    check_own(schema, key)
    if not storage.exists(key):
        raise NotFound("Anexo não encontrado.")
    with storage.open_read(key) as f:
        return f.read()


def load_for_send(schema: str, key: str) -> bytes:
    """The file for the outbox: read once per process and kept (`SendCache`), so a campaign's file is not
    read from storage for each of its messages. The tenant check runs on every call, cached or not; a
    file missing from storage is NotFound, as `load`."""
    check_own(schema, key)
    return _send_cache().get(key, lambda: load(schema, key))


E = TypeVar("E", bytes, str)


def encoded(key: str | None, data: bytes, form: str, encode: Callable[[bytes], E]) -> E:
    """`encode(data)`, kept beside the cached file of `key` (a MIME part, base64 for a JSON body), so an
    adapter encodes a campaign's file once per process instead of once per message. Only for `data`
    that is the very object `load_for_send` handed out for `key`: anything else is encoded, not kept."""
    if key is None:
        return encode(data)
    return _send_cache().derived(key, data, form, encode)


def base64_text(key: str | None, data: bytes) -> str:
    """The file as base64 text, for JSON bodies (Resend, WPPConnect): kept as `encoded` keeps it."""
    return encoded(key, data, "base64", _base64)


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------- the outbox's file cache


@dataclass
class _Cached:
    data: bytes
    read_at: float
    derived: dict[str, bytes | str] = field(default_factory=dict)
    size: int = 0


class SendCache:
    """Files the outbox sends, by storage key, with what adapters derived from them; at most `budget`
    bytes (least recently used out first), a file over a quarter of it never kept.

    A key names one file for good (`attachments/<schema>/<uuid>/<name>`, written once, never
    overwritten), so a kept copy cannot go stale, only gone: a file deleted by another process (an LGPD
    erasure) is still sent by this one for at most MAX_AGE_SECONDS (deleting in this process drops it at
    once). Shared by the claims' threads and the adapters' (SMTP lanes, Resend): every step under one
    lock, and a file being read makes the other readers of that key wait for it instead of reading too.
    """

    MAX_AGE_SECONDS = 300.0

    def __init__(self, budget: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = max(0, budget)
        self.item_max = self.budget // 4
        self.clock = clock
        self.reads = 0  # storage reads made through the cache (tests, benchmarks)
        self._entries: OrderedDict[str, _Cached] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self._reading: dict[str, threading.Lock] = {}

    @property
    def total(self) -> int:
        return self._total

    def get(self, key: str, read: Callable[[], bytes]) -> bytes:
        found = self._fresh(key)
        if found is not None:
            return found
        with self._lock:
            reading = self._reading.setdefault(key, threading.Lock())
        try:
            with reading:
                found = self._fresh(key)  # read meanwhile by the thread this one waited for
                if found is not None:
                    return found
                data = read()
                self._put(key, data)
                return data
        finally:
            with self._lock:
                if not reading.locked():
                    self._reading.pop(key, None)

    def derived(self, key: str, data: bytes, form: str, encode: Callable[[bytes], E]) -> E:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.data is not data:
                entry = None
            elif form in entry.derived:
                self._entries.move_to_end(key)
                return entry.derived[form]  # type: ignore[return-value]
        value = encode(data)
        if entry is None:
            return value
        with self._lock:
            kept = self._entries.get(key) is entry and form not in entry.derived
            if kept and entry.size + len(value) <= self.budget:
                entry.derived[form] = value
                entry.size += len(value)
                self._total += len(value)
                self._shrink(keep=key)
        return value

    def forget(self, key: str) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._total -= entry.size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total = 0

    def _fresh(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() - entry.read_at > self.MAX_AGE_SECONDS:
                del self._entries[key]
                self._total -= entry.size
                return None
            self._entries.move_to_end(key)
            return entry.data

    def _put(self, key: str, data: bytes) -> None:
        with self._lock:
            self.reads += 1
            if len(data) > self.item_max:
                return
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= old.size
            self._entries[key] = _Cached(data, self.clock(), size=len(data))
            self._total += len(data)
            self._shrink(keep=key)

    def _shrink(self, keep: str) -> None:
        # Under the lock. The oldest go first; the entry just used stays.
        while self._total > self.budget and len(self._entries) > 1:
            oldest = next(iter(self._entries))
            if oldest == keep:
                self._entries.move_to_end(keep)
                continue
            self._total -= self._entries.pop(oldest).size


_cache: SendCache | None = None
_cache_lock = threading.Lock()


def _send_cache() -> SendCache:
    global _cache
    if _cache is None:
        with _cache_lock:
            if _cache is None:
                _cache = SendCache(get_settings().attachment_cache_bytes)
    return _cache


def send_cache() -> SendCache:
    """This process's cache of the files the outbox sends (tests and benchmarks look into it)."""
    return _send_cache()


def reference(schema: str, key: str) -> dict[str, Any]:
    """The reference a message carries for a stored file of this tenant (checked now: a bad key is a
    404 before anything is queued); its type is read from the file again, never trusted from the caller."""
    data = load(schema, key)
    content_type, kind = sniff(key, data[:16])
    return {
        "key": key,
        "filename": key.rsplit("/", 1)[-1],
        "content_type": content_type,
        "size": len(data),
        "kind": kind,
    }
