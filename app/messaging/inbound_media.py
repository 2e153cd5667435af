"""Images and documents customers send on WhatsApp, brought into our storage as attachments of their
message.

A webhook never downloads (it must answer the provider at once, and a slow media server would hold the
web process): `apply_inbound` stores a *pending* attachment (`pending_ref`) and queues
`messaging.fetch_media(schema, message_id)` after the commit. The task asks the channel's adapter for the
file (Cloud API: media id → short-lived URL → bytes; WPPConnect: `download-media` by message id), checks
it as every attachment is checked (`attachments.store`: type from the first bytes, size limits), keeps it
under the tenant's prefix and rewrites the reference on the message (and on its timeline entry) as
`stored`, or as `failed` with a pt-BR reason. Only pending references are fetched, so a replayed task or
a second kick does nothing; a replayed webhook never reaches here (the message is stored once).
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from app import live
from app.after_commit import enqueue_after_commit
from app.audit.log import record
from app.auth.actor import system_actor
from app.errors import DomainError
from app.messaging import attachments, channel_state
from app.messaging import channels as channel_service
from app.messaging.protocol import MediaError, MediaFile
from models.tenant import Channel, Conversation, Message
from tenants.database import session, unit_of_work

log = logging.getLogger(__name__)

FETCH_TASK = "messaging.fetch_media"
MEDIA_KINDS = frozenset({"image", "document"})
PROVIDERS = frozenset({"whatsapp_cloud", "wppconnect"})
# What a provider may declare before we spend a download on it; the stored type is still sniffed from
# the bytes (attachments.sniff), so a lie here only wastes a request.
ALLOWED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/csv",
        *attachments.OFFICE_TYPES,
    }
)
# app.messaging.inbound.NAMESPACE_CUSTOMER (inbound imports this module): an open profile re-reads.
NAMESPACE_CUSTOMER = "conversations"
ATTEMPTS = 3
# A fetch still pending this long after its message arrived lost its kick (Redis down, worker killed):
# the sweep kicks it again; older than STALE_MAX it is left alone (the provider's URL is long gone).
STALE_AFTER_S = 120
STALE_MAX_S = 24 * 3600
RETRY_DELAYS = (1.0, 3.0)

ERRORS_PT = {
    "too-large": "Arquivo grande demais: o limite é {mb} MB.",
    "type": "Tipo de arquivo não permitido: só imagens (JPG, PNG, WebP), PDF, Office ou texto.",
    "not-found": "O arquivo não está mais disponível no WhatsApp.",
    "auth": "O provedor recusou as credenciais do canal ao baixar o arquivo; revise-o em Canais.",
    "unavailable": "Não foi possível baixar o arquivo do WhatsApp; tente reenviar mais tarde.",
    "no_channel": "O canal desta mensagem não existe mais.",
}


def _error_pt(code: str, kind: str) -> str:
    if code == "too-large":
        limit = attachments.IMAGE_MAX_BYTES if kind == "image" else attachments.DOCUMENT_MAX_BYTES
        return ERRORS_PT["too-large"].format(mb=limit // (1024 * 1024))
    return ERRORS_PT.get(code, ERRORS_PT["unavailable"])


def _failed(ref: dict[str, Any], code: str) -> dict[str, Any]:
    return {**ref, "status": "failed", "error_code": code, "error": _error_pt(code, str(ref.get("kind")))}


def pending_ref(
    channel: Channel, provider_message_id: str, kind: str, media: dict[str, Any]
) -> dict[str, Any]:
    """The attachment an inbound image/document carries until the task has fetched it; {} when this
    message has nothing we fetch (audio, stickers' other kinds, sandbox channels)."""
    if channel.kind not in PROVIDERS or kind not in MEDIA_KINDS:
        return {}
    media_id = media.get("id") if channel.kind == "whatsapp_cloud" else provider_message_id
    if not media_id:
        return {}
    ref: dict[str, Any] = {
        "status": "pending",
        "kind": kind,
        "provider_media_id": str(media_id)[:200],
        "mime_type": str(media.get("mime_type") or media.get("mimetype") or "")[:120],
    }
    if media.get("filename"):
        ref["filename"] = attachments.safe_name(str(media["filename"]))
    if media.get("sha256"):
        ref["sha256"] = str(media["sha256"])[:64]
    return ref


def schedule(db: Session, message: Message) -> None:
    """Queue the download once the caller commits (the webhook's transaction)."""
    enqueue_after_commit(db, FETCH_TASK, str(db.info["schema"]), message.id)


@dataclass
class _Pending:
    channel: Channel | None  # None: the channel was deleted meanwhile (its fetches fail)
    refs: list[tuple[int, dict[str, Any]]]  # (index in message.attachments, reference)


def _pending(schema: str, message_id: int) -> _Pending | None:
    with session(schema) as db:
        msg = db.get(Message, message_id)
        if msg is None or msg.direction != "in":
            return None
        refs = [(i, dict(a)) for i, a in enumerate(msg.attachments or []) if a.get("status") == "pending"]
        if not refs:
            return None
        channel = db.get(Channel, msg.channel_id) if msg.channel_id is not None else None
        if channel is not None:
            db.expunge(channel)
        return _Pending(channel, refs)


def _filename(ref: dict[str, Any], message_id: int, content_type: str) -> str:
    if ref.get("filename"):
        return str(ref["filename"])
    ext = attachments.EXTENSIONS.get(content_type.split(";")[0].strip(), "")
    base = "imagem" if ref.get("kind") == "image" else "documento"
    return f"{base}-{message_id}{ext}"


async def _download(adapter: Any, ref: dict[str, Any]) -> MediaFile:
    limit = attachments.IMAGE_MAX_BYTES if ref.get("kind") == "image" else attachments.DOCUMENT_MAX_BYTES
    for attempt in range(ATTEMPTS):
        try:
            media: MediaFile = await adapter.download_media(str(ref["provider_media_id"]), limit)
            return media
        except MediaError as exc:
            if not exc.transient or attempt == ATTEMPTS - 1:
                raise
            log.info("media download retry %s: %s", attempt + 1, exc.code)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
    raise AssertionError("unreachable")


def _store(schema: str, message_id: int, ref: dict[str, Any], media: MediaFile) -> dict[str, Any]:
    declared = media.content_type.split(";")[0].strip().lower()
    if declared and declared not in ALLOWED_TYPES:
        return _failed(ref, "type")
    try:
        stored = attachments.store(schema, _filename(ref, message_id, declared), media.data)
    except DomainError as exc:  # Invalid (type) or TooLarge, with their pt-BR message
        code = "too-large" if exc.status == 413 else "type"
        return _failed(ref, code)
    return {**stored, "status": "stored", "provider_media_id": ref["provider_media_id"]}


async def fetch(schema: str, message_id: int) -> int:
    """Download the pending attachments of one inbound message; returns how many were stored."""
    job = await asyncio.to_thread(_pending, schema, message_id)
    if job is None:
        return 0
    results: dict[int, dict[str, Any]] = {}
    try:
        if job.channel is None:
            raise LookupError("channel deleted")
        adapter: Any = channel_service.adapter_for(job.channel)
    except Exception:
        log.exception("media: no adapter for message %s", message_id)
        for i, ref in job.refs:
            results[i] = _failed(ref, "no_channel")
        return await asyncio.to_thread(_finish, schema, message_id, job, results, None)
    try:
        for i, ref in job.refs:
            try:
                media = await _download(adapter, ref)
            except MediaError as exc:
                log.warning("media download failed: message=%s code=%s", message_id, exc.code)
                code = exc.code if exc.code in ERRORS_PT else "unavailable"
                results[i] = _failed(ref, code)
                continue
            results[i] = await asyncio.to_thread(_store, schema, message_id, ref, media)
    finally:
        await adapter.aclose()
    state = getattr(adapter, "state", None)
    return await asyncio.to_thread(_finish, schema, message_id, job, results, state)


def _finish(
    schema: str,
    message_id: int,
    job: _Pending,
    results: dict[int, dict[str, Any]],
    state: dict[str, Any] | None,
) -> int:
    stored = 0
    with session(schema) as db, unit_of_work(db):
        msg = db.get(Message, message_id, with_for_update=True)
        if msg is None:
            return 0
        current = [dict(a) for a in msg.attachments or []]
        before = [dict(a) for a in current]
        for i, result in results.items():
            if i < len(current) and current[i].get("status") == "pending":
                current[i] = result
                stored += result.get("status") == "stored"
            elif result.get("status") == "stored":
                # Another run got there first: drop our copy.
                attachments.discard(schema, str(result["key"]))
        if current == before:
            return 0
        msg.attachments = current
        db.add(msg)
        db.execute(
            text(
                f"UPDATE \"{schema}\".interactions SET payload = jsonb_set(payload, '{{attachments}}', "
                "CAST(:a AS jsonb)) WHERE ref_type = 'conversation' AND ref_id = :conv "
                "AND kind = 'message_in' AND payload->>'message_id' = :mid"
            ),
            {"a": json.dumps(current), "conv": msg.conversation_id, "mid": str(message_id)},
        )
        if state is not None and job.channel is not None and state != (job.channel.state or {}):
            channel = db.get(Channel, job.channel.id)
            if channel is not None:
                # Only the keys the adapter changed (a refreshed token): others' writes stay.
                channel_state.save(db, channel, job.channel.state, state)
        record(
            db,
            system_actor(None, schema),
            "attachment.receive",
            "message",
            message_id,
            {"attachments": [_audit_view(a) for a in before]},
            {"attachments": [_audit_view(a) for a in current]},
        )
        conv = db.get(Conversation, msg.conversation_id)
        if conv is not None:
            live.touch(db, NAMESPACE_CUSTOMER, conv.customer_id)
    return stored


def _audit_view(ref: dict[str, Any]) -> dict[str, Any]:
    keep = ("status", "kind", "key", "content_type", "size", "error_code", "provider_media_id")
    return {k: ref[k] for k in keep if k in ref}


def stale(schema: str, limit: int = 100) -> list[int]:
    """Inbound messages whose fetch should have happened by now (through ix_messages_media_pending)."""
    with session(schema) as db:
        rows = db.execute(
            text(
                f"SELECT id FROM \"{schema}\".messages WHERE direction = 'in' "
                "AND attachments @> CAST(:pending AS jsonb) "
                "AND created_at < now() - make_interval(secs => :after) "
                "AND created_at > now() - make_interval(secs => :max) ORDER BY created_at LIMIT :limit"
            ),
            {
                "pending": '[{"status": "pending"}]',
                "after": STALE_AFTER_S,
                "max": STALE_MAX_S,
                "limit": limit,
            },
        ).all()
    return [int(r[0]) for r in rows]
