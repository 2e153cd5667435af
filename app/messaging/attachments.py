"""Message attachments (images and documents sent or received on WhatsApp and e-mail), kept through the
storage layer (local directory or S3/MinIO) under the tenant's own prefix.

The type is read from the file's first bytes, not from the name or the browser's claim: a renamed
executable is not a PDF. Limits follow the strictest provider a file may go through (WhatsApp: images
5 MB; documents are capped lower than Meta's 100 MB so base64 sends through WPPConnect and e-mail stay
reasonable).
"""

import re
import uuid
from typing import Any

from sqlmodel import Session

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Invalid, NotFound, TooLarge
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
    storage = get_storage()
    check_own(schema, key)
    if not storage.exists(key):
        raise NotFound("Anexo não encontrado.")
    with storage.open_read(key) as f:
        return f.read()


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
