"""Scheduled messages: a WhatsApp or an e-mail to one customer at a chosen time, once or recurring, and
follow-ups ("send if the customer has not replied by then").

Times are entered in the organisation's zone (or with an explicit offset) and stored in UTC; a series is
computed on wall-clock time in that zone (app.messaging.recurrence). Everything the send path would
refuse is refused here first, in pt-BR (past time, opted-out address, a variable without a value), and
checked again when the occurrence is due: each occurrence goes through exactly the agents' send path
(app.messaging.sending) as the user who scheduled it, with the idempotency key
`scheduled:<id>:<occurrence>`, so a sweep run twice or two concurrent sweeps never queue it twice.
Services never commit; `run_due` is the sweep's unit and commits one row at a time.
"""

import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import text
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor, system_actor
from app.auth.permissions import Perm
from app.auth.sessions import actor_for_user
from app.crm import templates as template_service
from app.crm.visibility import customer_visible, get_visible_customer
from app.errors import DomainError, Invalid, NotFound
from app.formatting import DEFAULT_TZ
from app.messaging import channels as channel_service
from app.messaging import consent, recurrence, sending
from app.validation import Id, Instant, NotBool, Str60, Str300, Str1000, Str4096
from models.base import utcnow
from models.platform import Tenant
from models.tenant import Conversation, Customer, Message, ScheduledMessage, Template
from tenants.database import session

log = logging.getLogger(__name__)

NOT_FOUND = "Agendamento não encontrado."
WEEKDAYS = ("seg", "ter", "qua", "qui", "sex", "sab", "dom")
FREQUENCIES = {"diaria": "daily", "semanal": "weekly", "mensal": "monthly"}
STATUS_LABELS = {
    "scheduled": "Agendada",
    "queued": "Enviada à fila",
    "skipped": "Não enviada",
    "cancelled": "Cancelada",
    "failed": "Falhou",
}
REPLIED = "O cliente respondeu depois da mensagem de referência: o lembrete não foi enviado."
OPTED_OUT = "O contato pediu para não receber mensagens por {label} (descadastrado)."
MAX_OCCURRENCES = 1000
# Beyond these a typed date is a typo, and far ones would overflow the zone conversion.
MIN_YEAR, MAX_YEAR = 2000, 2200


class RecurrenceIn(BaseModel):
    frequencia: Literal["diaria", "semanal", "mensal"]
    intervalo: Annotated[int, Field(ge=1, le=52), NotBool] = 1
    dias_semana: list[Literal["seg", "ter", "qua", "qui", "sex", "sab", "dom"]] = Field(
        default_factory=list, max_length=7
    )
    dia_do_mes: Annotated[int, Field(ge=1, le=31), NotBool] | None = None
    ate: date | None = None
    vezes: Annotated[int, Field(ge=1, le=MAX_OCCURRENCES), NotBool] | None = None


class ScheduleIn(BaseModel):
    canal_id: Id | None = None
    texto: Str4096 | None = None
    template_id: Id | None = None
    variaveis: dict[Str60, Str1000] = Field(default_factory=dict, max_length=100)
    assunto: Str300 | None = None
    html: sending.Html | None = None
    # ISO local time in the organisation's zone ("2026-12-24T09:00"), or with an offset.
    agendar_para: Instant
    recorrencia: RecurrenceIn | None = None
    se_sem_resposta: StrictBool = False
    # Follow-ups: the message the customer should answer (default: the newest one sent to them).
    mensagem_id: Id | None = None


class ScheduleUpdate(BaseModel):
    texto: Str4096 | None = None
    variaveis: dict[Str60, Str1000] | None = Field(default=None, max_length=100)
    assunto: Str300 | None = None
    html: sending.Html | None = None
    agendar_para: Instant | None = None


class ScheduledOut(BaseModel):
    id: int
    customer_id: int
    customer_name: str | None = None
    medium: str
    canal_id: int | None
    template_id: int | None
    texto: str | None
    assunto: str | None
    variaveis: dict[str, Any]
    agendar_para: datetime  # UTC
    agendar_para_local: datetime  # wall-clock in `fuso`
    fuso: str
    recorrencia: dict[str, Any] | None
    ocorrencia: int
    se_sem_resposta: bool
    status: str
    status_label: str
    motivo: str | None
    mensagem_id: int | None
    enviadas: int
    created_by: int | None
    created_at: datetime


# ---------------------------------------------------------------- rules


def tenant_zone(db: Session, actor: Actor) -> str:
    tenant = db.get(Tenant, actor.tenant_id) if actor.tenant_id is not None else None
    return tenant.time_zone if tenant is not None and tenant.time_zone else DEFAULT_TZ


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def rule_from(data: RecurrenceIn | None, start: datetime) -> recurrence.Rule | None:
    """The API's recurrence as a rule; pt-BR errors for what cannot make a series."""
    if data is None:
        return None
    if data.ate is not None and data.ate < start.date():
        raise Invalid("recorrencia", "A data final da recorrência é anterior ao primeiro envio.")
    if data.frequencia != "semanal" and data.dias_semana:
        raise Invalid("recorrencia", "Dias da semana só valem para a recorrência semanal.")
    if data.frequencia != "mensal" and data.dia_do_mes is not None:
        raise Invalid("recorrencia", "O dia do mês só vale para a recorrência mensal.")
    if data.ate is None and data.vezes is None:
        raise Invalid("recorrencia", "Informe até quando repetir (data final ou número de envios).")
    return recurrence.Rule(
        freq=FREQUENCIES[data.frequencia],
        interval=data.intervalo,
        weekdays=tuple(sorted({WEEKDAYS.index(d) for d in data.dias_semana})),
        day=data.dia_do_mes,
        until=data.ate,
        count=data.vezes,
    )


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    """The typed time as naive wall-clock in the zone (an explicit offset is converted first)."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise Invalid("agendar_para", f"Escolha uma data entre {MIN_YEAR} e {MAX_YEAR}.")
    local = recurrence.to_local(value, zone) if value.tzinfo is not None else value
    return local.replace(second=0, microsecond=0)


def _medium(db: Session, actor: Actor, data: ScheduleIn) -> str:
    if data.canal_id is not None:
        try:
            channel = channel_service.get_channel(db, actor, data.canal_id)
        except NotFound as exc:
            raise Invalid("canal_id", "Canal não encontrado.") from exc
        return channel.medium
    if data.template_id is not None:
        tpl = db.get(Template, data.template_id)
        if tpl is None:
            raise Invalid("template_id", "Modelo não encontrado.")
        return tpl.channel
    if (data.assunto or "").strip() or (data.html or "").strip():
        return "email"
    return "whatsapp"


def _check_sendable(db: Session, actor: Actor, customer: Customer, row: ScheduledMessage) -> None:
    """What the send path would refuse, refused now as 422s: no channel, no address, opted out, a
    template of another medium, a variable without a value."""
    medium = row.medium
    channel = sending.resolve_channel(db, actor, medium, row.channel_id)
    contact = sending.address_for(db, customer.id or 0, medium)
    if consent.is_opted_out(db, medium, contact.value):
        raise Invalid("cliente", OPTED_OUT.format(label=sending.MEDIUM_LABELS[medium]))
    values = {**template_service.variables_for(customer), **{k: v for k, v in row.variables.items() if v}}
    if row.template_id is not None:
        try:
            tpl = template_service.get_template(db, actor, row.template_id)
        except NotFound as exc:
            raise Invalid("template_id", "Modelo não encontrado.") from exc
        if tpl.channel != medium:
            raise Invalid("template_id", f"Este modelo não é de {sending.MEDIUM_LABELS[medium]}.")
        sending.render_strict(" ".join(filter(None, (tpl.subject, tpl.body))), values, "variaveis")
        if channel.kind == "whatsapp_cloud" and not tpl.provider_name:
            raise Invalid("template_id", "Este modelo não está aprovado na Meta (sem nome no provedor).")
    elif medium == "email":
        sending.render_strict(row.subject or "", values, "assunto")
        sending.render_strict(row.html or row.body or "", values, "html" if row.html else "texto")
    else:
        sending.render_strict(row.body or "", values, "texto")


def _check_content(data: ScheduleIn | ScheduleUpdate, medium: str, template_id: int | None) -> None:
    has_text = bool((data.texto or "").strip())
    if medium == "email":
        has_direct = bool((data.assunto or "").strip()) and bool((data.html or "").strip() or has_text)
        if has_direct == (template_id is not None):
            raise Invalid(
                "template_id", "Escolha um modelo ou informe assunto e conteúdo (apenas um dos dois)."
            )
    elif has_text == (template_id is not None):
        raise Invalid("texto", "Escreva a mensagem ou escolha um modelo (apenas um dos dois).")


def _anchor(
    db: Session, customer_id: int, medium: str, message_id: int | None
) -> tuple[int | None, datetime]:
    """The message a follow-up waits an answer to: the one named, else the newest sent to the customer on
    the medium; without any, the moment of scheduling."""
    stmt = (
        select(Message)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(
            Conversation.customer_id == customer_id,
            Conversation.channel == medium,
            Message.direction == "out",
        )
    )
    if message_id is not None:
        msg = db.exec(stmt.where(Message.id == message_id)).first()
        if msg is None:
            raise Invalid("mensagem_id", "Mensagem de referência não encontrada nas conversas deste cliente.")
    else:
        msg = db.exec(stmt.order_by(col(Message.id).desc())).first()
    if msg is None:
        return None, utcnow()
    return msg.id, msg.created_at


def replied_since(db: Session, customer_id: int, medium: str, since: datetime) -> bool:
    """Did the customer write on this medium after `since`?"""
    found = db.exec(
        select(Message.id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(
            Conversation.customer_id == customer_id,
            Conversation.channel == medium,
            Message.direction == "in",
            col(Message.created_at) > since,
        )
        .limit(1)
    ).first()
    return found is not None


def _out(row: ScheduledMessage, customer_name: str | None = None) -> ScheduledOut:
    return ScheduledOut(
        id=row.id or 0,
        customer_id=row.customer_id,
        customer_name=customer_name,
        medium=row.medium,
        canal_id=row.channel_id,
        template_id=row.template_id,
        texto=row.body,
        assunto=row.subject,
        variaveis=row.variables,
        agendar_para=row.send_at,
        agendar_para_local=recurrence.to_local(row.send_at, _zone(row.time_zone)),
        fuso=row.time_zone,
        recorrencia=row.recurrence,
        ocorrencia=row.occurrence,
        se_sem_resposta=row.if_no_reply,
        status=row.status,
        status_label=STATUS_LABELS.get(row.status, row.status),
        motivo=row.reason,
        mensagem_id=row.last_message_id,
        enviadas=row.sent_count,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _future(send_at: datetime) -> None:
    if send_at <= utcnow():
        raise Invalid("agendar_para", "Escolha uma data e hora no futuro.")


# ---------------------------------------------------------------- services


def schedule(db: Session, actor: Actor, customer_id: int, data: ScheduleIn) -> ScheduledOut:
    """Schedule a message to a visible customer; refused (422, nothing stored) when it could not go."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    customer = get_visible_customer(db, actor, customer_id)
    medium = _medium(db, actor, data)
    _check_content(data, medium, data.template_id)
    zone_name = tenant_zone(db, actor)
    zone = _zone(zone_name)
    entered = _local(data.agendar_para, zone)
    rule = rule_from(data.recorrencia, entered)
    due = recurrence.first(rule, entered)
    send_at = recurrence.to_utc(due, zone)
    _future(send_at)
    html = data.html
    if medium == "email" and data.template_id is None and not (html or "").strip():
        html = sending.html_from_text((data.texto or "").strip())
    row = ScheduledMessage(
        customer_id=customer.id or 0,
        medium=medium,
        channel_id=data.canal_id,
        template_id=data.template_id,
        body=(data.texto or "").strip() or None,
        subject=(data.assunto or "").strip() or None,
        html=html,
        variables=dict(data.variaveis),
        time_zone=zone_name,
        local_start=entered,
        local_due=due,
        send_at=send_at,
        recurrence=rule.as_json() if rule else None,
        if_no_reply=data.se_sem_resposta,
        created_by=actor.user_id,
    )
    _check_sendable(db, actor, customer, row)
    if data.se_sem_resposta:
        row.anchor_message_id, row.anchor_at = _anchor(db, customer.id or 0, medium, data.mensagem_id)
    db.add(row)
    db.flush()
    record(db, actor, "scheduled_message.create", "scheduled_message", row.id, None, row)
    return _out(row, customer.name)


def _visible_row(
    db: Session, actor: Actor, scheduled_id: int, *, for_update: bool = False
) -> ScheduledMessage:
    stmt = select(ScheduledMessage).where(ScheduledMessage.id == scheduled_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = db.exec(stmt).first()
    if row is None:
        raise NotFound(NOT_FOUND)
    try:
        get_visible_customer(db, actor, row.customer_id)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    return row


def get_scheduled(db: Session, actor: Actor, scheduled_id: int) -> ScheduledOut:
    actor.require(Perm.CUSTOMERS_READ)
    return _out(_visible_row(db, actor, scheduled_id))


def list_for_customer(
    db: Session, actor: Actor, customer_id: int, *, upcoming: bool = False
) -> list[ScheduledOut]:
    """A visible customer's scheduled messages, next first (all statuses unless `upcoming`)."""
    actor.require(Perm.CUSTOMERS_READ)
    customer = get_visible_customer(db, actor, customer_id)
    stmt = select(ScheduledMessage).where(ScheduledMessage.customer_id == customer_id)
    if upcoming:
        stmt = stmt.where(ScheduledMessage.status == "scheduled")
    rows = db.exec(
        stmt.order_by(
            (col(ScheduledMessage.status) != "scheduled"),
            col(ScheduledMessage.send_at),
            col(ScheduledMessage.id),
        ).limit(200)
    ).all()
    return [_out(r, customer.name) for r in rows]


def list_upcoming(db: Session, actor: Actor, limit: int = 200) -> list[ScheduledOut]:
    """Scheduled messages still to go, soonest first, of the customers the actor may see."""
    actor.require(Perm.CUSTOMERS_READ)
    rows = db.exec(
        select(ScheduledMessage, Customer.name)
        .join(Customer, col(Customer.id) == ScheduledMessage.customer_id)
        .where(
            ScheduledMessage.status == "scheduled",
            col(Customer.deleted_at).is_(None),
            customer_visible(actor),
        )
        .order_by(col(ScheduledMessage.send_at), col(ScheduledMessage.id))
        .limit(limit)
    ).all()
    return [_out(r, name) for r, name in rows]


def cancel(db: Session, actor: Actor, scheduled_id: int) -> ScheduledOut:
    """Cancel a scheduled message (or the rest of a series); one already sent cannot be recalled."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    row = _visible_row(db, actor, scheduled_id, for_update=True)
    if row.status != "scheduled":
        raise Invalid("status", "Este agendamento não está mais pendente e não pode ser cancelado.")
    before = {"status": row.status}
    row.status, row.reason = "cancelled", f"Cancelado por {actor.name or actor.email}."
    db.add(row)
    db.flush()
    record(db, actor, "scheduled_message.cancel", "scheduled_message", row.id, before, {"status": row.status})
    return _out(row)


def edit(db: Session, actor: Actor, scheduled_id: int, data: ScheduleUpdate) -> ScheduledOut:
    """Change the text, variables or time of a message still to go; checked again like a new one."""
    actor.require(Perm.CONVERSATIONS_REPLY)
    row = _visible_row(db, actor, scheduled_id, for_update=True)
    if row.status != "scheduled":
        raise Invalid("status", "Este agendamento não está mais pendente e não pode ser alterado.")
    customer = get_visible_customer(db, actor, row.customer_id)
    before = _out(row).model_dump(mode="json")
    if data.texto is not None:
        row.body = data.texto.strip() or None
        if row.medium == "email" and data.html is None:
            row.html = sending.html_from_text(row.body or "")
    if data.assunto is not None:
        row.subject = data.assunto.strip() or None
    if data.html is not None:
        row.html = data.html
    if data.variaveis is not None:
        row.variables = dict(data.variaveis)
    if data.agendar_para is not None:
        zone = _zone(row.time_zone)
        entered = _local(data.agendar_para, zone)
        rule = recurrence.Rule.from_json(row.recurrence) if row.recurrence else None
        due = recurrence.first(rule, entered)
        _future(recurrence.to_utc(due, zone))
        row.local_start, row.local_due, row.send_at = entered, due, recurrence.to_utc(due, zone)
        row.occurrence = 0 if row.sent_count == 0 else row.occurrence
    _check_sendable(db, actor, customer, row)
    db.add(row)
    db.flush()
    record(
        db,
        actor,
        "scheduled_message.update",
        "scheduled_message",
        row.id,
        before,
        _out(row).model_dump(mode="json"),
    )
    return _out(row, customer.name)


# ---------------------------------------------------------------- the sweep

_DUE = """
    SELECT id FROM "{schema}".scheduled_messages
    WHERE status = 'scheduled' AND send_at <= :now
    ORDER BY send_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
"""


def _advance(row: ScheduledMessage) -> None:
    """Move a series to its next occurrence, or end it."""
    row.occurrence += 1
    rule = recurrence.Rule.from_json(row.recurrence) if row.recurrence else None
    nxt = recurrence.following(rule, row.local_start, row.local_due, row.occurrence) if rule else None
    if nxt is None:
        row.status = "queued" if row.status == "scheduled" else row.status
        return
    zone = _zone(row.time_zone)
    row.local_due, row.send_at = nxt, recurrence.to_utc(nxt, zone)
    # An occurrence already past (the sweep was down for days) is not sent late in a burst.
    now = utcnow()
    while row.send_at <= now:
        row.occurrence += 1
        later = recurrence.following(rule, row.local_start, row.local_due, row.occurrence) if rule else None
        if later is None:
            row.status = "queued"
            return
        row.local_due, row.send_at = later, recurrence.to_utc(later, zone)


def _finish(db: Session, row: ScheduledMessage, actor: Actor, status: str, reason: str | None) -> None:
    before = {"status": row.status, "occurrence": row.occurrence}
    row.reason = reason
    if status == "queued":
        row.sent_count += 1
        _advance(row)
    else:
        row.status = status  # a skip or a failure ends a series: someone should look at it
    db.add(row)
    record(
        db,
        actor,
        f"scheduled_message.{status}",
        "scheduled_message",
        row.id,
        before,
        {
            "status": row.status,
            "occurrence": row.occurrence,
            "message_id": row.last_message_id,
            "reason": reason,
        },
    )


def send_occurrence(db: Session, schema: str, row: ScheduledMessage) -> str:
    """Send the row's due occurrence through the agents' send path (no commit); returns the outcome."""
    tenant_id = (
        db.connection()
        .execute(text("SELECT id FROM platform.tenants WHERE schema_name = :s"), {"s": schema})
        .scalar()
    )
    system = system_actor(tenant_id, schema)
    try:
        if row.created_by is None:
            raise Invalid("created_by", "O agendamento não tem autor.")
        actor = actor_for_user(db, row.created_by)
    except DomainError as exc:
        _finish(db, row, system, "failed", f"O autor do agendamento não pode mais enviar: {exc.message}")
        return "failed"
    customer = db.get(Customer, row.customer_id)
    if customer is None or customer.deleted_at is not None:
        _finish(db, row, system, "skipped", "O cliente foi excluído.")
        return "skipped"
    if row.if_no_reply and replied_since(db, row.customer_id, row.medium, row.anchor_at or row.created_at):
        _finish(db, row, system, "skipped", REPLIED)
        return "skipped"
    try:
        contact = sending.address_for(db, row.customer_id, row.medium)
        if consent.is_opted_out(db, row.medium, contact.value):
            _finish(db, row, system, "skipped", OPTED_OUT.format(label=sending.MEDIUM_LABELS[row.medium]))
            return "skipped"
        key = f"scheduled:{row.id}:{row.occurrence}"
        with db.begin_nested():
            msg = _send(db, actor, row, key)
    except DomainError as exc:
        _finish(db, row, system, "failed", exc.message[:500])
        return "failed"
    row.last_message_id = msg.id
    _finish(db, row, system, "queued", None)
    return "queued"


def _send(db: Session, actor: Actor, row: ScheduledMessage, key: str) -> Message:
    if row.medium == "email":
        return sending.send_email(
            db,
            actor,
            row.customer_id,
            sending.SendEmailIn(
                canal_id=row.channel_id,
                template_id=row.template_id,
                assunto=None if row.template_id else row.subject,
                html=None if row.template_id else row.html,
                variaveis=row.variables,
            ),
            idempotency_key=key,
        )
    return sending.send_whatsapp(
        db,
        actor,
        row.customer_id,
        sending.SendWhatsAppIn(
            canal_id=row.channel_id,
            texto=None if row.template_id else row.body,
            template_id=row.template_id,
            variaveis=row.variables,
        ),
        idempotency_key=key,
    )


def run_due(schema: str, limit: int = 500) -> dict[str, int]:
    """Send every due occurrence of one tenant, one row per transaction: the row is locked
    (`FOR UPDATE SKIP LOCKED`), sent and marked in the same commit, so concurrent sweeps share the work
    and none sends an occurrence another already took."""
    counts = {"queued": 0, "skipped": 0, "failed": 0}
    for _ in range(limit):
        with session(schema) as db:
            found = db.connection().execute(text(_DUE.format(schema=schema)), {"now": utcnow()}).scalar()
            if found is None:
                return counts
            row = db.get(ScheduledMessage, found)
            assert row is not None
            outcome = send_occurrence(db, schema, row)
            db.commit()
        counts[outcome] += 1
        log.info("scheduled message %s in %s: %s", found, schema, outcome)
    return counts
