"""WhatsApp webhooks: Meta's Cloud API (one URL for every number of the Meta app) and WPPConnect
servers (one URL per channel).

No login here: a Cloud API request is authenticated by `X-Hub-Signature-256` (HMAC-SHA256 of the raw
body with the channel's app secret), a WPPConnect request by the channel's own webhook secret. A
failure answers 401 and leaves an audit row in the tenant's log (provider, channel, IP, reason; never
the secret or the body).

These routes do database work only (no provider call), in the thread pool: a provider timing out can
never hold the web process. Statuses and inbound messages go through `app.messaging.inbound`, which is
idempotent: a replayed webhook changes nothing.

Answers to Meta: anything but 200 makes Meta retry the delivery for days and eventually disable the
webhook, so a payload for a number we do not know (a channel deleted here, but still subscribed at
Meta) or of a suspended tenant is acknowledged with 200 `{"status": "ignored"}`.
"""

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import InvalidToken
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import ValidationError
from sqlalchemy import text
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from app.api.deps import client_ip
from app.audit.log import record
from app.auth.actor import system_actor
from app.messaging import alerts, consent, failure_reasons, number_signals, wpp_sessions
from app.messaging.governor import get_governor
from app.messaging.inbound import already_seen, apply_inbound, apply_status
from app.messaging.kinds import WhatsAppCloudConfig
from app.messaging.limits import identity_for
from app.messaging.protocol import StatusEvent
from app.messaging.webhook_routes import open_channel
from app.messaging.whatsapp_events import (
    CloudChange,
    Malformed,
    QualityEvent,
    parse_cloud,
    parse_cloud_quality,
    parse_wpp,
)
from app.messaging.wpp_sessions import decrypted_config
from models.base import utcnow
from models.platform import ChannelRoute, Tenant
from models.tenant import Channel, Message
from tenants.database import platform_session, retry_deadlocks, session, unit_of_work

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/webhooks", tags=["webhooks"], include_in_schema=False)

CLOUD = "whatsapp_cloud"
WPP = "wppconnect"
SPAM_RATE, MARKETING_OPT_OUT = "131048", failure_reasons.MARKETING_OPT_OUT
MAX_BODY = 1_000_000  # Meta batches up to a few hundred events; media never travels in a webhook
_CHALLENGE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def _ok(**extra: Any) -> JSONResponse:
    return JSONResponse({"status": "ok", **extra})


def _refuse(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, "fields": {}}, status_code=status)


def audit_bad_secret(
    db: Session, tenant_id: int, schema: str, channel: Channel, provider: str, ip: str | None, reason: str
) -> None:
    actor = system_actor(tenant_id, schema).with_ip(ip)
    after = {"provider": provider, "channel_id": channel.id, "ip": ip, "reason": reason}
    record(db, actor, "webhook.rejected", "channel", channel.id, None, after)
    log.warning("webhook refused: provider=%s channel=%s reason=%s", provider, channel.id, reason)


# ---------------------------------------------------------------- Meta Cloud API


@router.get("/whatsapp-cloud", response_class=PlainTextResponse)
def cloud_verify(request: Request) -> Response:
    """Meta's subscription check: echo `hub.challenge` when the verify token is one of ours."""
    q = request.query_params
    mode, token, challenge = q.get("hub.mode"), q.get("hub.verify_token") or "", q.get("hub.challenge") or ""
    if mode != "subscribe" or not token or not _CHALLENGE.match(challenge):
        return PlainTextResponse("Forbidden", status_code=403)
    digest = hashlib.sha256(token.encode()).hexdigest()
    with platform_session() as db:
        found = db.exec(
            select(ChannelRoute.channel_id)
            .join(Tenant, col(Tenant.id) == ChannelRoute.tenant_id)
            .where(
                ChannelRoute.provider == CLOUD,
                ChannelRoute.verify_token_hash == digest,
                Tenant.status == "active",
            )
            .limit(1)
        ).first()
    if found is None:
        return PlainTextResponse("Forbidden", status_code=403)
    return PlainTextResponse(challenge)


@dataclass
class _Target:
    tenant_id: int
    schema: str
    channel_id: int
    change: CloudChange


@router.post("/whatsapp-cloud")
async def cloud_webhook(request: Request) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _refuse(413, "too_large", "Conteúdo grande demais.")
    try:
        payload = json.loads(raw)
        changes = parse_cloud(payload)
        quality = parse_cloud_quality(payload)
    except (ValueError, Malformed):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _refuse(400, "bad_request", "Requisição malformada.")
    signature = request.headers.get("x-hub-signature-256", "")
    ip = client_ip(request)
    if quality and not changes:
        return await run_in_threadpool(_quality_apply, raw, quality, signature, ip)
    response = await run_in_threadpool(retry_deadlocks, _cloud_apply, raw, changes, signature, ip)
    if quality and response.status_code == 200:
        # One body, one signature: the numbers' messages verified, so do the WABA's quality updates.
        await run_in_threadpool(_quality_apply, raw, quality, signature, ip)
    return response


def _cloud_targets(changes: list[CloudChange]) -> list[_Target]:
    if not changes:
        return []
    with platform_session() as db:
        rows = db.exec(
            select(ChannelRoute, Tenant)
            .join(Tenant, col(Tenant.id) == ChannelRoute.tenant_id)
            .where(
                ChannelRoute.provider == CLOUD,
                col(ChannelRoute.external_id).in_([c.phone_number_id for c in changes]),
                Tenant.status == "active",
            )
        ).all()
    routes = {route.external_id: (tenant, route) for route, tenant in rows if tenant.schema_name}
    return [
        _Target(tenant.id or 0, tenant.schema_name or "", route.channel_id, change)
        for change in changes
        if (found := routes.get(change.phone_number_id)) is not None
        for tenant, route in [found]
    ]


def _live_channel(db: Session, channel_id: int, kind: str) -> Channel | None:
    channel = db.get(Channel, channel_id)
    if channel is None or channel.deleted_at is not None or channel.kind != kind:
        return None
    return channel


def _app_secret(channel: Channel) -> str:
    try:
        return decrypted_config(channel, WhatsAppCloudConfig).app_secret
    except (ValidationError, InvalidToken, ValueError):
        return ""  # a channel whose secrets cannot be read verifies nothing


def _signature_ok(raw: bytes, header: str, app_secret: str) -> bool:
    if not header.startswith("sha256=") or not app_secret:
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[len("sha256=") :].strip().lower(), expected)


def _verifies(target: _Target, raw: bytes, signature: str) -> bool:
    with session(target.schema) as db:
        channel = _live_channel(db, target.channel_id, CLOUD)
        return channel is None or _signature_ok(raw, signature, _app_secret(channel))


def _cloud_apply(raw: bytes, changes: list[CloudChange], signature: str, ip: str | None) -> Response:
    targets = _cloud_targets(changes)
    if not targets:
        return JSONResponse({"status": "ignored"})
    if len(targets) > 1:
        # Every number in the payload must verify before anything of it is applied. Meta sends one
        # number per payload in practice: that one is verified and applied in one session below.
        failing = next((t for t in targets if not _verifies(t, raw, signature)), None)
        if failing is not None:
            targets = [failing]  # audited and refused below, before anything is applied
    applied = ignored = 0
    for target in targets:
        failures = False
        with session(target.schema) as db, unit_of_work(db):
            channel = _live_channel(db, target.channel_id, CLOUD)
            if channel is None:
                continue
            if not _signature_ok(raw, signature, _app_secret(channel)):
                reason = "missing" if not signature else "mismatch"
                audit_bad_secret(db, target.tenant_id, target.schema, channel, CLOUD, ip, reason)
                return _refuse(401, "bad_signature", "Assinatura inválida.")
            # Rows locked in id order, as the outbox's marks lock them: fewer deadlocks with a worker.
            ordered = sorted(target.change.statuses, key=lambda e: e.message_id or 0)
            reported: list[int] = []
            for status in ordered:
                # apply_status only moves a message forward: a replayed status is a no-op.
                row = apply_status(db, channel, status)
                if row is None:
                    ignored += 1
                    continue
                applied += 1
                reported.append(row.id or 0)
                if status.status == "failed":
                    ban_signal(db, target.schema, channel, status, row)
                    failures = True
            for message in target.change.inbound:
                if already_seen(db, CLOUD, "in:" + message.provider_message_id):
                    ignored += 1
                    continue
                apply_inbound(db, channel, message)
                applied += 1
            if failures and channel.status == "active":
                db.flush()  # the failed rows count in the number's recent failed share
                number_signals.check_failures(db, channel)
            if reported:
                db.flush()
                note_statuses_claimed(db, target.schema, channel, reported)
    return _ok(applied=applied, ignored=ignored)


STATUSES_CLAIMED = "statuses_claimed_us"


def note_statuses_claimed(db: Session, schema: str, channel: Channel, message_ids: list[int]) -> None:
    """Record on the number the latest claim (epoch microseconds) among the sends this payload reported
    on: the outbox's reaper gives a send that never got a status back to the queue only once a status
    arrived for a send claimed at or after it (`outbox.reap`). One atomic statement that only ever
    raises the value, merged into the state under the row's lock: a concurrent writer of other keys
    neither loses it nor is lost (`app.messaging.channel_state`)."""
    db.execute(
        text(
            f"""
            UPDATE {schema}.channels c
               SET state = coalesce(c.state, '{{}}'::jsonb) || jsonb_build_object('{STATUSES_CLAIMED}', v.us)
              FROM (SELECT (extract(epoch FROM max(claimed_at)) * 1000000)::bigint AS us
                      FROM {schema}.messages WHERE id = ANY(:ids)) v
             WHERE c.id = :channel AND v.us IS NOT NULL
               AND coalesce((c.state ->> '{STATUSES_CLAIMED}')::bigint, 0) < v.us
            """
        ),
        {"ids": message_ids, "channel": channel.id},
    )


@dataclass
class _WabaRoute:
    tenant_id: int
    schema: str
    channel_id: int
    waba_id: str


def _waba_routes(events: list[QualityEvent]) -> list[_WabaRoute]:
    with platform_session() as db:
        rows = db.exec(
            select(ChannelRoute, Tenant)
            .join(Tenant, col(Tenant.id) == ChannelRoute.tenant_id)
            .where(
                ChannelRoute.provider == CLOUD,
                col(ChannelRoute.waba_id).in_({e.waba_id for e in events}),
                Tenant.status == "active",
            )
            .order_by(col(ChannelRoute.tenant_id), col(ChannelRoute.channel_id))
        ).all()
    return [
        _WabaRoute(tenant.id or 0, tenant.schema_name, route.channel_id, route.waba_id or "")
        for route, tenant in rows
        if tenant.schema_name
    ]


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _number_for(event: QualityEvent, channels: list[Channel]) -> Channel | None:
    """The WABA's number the event names by its display form; a WABA with a single number whose
    display form was never filled in is that number."""
    on_waba = [c for c in channels if str((c.config or {}).get("waba_id") or "") == event.waba_id]
    for channel in on_waba:
        if _digits(str((channel.config or {}).get("display_phone") or "")) == event.display_phone_number:
            return channel
    if len(on_waba) == 1 and not (on_waba[0].config or {}).get("display_phone"):
        return on_waba[0]
    return None


def _quality_apply(raw: bytes, events: list[QualityEvent], signature: str, ip: str | None) -> Response:
    """Meta's `phone_number_quality_update`, routed by WABA id and display number. Each matching
    channel verifies the signature with its own app secret: a channel of another organisation that
    claims the same WABA id (with its own secret) is refused and audited there, and neither blocks nor
    receives the update of the organisation whose secret signed it. 401 when no channel verified."""
    by_tenant: dict[tuple[int, str], list[_WabaRoute]] = {}
    for route in _waba_routes(events):
        by_tenant.setdefault((route.tenant_id, route.schema), []).append(route)
    applied = refused = 0
    for (tenant_id, schema), routes in by_tenant.items():
        with session(schema) as db, unit_of_work(db):
            channels = [c for r in routes if (c := _live_channel(db, r.channel_id, CLOUD)) is not None]
            for event in events:
                channel = _number_for(event, channels)
                if channel is None:
                    continue
                if not _signature_ok(raw, signature, _app_secret(channel)):
                    reason = "missing" if not signature else "mismatch"
                    audit_bad_secret(db, tenant_id, schema, channel, CLOUD, ip, reason)
                    refused += 1
                    continue
                number_signals.apply_quality(db, channel, event)
                applied += 1
    if refused and not applied:
        return _refuse(401, "bad_signature", "Assinatura inválida.")
    if not applied:
        return JSONResponse({"status": "ignored"})
    return _ok(applied=applied, ignored=0)


def ban_signal(db: Session, schema: str, channel: Channel, event: StatusEvent, message: Message) -> None:
    """DESIGN.md's ban signals on a failed status: 131048 (Meta restricts the number for spam) pauses
    the number in the governor and on the channel until an admin resumes it; 131050 (the recipient
    told WhatsApp to stop marketing messages) suppresses the address in the consent ledger. 131008 is
    "required parameter missing" in Meta's error codes (our request, not the recipient): only the
    message fails, with its own reason, and nobody is opted out."""
    if event.error_code == SPAM_RATE:
        config = decrypted_config(channel, WhatsAppCloudConfig)
        get_governor().pause(identity_for(schema, channel.id or 0, config), f"{SPAM_RATE} spam rate limit")
        before = channel.status
        channel.status, channel.status_at = "paused", utcnow()
        channel.status_detail = (
            "A Meta limitou o envio deste número por spam (131048). Revise as campanhas antes de retomar."
        )
        db.add(channel)
        actor = system_actor(None, schema)
        record(
            db,
            actor,
            "channel.ban_signal",
            "channel",
            channel.id,
            {"status": before},
            {"status": channel.status, "error_code": SPAM_RATE, "message_id": message.id},
        )
        if before != "paused":
            alerts.alert_admins(
                db,
                title=f"Número pausado: {channel.name}",
                body=channel.status_detail or "",
                link="/admin/canais",
                channel_id=channel.id or 0,
            )
    elif event.error_code == MARKETING_OPT_OUT and (message.to_address or event.recipient):
        consent.opt_out(
            db,
            medium="whatsapp",
            address=message.to_address or event.recipient or "",
            source="complaint",
            evidence={"provider": CLOUD, "error_code": MARKETING_OPT_OUT, "message_id": message.id},
        )


# ---------------------------------------------------------------- WPPConnect


@router.post("/wppconnect/{route_key}")
async def wpp_webhook(route_key: str, request: Request) -> Response:
    """A WPPConnect server's events for one channel; `route_key` is "<tenant id>-<channel id>" and the
    channel's webhook secret comes as the `token` query parameter (WPPConnect cannot send headers)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _refuse(413, "too_large", "Conteúdo grande demais.")
    token = request.query_params.get("token", "")
    return await run_in_threadpool(_wpp_apply, route_key, raw, token, client_ip(request))


def _wpp_apply(route_key: str, raw: bytes, token: str, ip: str | None) -> Response:
    with open_channel(route_key, WPP) as found:
        if found is None:
            return _refuse(404, "not_found", "Endereço não encontrado.")
        tenant_id, db, channel = found
        schema = str(db.info["schema"])
        with unit_of_work(db):
            if not wpp_sessions.webhook_token_ok(channel, token):
                audit_bad_secret(
                    db, tenant_id, schema, channel, WPP, ip, "missing" if not token else "mismatch"
                )
                return _refuse(401, "bad_signature", "Assinatura inválida.")
            try:
                event = parse_wpp(json.loads(raw))
            except (ValueError, Malformed):
                return _refuse(400, "bad_request", "Requisição malformada.")
            if event.inbound is not None:
                if already_seen(db, WPP, "in:" + event.inbound.provider_message_id):
                    return JSONResponse({"status": "ignored"})
                apply_inbound(db, channel, event.inbound)
            elif event.status is not None:
                apply_status(db, channel, event.status)
            elif event.session_status is not None or event.qrcode is not None:
                wpp_sessions.apply_session_event(db, channel, event.session_status, event.qrcode)
    return _ok()
