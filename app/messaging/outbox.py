"""The outbox: every outbound message (agents' replies, one-off sends, campaigns) goes through here.

States of an outbound `Message` row:

    queued --reserve--> reserved --claim--> uncertain --mark--> sent | queued (retry) | failed
                           |                    |
                           |                    +-- the worker died or the provider's answer was lost:
                           |                        stays uncertain, reconciled from status webhooks
                           +-- lease expired (worker died before calling the provider): the reaper
                               puts it back to queued; or opted out at send time: skipped

- `queue_message` inserts a queued row in the caller's transaction (idempotency key: the same key
  returns the same row) and kicks the deliver task after the commit.
- `reserve` takes a batch in one statement: `FOR UPDATE SKIP LOCKED` through the partial index
  `ix_messages_outbox` (queued outbound rows only), setting `lease_until` and `worker_id`, and commits.
- `deliver_batch` re-checks consent, then *claims* the rows it will send (reserved → uncertain, only
  while the row is still its own: reserved to it, not yet re-queued by the reaper) and commits before
  calling any provider: a row is `uncertain` exactly while the request may have left. A slow worker
  whose lease the reaper took back claims nothing, so two workers never send one row. Results are
  marked in batches, each guarded by (status uncertain, worker id).
- `reap` re-queues reserved rows whose lease expired. An uncertain row is never resent blindly (WhatsApp
  has no idempotency key): a Cloud API send goes back to the queue only on evidence that it never reached
  Meta (a status arrived about a send claimed at or after it, but none about it, for a settling period);
  otherwise it is settled as failed (may have arrived) once nothing can bring that evidence any more.
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from app import live
from app.after_commit import enqueue_after_commit
from app.campaigns import counters
from app.errors import DomainError
from app.messaging import attachments as attachment_files
from app.messaging import (
    channel_state,
    consent,
    failure_reasons,
    governor,
    inbound,
    limits,
    number_health,
    number_signals,
)
from app.messaging import channels as channel_service
from app.messaging.adapters import pool as adapter_pool
from app.messaging.adapters import sandbox
from app.messaging.protocol import (
    Attachment,
    OutboundMessage,
    Outcome,
    SendResult,
    TemplateRef,
)
from app.settings import get_settings
from models.base import utcnow
from models.tenant import Channel, Message, Template
from tenants.database import int_array, retry_deadlocks, session, text_array
from tenants.database import sql as _sql

log = logging.getLogger(__name__)
T = TypeVar("T")

DELIVER_TASK = "messaging.deliver"
BATCH = 200
# Messages claimed (made `uncertain`) at once: what a killed worker can leave unsettled.
CLAIM_CHUNK = 25
MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
# A deliver run waits (asleep) for governor slots up to this far ahead, and runs at most this long.
LINGER_SECONDS = 30.0
MAX_RUN_SECONDS = 600.0
# Provider codes that stop the identity until someone resumes it (Meta 131048: spam rate limit hit).
PAUSE_CODES = frozenset({"131048"})
PAUSED_RETRY_SECONDS = 60.0
GOVERNOR_DOWN_RETRY_SECONDS = 2.0  # a chunk put back while Redis restarts
CLOUD_KIND = "whatsapp_cloud"  # numbers whose health the marks keep (app.messaging.number_signals)
_ERROR_MAX = 500

# What a screen shows for each final outcome (the provider's own text stays in the logs).
ERRORS_PT = {
    "opted_out": "Contato descadastrado: a mensagem não foi enviada.",
    Outcome.WINDOW_CLOSED: "A janela de 24 horas do WhatsApp está fechada: envie um modelo aprovado.",
    Outcome.AUTH: "O provedor recusou as credenciais do canal; revise-o em Canais.",
    Outcome.FAILED: "O provedor recusou a mensagem.",
    Outcome.UNCERTAIN: "O provedor não confirmou o envio; aguardando o status (não será reenviada).",
    "retries": "Não foi possível enviar depois de várias tentativas.",
    "no_channel": "O canal desta mensagem não existe mais.",
}


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential: 30 s, 60 s, 120 s... capped at an hour; the provider's Retry-After wins if longer."""
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return max(delay, retry_after or 0.0)


# ---------------------------------------------------------------- queue (caller's transaction)


def queue_message(
    db: Session,
    *,
    conversation_id: int,
    channel: Channel,
    to_address: str,
    body: str = "",
    kind: str = "text",
    subject: str | None = None,
    html: str | None = None,
    template_id: int | None = None,
    variables: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    author_id: int | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Add a queued outbound message (no commit) and kick delivery once the caller commits.

    The same idempotency key returns the row queued the first time instead of a second message."""
    if idempotency_key:
        existing = db.exec(select(Message).where(Message.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return existing
    msg = Message(
        conversation_id=conversation_id,
        direction="out",
        body=body,
        status="queued",
        channel_id=channel.id,
        kind=kind,
        to_address=to_address,
        subject=subject,
        html=html,
        template_id=template_id,
        variables=variables or {},
        attachments=attachments or [],
        author_id=author_id,
        idempotency_key=idempotency_key,
        next_attempt_at=utcnow(),
    )
    db.add(msg)
    db.flush()
    schema = db.info.get("schema")
    if schema:
        enqueue_after_commit(db, DELIVER_TASK, schema)
    return msg


# ---------------------------------------------------------------- reserve / reap (own transactions)


def reserve(
    schema: str, worker_id: str, *, limit: int = BATCH, lease_seconds: float | None = None
) -> list["Reserved"]:
    """Lease up to `limit` due queued messages of active channels to `worker_id`; commits. Returns what
    the consent re-check needs of each (oldest first), so the claim does not read the rows again."""
    lease_seconds = lease_seconds or get_settings().outbox_lease_seconds
    with session(schema) as db:
        rows = db.execute(
            _sql(
                f"""
                UPDATE {schema}.messages m
                   SET status = 'reserved', worker_id = :worker,
                       lease_until = now() + make_interval(secs => :lease), updated_at = now()
                 WHERE m.id IN (
                       SELECT q.id FROM {schema}.messages q
                        WHERE q.status = 'queued' AND q.direction = 'out' AND q.next_attempt_at <= now()
                          AND q.channel_id IN (SELECT c.id FROM {schema}.channels c
                                                WHERE c.status = 'active' AND c.deleted_at IS NULL)
                        ORDER BY q.next_attempt_at, q.id
                        LIMIT :limit
                          FOR UPDATE OF q SKIP LOCKED)
                RETURNING m.id, m.channel_id, m.to_address, m.campaign_id
                """
            ),
            {"worker": worker_id, "lease": float(lease_seconds), "limit": limit},
        ).all()
        db.commit()
    return sorted((Reserved(r[0], r[1] or 0, r[2] or "", r[3]) for r in rows), key=lambda r: r.id)


# How many settling periods a Cloud API send without a status may wait for evidence while its number
# still has sends to make (they bring statuses), before it is settled as failed anyway.
CLOUD_EVIDENCE_PERIODS = 12
UNCERTAIN_ERROR = (
    "Resultado desconhecido: o processo de envio parou durante o envio e o provedor não confirmou. "
    "Pode ter chegado; confira antes de reenviar."
)


def reap(schema: str) -> int:
    """Re-queue reserved messages whose lease expired (their worker died before calling the provider),
    and Cloud API sends proven never to have reached Meta; settle what cannot be proven either way.

    Uncertain messages are left alone while the provider's status webhook may still settle them. Past
    OUTBOX_UNCERTAIN_SECONDS after its claim without one (SMTP never sends one) an uncertain message is
    marked failed with a reason that says it may have arrived, never resent: at most once beats twice.
    A Cloud API send is re-queued instead once a status arrived for a send claimed at or after it (the
    rule below); it waits longer for that evidence while its number still has sends to make."""
    settle_after = get_settings().outbox_uncertain_seconds
    with session(schema) as db:
        # Meta reports every message it accepts (status webhooks, echoing our id) within seconds. A Cloud
        # API send still without a status a whole settling period after its claim, on a number for which
        # a status arrived about a send claimed at or after it (its own chunk included: the webhook
        # stamps `statuses_claimed_us`, the latest such claim), never reached Meta: the worker died
        # between the claim and the call. The evidence is per claim, not a clock of when statuses last
        # came: a status about an older send proves nothing about this one.
        returned = db.execute(
            _sql(
                f"""
                UPDATE {schema}.messages m
                   SET status = 'queued', worker_id = NULL, lease_until = NULL, next_attempt_at = now(),
                       error = NULL, error_code = NULL, updated_at = now()
                  FROM {schema}.channels c
                 WHERE m.status = 'uncertain' AND m.direction = 'out' AND m.provider_message_id IS NULL
                   AND coalesce(m.claimed_at, m.updated_at) < now() - make_interval(secs => :after)
                   AND c.id = m.channel_id AND c.kind = 'whatsapp_cloud'
                   AND (c.state ->> 'statuses_claimed_us')::bigint
                       >= (extract(epoch FROM coalesce(m.claimed_at, m.updated_at)) * 1000000)::bigint
                RETURNING m.id
                """
            ),
            {"after": float(settle_after)},
        ).all()
        if returned:
            log.warning(
                "outbox %s: %s uncertain Cloud API send(s) never reached Meta: re-queued",
                schema,
                len(returned),
            )
        # A Cloud API send without that evidence yet waits while its number has sends that can bring
        # it (queued, reserved, or claimed after it: a restarted worker may take a while to get to them),
        # up to CLOUD_EVIDENCE_PERIODS periods; with none left, two more periods, then failed.
        settled = db.execute(
            _sql(
                f"""
                UPDATE {schema}.messages m
                   SET status = 'failed', error_code = 'uncertain', error = :error, failed_at = now(),
                       lease_until = NULL, updated_at = now()
                 WHERE m.status = 'uncertain'
                   AND coalesce(m.claimed_at, m.updated_at) < now() - make_interval(secs => :after)
                   AND (m.channel_id NOT IN (SELECT id FROM {schema}.channels WHERE kind = 'whatsapp_cloud')
                        OR coalesce(m.claimed_at, m.updated_at) < now() - make_interval(secs => :cap * :after)
                        OR (coalesce(m.claimed_at, m.updated_at) < now() - make_interval(secs => 3 * :after)
                            AND NOT EXISTS (
                                SELECT 1 FROM {schema}.messages w
                                 WHERE w.channel_id = m.channel_id AND w.direction = 'out'
                                   AND (w.status IN ('queued', 'reserved')
                                        OR (w.status = 'uncertain' AND w.provider_message_id IS NULL
                                            AND w.claimed_at > coalesce(m.claimed_at, m.updated_at))))))
                RETURNING m.campaign_id
                """
            ),
            {"error": UNCERTAIN_ERROR, "after": float(settle_after), "cap": float(CLOUD_EVIDENCE_PERIODS)},
        ).all()
        if settled:
            _bump_campaigns(db, [r[0] for r in settled], {"queued": -1, "failed": 1})
            log.warning("outbox %s: %s uncertain message(s) settled as failed", schema, len(settled))
        count = len(
            db.execute(
                _sql(
                    f"""
                    UPDATE {schema}.messages
                       SET status = 'queued', lease_until = NULL, worker_id = NULL,
                           next_attempt_at = now(), updated_at = now()
                     WHERE status = 'reserved' AND lease_until < now()
                    RETURNING id
                    """
                )
            ).all()
        )
        db.commit()
    if count:
        log.warning("outbox %s: re-queued %s message(s) whose lease expired", schema, count)
    return count + len(settled) + len(returned)


def due_count(schema: str) -> int:
    """Queued outbound messages whose time has come (through the outbox index)."""
    with session(schema) as db:
        value = db.execute(
            _sql(
                f"SELECT count(*) FROM {schema}.messages "
                "WHERE status = 'queued' AND direction = 'out' AND next_attempt_at <= now()"
            )
        ).scalar_one()
    return int(value)


def next_due(schema: str) -> float | None:
    """When the next queued message of an active channel becomes due (epoch s), if one is waiting."""
    with session(schema) as db:
        value = db.execute(
            _sql(
                f"SELECT extract(epoch FROM min(q.next_attempt_at)) FROM {schema}.messages q "
                "WHERE q.status = 'queued' AND q.direction = 'out' AND q.next_attempt_at > now() "
                f"AND q.channel_id IN (SELECT c.id FROM {schema}.channels c "
                "WHERE c.status = 'active' AND c.deleted_at IS NULL)"
            )
        ).scalar_one()
    return float(value) if value is not None else None


# ---------------------------------------------------------------- deliver


@dataclass
class _Job:
    message: OutboundMessage
    channel_id: int
    campaign_id: int | None = None


@dataclass
class _ChannelBatch:
    channel: Channel
    jobs: list[_Job] = field(default_factory=list)
    results: dict[int, SendResult] = field(default_factory=dict)
    state_before: dict[str, Any] = field(default_factory=dict)
    state_after: dict[str, Any] | None = None
    # Messages the governor had no slot for within its max wait, put back (queued until `at`, epoch s)
    # before the sends; and those left when the identity was paused mid-batch, put back with the marks.
    released: dict[int, float] = field(default_factory=dict)
    deferred: dict[int, float] = field(default_factory=dict)


@dataclass
class DeliveryReport:
    reserved: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    uncertain: int = 0
    lost_lease: int = 0
    deferred: int = 0
    next_at: float | None = None  # the earliest time a deferred message may go (epoch s)

    def add(self, other: "DeliveryReport") -> None:
        for name in self.__dataclass_fields__:
            if name != "next_at":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.next_at is not None:
            self.next_at = other.next_at if self.next_at is None else min(self.next_at, other.next_at)


@dataclass(frozen=True)
class Reserved:
    """What the consent re-check needs of a reserved message."""

    id: int
    channel_id: int
    to_address: str
    campaign_id: int | None = None


def opted_out(db: Session, rows: list[Reserved], media: dict[int, str]) -> set[int]:
    """Ids of the messages whose address opted out of their channel's medium, read now (send time):
    one ledger query per medium for the whole batch."""
    by_medium: dict[str, list[Reserved]] = {}
    for m in rows:
        medium = media.get(m.channel_id)
        if medium and m.to_address:
            by_medium.setdefault(medium, []).append(m)
    skipped: set[int] = set()
    for medium, heads in by_medium.items():
        out = consent.opted_out(db, medium, sorted({m.to_address for m in heads}))
        skipped |= {m.id for m in heads if consent.normalise_address(medium, m.to_address) in out}
    return skipped


def _template_ref(row: Any, templates: dict[int, Template]) -> TemplateRef | None:
    """A Cloud API template send: frozen on the row by agents' sends (`_template`), or, for campaign rows
    (frozen values only), the template's provider name with the values in its variables' order."""
    if row.kind != "template":
        return None
    values = row.variables or {}
    frozen = values.get("_template")
    if isinstance(frozen, dict):
        return TemplateRef(
            name=frozen["name"], language=frozen["language"], body_params=list(frozen["params"])
        )
    tpl = templates.get(row.template_id or 0)
    if tpl is None or not tpl.provider_name:
        return None
    return TemplateRef(
        name=tpl.provider_name,
        language=tpl.language,
        body_params=[str(values.get(v, "")) for v in tpl.variables],
    )


def _files(schema: str, refs: list[dict[str, Any]] | None) -> list[Attachment]:
    """The bytes of a message's attachments at send time (claimed rows only), read once per process for
    all the messages that carry the file (`attachments.load_for_send`). A file gone from storage is left
    out and logged: the adapter then refuses the media message (failed, with its reason) rather than the
    whole claimed chunk staying uncertain."""
    files = []
    for r in refs or []:
        key = str(r.get("key") or "")
        try:
            data = attachment_files.load_for_send(schema, key)
        except DomainError:
            log.error("outbox %s: attachment %s is missing from storage", schema, r.get("key"))
            continue
        files.append(
            Attachment(
                filename=str(r.get("filename") or "arquivo"),
                content_type=str(r.get("content_type") or "application/octet-stream"),
                data=data,
                key=key,
            )
        )
    return files


def _outbound(
    row: Any, template: TemplateRef | None = None, files: list[Attachment] | None = None
) -> OutboundMessage:
    return OutboundMessage(
        attachments=files or [],
        template=template,
        message_id=row.id,
        to=row.to_address or "",
        kind=row.kind,
        text=row.body,
        subject=row.subject,
        html=row.html,
        idempotency_key=row.idempotency_key or f"msg-{row.id}",
        tags={"message_id": str(row.id)},
    )


# The rows of a chunk still reserved to this worker, found by id (a join on the ids, so the planner goes
# through the primary key). Their lease is not compared: a row whose lease expired is still this worker's
# until the reaper re-queues it (status and worker id are the guard). `ix_messages_leases` holds an entry
# for every version ever reserved until vacuum; a lease comparison here, or (before t0030) the status
# alone, made the planner read all of them for every chunk (docs/benchmarks.md, session 15).
_OWN_RESERVED = "WHERE m.id = v.id AND m.status = 'reserved' AND m.worker_id = :worker"


def _claim(
    schema: str, heads: list[Reserved], worker_id: str, channels: dict[int, Channel] | None = None
) -> tuple[dict[int, _ChannelBatch], DeliveryReport]:
    """Consent re-check and claim (reserved → uncertain) of these reserved messages, in one committed
    transaction.

    Plain SQL on the few columns a send needs: ORM rows (JSON attachments and all) cost more than the
    rest of the claim together. `channels` keeps the channels read by earlier chunks of the same
    reservation (a reservation's chunks follow each other within seconds)."""
    report = DeliveryReport(reserved=len(heads))
    chans = channels if channels is not None else {}
    with session(schema) as db:
        missing = sorted({h.channel_id for h in heads} - chans.keys())
        if missing:
            chans.update(
                {c.id or 0: c for c in db.exec(select(Channel).where(col(Channel.id).in_(missing))).all()}
            )
        media = {h.channel_id: chans[h.channel_id].medium for h in heads if h.channel_id in chans}
        opted = opted_out(db, heads, media)
        skipped: Sequence[Any] = ()
        if opted:
            skipped = db.execute(
                _sql(
                    f"UPDATE {schema}.messages m SET status = 'skipped', error_code = 'opted_out', "
                    "error = :error, lease_until = NULL, updated_at = now() "
                    f"FROM unnest(CAST(:ids AS bigint[])) AS v(id) {_OWN_RESERVED} "
                    "RETURNING m.campaign_id"
                ),
                {"ids": int_array(opted), "worker": worker_id, "error": ERRORS_PT["opted_out"]},
            ).all()
            report.skipped = len(skipped)
            # A campaign's message opted out at send time leaves its queue for "skipped (opted out)".
            _bump_campaigns(db, [r[0] for r in skipped], {"queued": -1, "skipped": 1, "skipped_opted_out": 1})
        claimed = db.execute(
            _sql(
                f"UPDATE {schema}.messages m SET status = 'uncertain', attempts = m.attempts + 1, "
                "claimed_at = now(), updated_at = now() "
                f"FROM unnest(CAST(:ids AS bigint[])) AS v(id) {_OWN_RESERVED} "
                "RETURNING m.id, m.channel_id, m.campaign_id, m.to_address, m.kind, m.body, m.subject, "
                "m.html, m.idempotency_key, m.template_id, "
                "CASE WHEN m.kind = 'template' THEN m.variables END AS variables, "
                "CASE WHEN m.attachments <> '[]'::jsonb THEN m.attachments END AS attachments"
            ),
            {"ids": int_array(h.id for h in heads if h.id not in opted), "worker": worker_id},
        ).all()
        template_ids = sorted({r.template_id for r in claimed if r.kind == "template" and r.template_id})
        templates = (
            {t.id or 0: t for t in db.exec(select(Template).where(col(Template.id).in_(template_ids))).all()}
            if template_ids
            else {}
        )
        db.commit()
    # Rows the reaper took back, or another worker holds now: not ours to send.
    report.lost_lease = len(heads) - len(claimed) - len(skipped)
    batches: dict[int, _ChannelBatch] = {}
    # Oldest first: governor slots go in queue order.
    for row in sorted(claimed, key=lambda r: r.id):
        cid = row.channel_id or 0
        if cid not in batches:
            channel = chans[cid]
            batches[cid] = _ChannelBatch(channel=channel, state_before=dict(channel.state or {}))
        message = _outbound(row, _template_ref(row, templates), _files(schema, row.attachments))
        batches[cid].jobs.append(_Job(message=message, channel_id=cid, campaign_id=row.campaign_id))
    return batches, report


async def _send_channel(schema: str, worker_id: str, batch: _ChannelBatch) -> None:
    """A channel's share of a chunk through its adapter (pooled per channel and process where the kind
    allows it): up to the adapter's `max_in_flight` sends at once, each asleep until its governor slot.
    WPPConnect and the sandbox keep one at a time."""
    channel = batch.channel
    try:
        lease = await adapter_pool.POOL.checkout(schema, channel)
    except Exception:
        log.exception("outbox: cannot build the adapter of channel %s", channel.id)
        for job in batch.jobs:
            # Nothing left: the request never went out, so this is a plain failure.
            batch.results[job.message.message_id] = SendResult(Outcome.FAILED, error_code="adapter")
        return
    adapter = lease.adapter
    state = getattr(adapter, "state", None)
    gov = governor.get_governor()
    config = channel_service.config_model(channel)
    identity = limits.identity_for(schema, channel.id or 0, config)
    policy = limits.policy_for(config, channel.created_at, state=channel.state)
    # A time slot per message for this identity and recipient, all asked for before the first send: what
    # has no slot within the policy's max wait goes back to the queue at once (it must not sit claimed
    # while the batch sleeps through its slots), the rest is sent, each asleep until its slot.
    # Called inline: one small Redis round trip (or a dict lookup); a thread hop cost more than the call.
    granted: list[tuple[_Job, float]] = []
    try:
        for job in batch.jobs:
            slot = gov.reserve(identity, job.message.to, policy, governor.now())
            if slot.granted:
                granted.append((job, slot.at))
            else:
                batch.released[job.message.message_id] = slot.at
    except Exception:
        # The governor (Redis) is gone: nothing of this chunk reached the provider, so it is known, not
        # uncertain: the whole chunk goes back to the queue, its claim undone.
        log.exception("outbox: governor unavailable for channel %s; chunk put back", channel.id)
        granted = []
        retry_at = governor.now() + GOVERNOR_DOWN_RETRY_SECONDS
        batch.released = {job.message.message_id: retry_at for job in batch.jobs}
    if batch.released:
        await asyncio.to_thread(_release, schema, worker_id, batch.released)
    # Once set, the chunk's sends not yet started go back to the queue for this long, with the marks:
    # the identity was paused (131048), or the governor failed after a send (known unsent, not uncertain).
    hold: float | None = None
    raised = False

    async def send_one(job: _Job, at: float, gate: asyncio.Semaphore | None) -> None:
        nonlocal hold, raised
        if hold is None and (wait := at - governor.now()) > 0:
            await asyncio.sleep(wait)
        async with gate or contextlib.nullcontext():
            if hold is not None:
                batch.deferred[job.message.message_id] = governor.now() + hold
                return
            try:
                result = await adapter.send(job.message)
            except Exception as exc:  # the request may have left: never resend blindly
                log.exception("outbox: adapter %s raised on message %s", channel.kind, job.message.message_id)
                result = SendResult(Outcome.UNCERTAIN, error=f"{type(exc).__name__}")
                raised = True
        batch.results[job.message.message_id] = result
        try:
            if result.outcome is Outcome.RETRY:
                # Throughput / pair-rate / 429 answers slow the whole identity down, not just this row.
                delay = result.retry_after or BACKOFF_BASE_SECONDS
                await asyncio.to_thread(gov.backoff, identity, governor.now() + delay)
            elif result.error_code in PAUSE_CODES and hold is None:
                hold = PAUSED_RETRY_SECONDS  # set before the call: the other sends see it at once
                await asyncio.to_thread(gov.pause, identity, result.error_code or "")
        except Exception:
            log.exception("outbox: governor unavailable for channel %s; rest of chunk put back", channel.id)
            hold = GOVERNOR_DOWN_RETRY_SECONDS

    try:
        in_flight = max(1, int(getattr(adapter, "max_in_flight", 1)))
        if in_flight == 1:
            for job, at in granted:
                await send_one(job, at, None)
        else:
            # Every send is recorded in batch.results before the marks; an unexpected error is raised
            # once the others have finished, so none is left running unmarked.
            gate = asyncio.Semaphore(in_flight)
            outcomes = await asyncio.gather(
                *(send_one(j, at, gate) for j, at in granted), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
    finally:
        # Closed here if built for this chunk; kept for the next one if pooled, unless a send raised
        # (a client in an unknown state is not kept).
        await adapter_pool.POOL.checkin(lease, broken=raised)
    # Provider state the adapter changed (e.g. a refreshed WPPConnect token) is saved with the marks.
    if isinstance(state, dict) and state != batch.state_before:
        batch.state_after = state


async def close_adapters() -> None:
    """Close the adapters (HTTP clients, SMTP connections) this process keeps per channel: on shutdown."""
    await adapter_pool.POOL.aclose_all()


_UNCLAIM = (
    "SET status = 'queued', worker_id = NULL, lease_until = NULL, attempts = greatest(attempts - 1, 0), "
    "next_attempt_at = to_timestamp(:at), updated_at = now() "
    "WHERE id = :id AND status = 'uncertain' AND worker_id = :worker"
)


def _release(schema: str, worker_id: str, waiting: dict[int, float]) -> None:
    """Claimed messages never handed to the provider go back to the queue until their slot."""
    with session(schema) as db:
        db.execute(
            _sql(f"UPDATE {schema}.messages {_UNCLAIM}"),
            [{"id": mid, "worker": worker_id, "at": at} for mid, at in waiting.items()],
        )
        db.commit()


def _error_text(key: Any, result: SendResult) -> str:
    specific = failure_reasons.reason_pt(result.error_code) if key is Outcome.FAILED else None
    if specific is not None:
        return specific[:_ERROR_MAX]
    base = ERRORS_PT.get(key, ERRORS_PT[Outcome.FAILED])
    return (f"{base} ({result.error_code})" if result.error_code else base)[:_ERROR_MAX]


def _mark(schema: str, worker_id: str, batches: dict[int, _ChannelBatch], report: DeliveryReport) -> None:
    sent: list[dict[str, Any]] = []
    retry: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    uncertain: list[dict[str, Any]] = []
    auth_channels: dict[int, SendResult] = {}
    with session(schema) as db:
        retrying = [
            mid for b in batches.values() for mid, r in b.results.items() if r.outcome is Outcome.RETRY
        ]
        attempts = (
            dict(
                db.execute(
                    _sql(
                        f"SELECT id, attempts FROM {schema}.messages WHERE id = ANY(CAST(:ids AS bigint[]))"
                    ),
                    {"ids": int_array(retrying)},
                ).all()
            )
            if retrying
            else {}
        )
        for cid, batch in batches.items():
            for mid, result in batch.results.items():
                base = {"id": mid, "worker": worker_id, "code": result.error_code}
                if result.outcome is Outcome.SENT:
                    sent.append({**base, "pid": result.provider_message_id})
                elif result.outcome is Outcome.RETRY:
                    n = int(attempts.get(mid, MAX_ATTEMPTS))
                    if n >= MAX_ATTEMPTS:
                        failed.append({**base, "error": _error_text("retries", result)})
                    else:
                        delay = backoff_seconds(n, result.retry_after)
                        retry.append(
                            {**base, "delay": delay, "error": (result.error or "retry")[:_ERROR_MAX]}
                        )
                elif result.outcome is Outcome.UNCERTAIN:
                    uncertain.append({**base, "error": _error_text(Outcome.UNCERTAIN, result)})
                else:
                    failed.append({**base, "error": _error_text(result.outcome, result)})
                    if result.outcome is Outcome.AUTH:
                        auth_channels[cid] = result
        guard = "WHERE id = :id AND status = 'uncertain' AND worker_id = :worker"
        deferred = [
            {"id": mid, "worker": worker_id, "at": at}
            for b in batches.values()
            for mid, at in b.deferred.items()
        ]
        if deferred:
            # Claimed but never handed to the provider: back to queued, the claim's attempt undone.
            db.execute(_sql(f"UPDATE {schema}.messages {_UNCLAIM}"), deferred)
        waiting = [at for b in batches.values() for at in (*b.released.values(), *b.deferred.values())]
        if waiting:
            report.deferred += len(waiting)
            report.next_at = min(waiting)
        touched: set[int] = set()
        if sent:
            # The common case in one statement (arrays of ids and provider ids), not one per row; it also
            # names the customers whose open profiles must re-read.
            marked = db.execute(
                _sql(
                    f"UPDATE {schema}.messages m SET status = 'sent', provider_message_id = v.pid, "
                    "sent_at = now(), error = NULL, error_code = NULL, lease_until = NULL, "
                    "updated_at = now() "
                    f"FROM unnest(CAST(:ids AS bigint[]), CAST(:pids AS text[])) AS v(id, pid), "
                    f"{schema}.conversations c "
                    "WHERE m.id = v.id AND m.status = 'uncertain' AND m.worker_id = :worker "
                    "AND c.id = m.conversation_id "
                    "RETURNING m.campaign_id, c.customer_id"
                ),
                {
                    "ids": int_array(r["id"] for r in sent),
                    "pids": text_array(r["pid"] for r in sent),
                    "worker": worker_id,
                },
            ).all()
            _bump_campaigns(db, [r[0] for r in marked], {"queued": -1, "sent": 1})
            touched = {r[1] for r in marked}
        if retry:
            db.execute(
                _sql(
                    f"UPDATE {schema}.messages SET status = 'queued', worker_id = NULL, lease_until = NULL, "
                    "next_attempt_at = now() + make_interval(secs => :delay), error = :error, "
                    f"error_code = :code, updated_at = now() {guard}"
                ),
                retry,
            )
        if failed:
            db.execute(
                _sql(
                    f"UPDATE {schema}.messages SET status = 'failed', failed_at = now(), error = :error, "
                    f"error_code = :code, lease_until = NULL, updated_at = now() {guard}"
                ),
                failed,
            )
            campaign_of = {j.message.message_id: j.campaign_id for b in batches.values() for j in b.jobs}
            _bump_campaigns(db, [campaign_of.get(f["id"]) for f in failed], {"queued": -1, "failed": 1})
        if uncertain:
            db.execute(
                _sql(
                    f"UPDATE {schema}.messages SET error = :error, error_code = :code, lease_until = NULL, "
                    f"updated_at = now() {guard}"
                ),
                uncertain,
            )
        sent_ids = {r["id"] for r in sent}
        _touch_customers(
            db, schema, [mid for b in batches.values() for mid in b.results if mid not in sent_ids], touched
        )
        for cid, batch in batches.items():
            if batch.state_after is None and cid not in auth_channels and not _health_check_wanted(batch):
                continue  # nothing to write or read on the channel's row: no query for it
            channel = db.get(Channel, cid)
            if channel is None:
                continue
            if batch.state_after is not None:
                # Only the keys the adapter changed: a status webhook's stamp or the number's health,
                # written meanwhile, stay (channel_state).
                channel_state.save(db, channel, batch.state_before, batch.state_after)
            if cid in auth_channels:
                # Further sends would fail the same way: the channel waits for an admin.
                channel.status, channel.status_at = "error", utcnow()
                channel.status_detail = ERRORS_PT[Outcome.AUTH]
            if batch.state_after is not None or cid in auth_channels:
                channel.updated_at = utcnow()
                db.add(channel)
            if (
                channel.kind == CLOUD_KIND
                and channel.status == "active"
                and _health_check_due(batch, channel)
            ):
                # The number's failed share after these marks: slows or pauses it (number health).
                number_signals.check_failures(db, channel)
        db.commit()
    report.sent += len(sent)
    report.retried += len(retry)
    report.failed += len(failed)
    report.uncertain += len(uncertain)


def _health_check_wanted(batch: _ChannelBatch) -> bool:
    """`_health_check_due` on the channel as claimed: a clean chunk of a healthy number skips the row."""
    channel = batch.channel
    return channel.kind == CLOUD_KIND and channel.status == "active" and _health_check_due(batch, channel)


def _health_check_due(batch: _ChannelBatch, channel: Channel) -> bool:
    """Read the failed share only when it can have changed the verdict: after a failure, or while the
    number is slowed (so clean batches bring it back); clean batches of a healthy number cost nothing."""
    if any(r.outcome is Outcome.FAILED for r in batch.results.values()):
        return True
    return number_health.read(channel.state).failures != "ok"


def _bump_campaigns(db: Session, campaign_ids: list[int | None], per_message: dict[str, int]) -> None:
    """Keep campaign counters in step with the outbox (deltas, never recounts: app.campaigns.counters)."""
    per_campaign = Counter(c for c in campaign_ids if c is not None)
    if per_campaign:
        counters.bump_many(
            db,
            {cid: Counter({k: v * n for k, v in per_message.items()}) for cid, n in per_campaign.items()},
        )


def _touch_customers(db: Session, schema: str, message_ids: list[int], customers: set[int]) -> None:
    """Open profiles and the inbox re-read once the marks commit (status ticks move live): `customers`,
    and those of `message_ids`."""
    if message_ids:
        customers = customers | {
            r[0]
            for r in db.execute(
                _sql(
                    f"SELECT DISTINCT c.customer_id FROM {schema}.messages m "
                    f"JOIN {schema}.conversations c ON c.id = m.conversation_id "
                    "WHERE m.id = ANY(CAST(:ids AS bigint[]))"
                ),
                {"ids": int_array(message_ids)},
            ).all()
        }
    if customers:
        live.touch(db, inbound.NAMESPACE_CUSTOMER, *sorted(customers))
        live.touch(db, inbound.NAMESPACE_INBOX, "all")


def _emit_sandbox_statuses(schema: str, batches: dict[int, _ChannelBatch]) -> None:
    for batch in batches.values():
        if not batch.channel.kind.startswith("sandbox"):
            continue
        pids = [r.provider_message_id for r in batch.results.values() if r.ok and r.provider_message_id]
        if not pids:
            continue
        with session(schema) as db:
            sandbox.emit_statuses(db, batch.channel, pids)
            db.commit()


async def deliver_batch(schema: str, worker_id: str, *, limit: int = BATCH) -> DeliveryReport:
    """Reserve one batch, then re-check consent, claim, send and mark it CLAIM_CHUNK messages at a time;
    an empty report when nothing is due.

    Claiming in chunks bounds what a worker killed mid-batch leaves `uncertain` (never resent blindly) to
    one chunk per worker; the rest of its reservation is only leased, and the reaper gives it back.

    The database work between two chunks' sends (marks, then the next claim: two transactions, in that
    order) is one trip to a thread: each trip wakes a thread and then the event loop, which cost as much
    as a statement."""
    channels: dict[int, Channel] = {}
    chunks, claimed = await asyncio.to_thread(_reserve_and_claim, schema, worker_id, limit, channels)
    total = DeliveryReport()
    for index in range(len(chunks)):
        batches, report = claimed
        if batches:
            await asyncio.gather(*(_send_channel(schema, worker_id, b) for b in batches.values()))
        following = chunks[index + 1] if index + 1 < len(chunks) else None
        claimed = await asyncio.to_thread(
            _settle_and_claim, schema, worker_id, batches, report, following, channels
        )
        total.add(report)
    return total


_Claimed = tuple[dict[int, _ChannelBatch], DeliveryReport]


def _reserve_and_claim(
    schema: str, worker_id: str, limit: int, channels: dict[int, Channel]
) -> tuple[list[list[Reserved]], _Claimed]:
    """Reserve a batch (committed), cut it into chunks and claim the first one."""
    heads = reserve(schema, worker_id, limit=limit)
    chunks = [heads[start : start + CLAIM_CHUNK] for start in range(0, len(heads), CLAIM_CHUNK)]
    return chunks, (_claim(schema, chunks[0], worker_id, channels) if chunks else ({}, DeliveryReport()))


def _settle_and_claim(
    schema: str,
    worker_id: str,
    batches: dict[int, _ChannelBatch],
    report: DeliveryReport,
    following: list[Reserved] | None,
    channels: dict[int, Channel],
) -> _Claimed:
    """Mark a sent chunk (committed), then claim the next one, if any (committed apart)."""
    if batches:
        retry_deadlocks(_mark, schema, worker_id, batches, report)
        for cid, batch in batches.items():
            if batch.state_after is not None or any(
                r.outcome is not Outcome.SENT for r in batch.results.values()
            ):
                # The marks may have changed the row (adapter state, health, an auth error): the next
                # chunk reads it again.
                channels.pop(cid, None)
        try:
            _emit_sandbox_statuses(schema, batches)
        except Exception:  # statuses are a courtesy of the sandbox; the sends are recorded
            log.exception("outbox %s: sandbox statuses failed", schema)
    if following is None:
        return {}, DeliveryReport()
    return _claim(schema, following, worker_id, channels)


async def deliver(
    schema: str,
    *,
    worker_id: str | None = None,
    limit: int = BATCH,
    max_batches: int | None = None,
    linger_s: float = LINGER_SECONDS,
) -> DeliveryReport:
    """Deliver batches until nothing is due (or `max_batches`); returns the totals.

    Messages the governor put back for a few seconds (a session's gap, the pair rate) are waited for
    here, asleep, up to `linger_s` ahead; later ones are left to the sweep."""
    worker = worker_id or worker_name()
    total = DeliveryReport()
    done = 0
    started = time.monotonic()
    while max_batches is None or done < max_batches:
        report = await deliver_batch(schema, worker, limit=limit)
        done += 1
        total.add(report)
        if report.reserved:
            continue
        next_at = total.next_at if total.next_at is not None else await asyncio.to_thread(next_due, schema)
        wait = (next_at - governor.now()) if next_at is not None else None
        if wait is None or wait > linger_s or time.monotonic() - started > MAX_RUN_SECONDS:
            break
        total.next_at = None
        await asyncio.sleep(max(0.0, wait) + 0.05)
    if total.reserved:
        log.info("outbox %s: %s", schema, json.dumps(total.__dict__))
    return total
