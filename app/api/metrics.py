"""GET /metrics: the Monitoramento figures for Prometheus (text exposition format), every active tenant
labelled, behind a bearer token (METRICS_TOKEN; unset: 404, the endpoint does not exist)."""

import hmac

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlmodel import col, select

from app.auth.actor import system_actor
from app.errors import NotFound, Unauthorized
from app.messaging import health, number_health
from app.settings import get_settings
from app.validation import Str500
from models.platform import Tenant
from tenants.database import platform_session, session
from tenants.queues import queue_stats, workers_alive

router = APIRouter(tags=["monitoramento"], include_in_schema=False)


def _authorised(authorization: str | None) -> None:
    token = get_settings().metrics_token
    if token is None or not token.get_secret_value():
        raise NotFound("Não encontrado.")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise Unauthorized("Token inválido.")


def render() -> bytes:
    registry = CollectorRegistry()
    queue = Gauge("crm_task_queue_depth", "Tasks waiting in the queue", registry=registry)
    workers = Gauge("crm_workers_alive", "Workers with a heartbeat in the last 30 s", registry=registry)
    outbox = Gauge("crm_outbox_messages", "Outbox messages by state", ["tenant", "status"], registry=registry)
    campaigns = Gauge("crm_campaigns_active", "Running or scheduled campaigns", ["tenant"], registry=registry)
    sends = Gauge(
        "crm_identity_sends_24h",
        "Sends per identity, rolling 24 h",
        ["tenant", "identity"],
        registry=registry,
    )
    paused = Gauge(
        "crm_identity_paused", "1 when the identity is paused", ["tenant", "identity"], registry=registry
    )
    level = Gauge(
        "crm_number_health_level",
        "Cloud API number health: 0 healthy, 1 slowed, 2 flagged, 3 restricted",
        ["tenant", "identity"],
        registry=registry,
    )
    bounce = Gauge(
        "crm_email_bounce_rate", "Bounce share per domain, today", ["tenant", "domain"], registry=registry
    )
    stats = queue_stats()
    if stats.pending is not None:
        queue.set(stats.pending)
    alive = workers_alive()
    if alive is not None:
        workers.set(len(alive))
    with platform_session() as pdb:
        tenants = pdb.exec(
            select(Tenant).where(Tenant.status == "active", col(Tenant.schema_name).is_not(None))
        ).all()
    for t in tenants:
        schema = t.schema_name or ""
        with session(schema) as db:
            snap = health.snapshot(db, system_actor(t.id, schema))
        for status, n in snap.outbox.items():
            outbox.labels(t.slug, status).set(n)
        campaigns.labels(t.slug).set(snap.campaigns_running)
        for ident in snap.identities:
            sends.labels(t.slug, ident.identity).set(ident.sends_24h)
            paused.labels(t.slug, ident.identity).set(1 if ident.paused else 0)
            if ident.health is not None:
                level.labels(t.slug, ident.identity).set(number_health.LEVELS.index(ident.health))
        for day in snap.domains[-1:]:
            bounce.labels(t.slug, day.domain).set(day.bounce_rate)
    return generate_latest(registry)


@router.get("/metrics", response_model=None)
def metrics(authorization: Str500 | None = Header(default=None)) -> Response:
    _authorised(authorization)
    return Response(render(), media_type=CONTENT_TYPE_LATEST)
