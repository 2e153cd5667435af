"""Resend's delivery webhooks: `POST /api/webhooks/resend/{canal_id}` (issue 18).

`canal_id` is the route key `{tenant_id}-{channel_id}` (app.messaging.webhook_routes). Order of checks:
the channel exists (404), the body is small enough (413), the Svix signature with that channel's
webhook secret is right and fresh (401, audited without secrets or the body), the payload has the
shape Resend publishes (400), the svix-id was not applied before (a replay answers 200 and changes
nothing), then the event moves the message (app.messaging.inbound.apply_status). Verifying before
recording the receipt keeps unauthenticated requests from writing anything but the audit row.
"""

import json
import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.api.contract import ErrorOut
from app.api.deps import client_ip
from app.audit.log import record
from app.auth.actor import system_actor
from app.errors import DomainError, NotFound, TooLarge, Unauthorized
from app.messaging import inbound, svix
from app.messaging.protocol import StatusEvent
from app.messaging.webhook_routes import open_channel
from app.security.keys import decrypt
from app.validation import Str60
from models.tenant import Channel
from tenants.database import unit_of_work

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

PROVIDER = "resend"
# Resend's events are a few hundred bytes; anything this large is not one.
MAX_BODY = 256 * 1024
# Resend event type -> StatusEvent.status (app.messaging.inbound maps those onto the message).
EVENTS = {
    "email.sent": "sent",
    "email.delivered": "delivered",
    "email.delivery_delayed": "delivery_delayed",
    "email.bounced": "bounced",
    "email.complained": "complained",
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.failed": "failed",
}
_NOT_FOUND = "Canal não encontrado."


class Malformed(DomainError):
    code = "bad_request"
    status = 400


class WebhookOut(BaseModel):
    status: str  # ok | ignored


def _error_doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge("Conteúdo grande demais.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge("Conteúdo grande demais.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/api/webhooks/resend/{canal_id}",
    response_model=WebhookOut,
    summary="Eventos de entrega do Resend (assinados pelo Svix)",
    responses={
        400: _error_doc("Evento malformado"),
        401: _error_doc("Assinatura Svix ausente, inválida ou fora da janela de 5 minutos"),
        404: _error_doc("Canal inexistente"),
        413: _error_doc("Conteúdo grande demais"),
    },
)
async def resend_webhook(canal_id: Str60, request: Request) -> WebhookOut:
    body = await _body(request)
    headers = {
        name: request.headers.get(name, "") for name in ("svix-id", "svix-timestamp", "svix-signature")
    }
    # Database work and the signature check run off the event loop.
    return await run_in_threadpool(handle, canal_id, headers, body, client_ip(request))


def parse_event(payload: Any, event_id: str) -> StatusEvent | None:
    """The StatusEvent of a Resend webhook payload; None for event types we do not track.

    Raises Malformed when the payload lacks what Resend always sends."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise Malformed("Evento sem tipo.")
    status = EVENTS.get(payload["type"])
    if status is None:
        return None  # email.received, contact.*, domain.*: nothing of ours moves
    data = payload.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("email_id"), str) or not data["email_id"]:
        raise Malformed("Evento sem data.email_id.")
    at = _timestamp(payload.get("created_at"))
    to = data.get("to")
    recipient = to[0] if isinstance(to, list) and to and isinstance(to[0], str) else None
    error_code = error = None
    bounce = data.get("bounce")
    if status == "bounced" and isinstance(bounce, dict):
        kind = str(bounce.get("type") or "")
        error_code = f"bounce-{kind.lower() or 'unknown'}"[:40]
        error = str(bounce.get("message") or "bounced")[:500]
        if kind and kind != "Permanent":
            # A transient bounce ends this message but says nothing lasting about the address: no opt-out.
            status = "failed"
    elif status == "failed":
        failed = data.get("failed")
        error_code = "resend-failed"
        error = str(failed.get("reason") if isinstance(failed, dict) else "failed")[:500]
    return StatusEvent(
        provider_message_id=data["email_id"][:200],
        status=status,
        at=at,
        error_code=error_code,
        error=error,
        event_id=event_id,
        recipient=recipient,
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _webhook_secret(channel: Channel) -> str:
    # The channel's secrets are one Fernet-encrypted JSON document (app.messaging.channels writes it).
    if not channel.secrets:
        return ""
    return str(json.loads(decrypt(channel.secrets)).get("webhook_secret") or "")


def handle(key: str, headers: dict[str, str], body: bytes, ip: str | None) -> WebhookOut:
    with open_channel(key, PROVIDER) as found:
        if found is None:
            raise NotFound(_NOT_FOUND)
        tenant_id, db, channel = found
        secret = _webhook_secret(channel)
        try:
            event_id = svix.verify(secret, headers, body)
        except svix.BadSignature as exc:
            with unit_of_work(db):
                actor = system_actor(tenant_id, str(db.info["schema"])).with_ip(ip)
                after = {
                    "provider": PROVIDER,
                    "reason": str(exc),
                    "svix_id": headers.get("svix-id", "")[:200],
                }
                record(db, actor, "webhook.rejected", "channel", channel.id, None, after)
            log.warning("resend webhook refused for channel %s/%s: %s", tenant_id, channel.id, exc)
            raise Unauthorized("Assinatura do webhook inválida.") from None
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Malformed("Corpo não é JSON.") from None
        event = parse_event(payload, event_id)
        with unit_of_work(db):
            if inbound.already_seen(db, PROVIDER, event_id):
                return WebhookOut(status="ignored")
            if event is None:
                return WebhookOut(status="ignored")
            inbound.apply_status(db, channel, event)
    return WebhookOut(status="ok")
