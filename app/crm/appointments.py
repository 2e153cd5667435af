"""Appointments and follow-ups: stored in UTC, entered and shown in the user's time zone (zoneinfo)."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, StrictBool
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import timeline
from app.crm.visibility import can_see_owner, check_assignable, get_visible_customer
from app.errors import Invalid, NotFound
from app.formatting import effective_zone
from app.validation import Id, Instant, Int, NotBool, Str20, Str60, Str200, Str5000
from models.base import utcnow
from models.platform import Tenant, User
from models.tenant import Appointment, Customer

KINDS = {"follow_up": "Retorno", "call": "Ligação", "meeting": "Reunião", "task": "Tarefa"}
DEFAULT_TZ = "America/Sao_Paulo"


class AppointmentIn(BaseModel):
    customer_id: Id | None = None
    title: Str200
    description: Str5000 = ""
    kind: Str20 = "follow_up"
    # Wall-clock date/time as the user typed it, in `time_zone` (default: the user's zone).
    starts_local: Instant
    duration_minutes: Int = Field(default=30, ge=0, le=24 * 60)
    time_zone: Str60 | None = None
    remind_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60), NotBool] | None = 15
    owner_id: Id | None = None


class AppointmentUpdate(BaseModel):
    title: Str200 | None = None
    description: Str5000 | None = None
    starts_local: Instant | None = None
    time_zone: Str60 | None = None
    duration_minutes: Annotated[int, Field(ge=0, le=24 * 60), NotBool] | None = None
    remind_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60), NotBool] | None = None
    done: StrictBool | None = None


class AgendaItem(BaseModel):
    id: int
    customer_id: int | None
    customer_name: str | None
    title: str
    kind: str
    starts_at: datetime  # UTC
    starts_local: datetime  # in the viewer's zone
    ends_at: datetime | None
    owner_id: int | None
    done: bool
    overdue: bool
    remind_minutes: int | None


def user_zone(db: Session, actor: Actor) -> str:
    """Where the actor reads dates: their own zone, else their organisation's (America/Sao_Paulo)."""
    user = db.get(User, actor.user_id) if actor.user_id else None
    tenant = db.get(Tenant, actor.tenant_id) if actor.tenant_id else None
    if user is None and tenant is None:
        return actor.time_zone
    return effective_zone(tenant.time_zone if tenant else None, user.time_zone if user else None)


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(field, "Fuso horário inválido.") from None


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in `tz` as UTC; an aware datetime is simply converted."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return local.astimezone(UTC)


def _visible(db: Session, actor: Actor, appt: Appointment | None) -> Appointment:
    if appt is None:
        raise NotFound("Agendamento não encontrado.")
    if appt.customer_id is not None:
        try:
            get_visible_customer(db, actor, appt.customer_id)
        except NotFound:
            raise NotFound("Agendamento não encontrado.") from None
    elif not can_see_owner(actor, appt.owner_id):
        raise NotFound("Agendamento não encontrado.")
    return appt


def create_appointment(db: Session, actor: Actor, data: AppointmentIn) -> Appointment:
    """Schedule a follow-up/meeting (timeline entry on the customer when there is one)."""
    actor.require(Perm.APPOINTMENTS_WRITE)
    title = data.title.strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "Informe o título."
    if data.kind not in KINDS:
        errors["kind"] = "Tipo de agendamento inválido."
    tz_name = data.time_zone or user_zone(db, actor)
    tz = zone(tz_name)
    if data.customer_id is not None:
        get_visible_customer(db, actor, data.customer_id)
    owner_id = data.owner_id or actor.user_id
    if owner_id is not None and owner_id != actor.user_id:
        check_assignable(db, actor, owner_id)
    if errors:
        raise Invalid(errors)
    starts = to_utc(data.starts_local, tz)
    appt = Appointment(
        customer_id=data.customer_id,
        title=title,
        description=data.description,
        kind=data.kind,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=data.duration_minutes),
        time_zone=tz_name,
        remind_minutes=data.remind_minutes,
        owner_id=owner_id,
    )
    db.add(appt)
    db.flush()
    record(db, actor, "appointment.create", "appointment", appt.id, None, appt)
    if appt.customer_id is not None:
        local = starts.astimezone(tz).strftime("%d/%m/%Y %H:%M")
        timeline.add(
            db,
            appt.customer_id,
            kind="appointment",
            summary=f"{KINDS[appt.kind]} agendado para {local}: {title}",
            payload={"appointment_id": appt.id, "starts_at": starts.isoformat(), "time_zone": tz_name},
            actor=actor,
            ref=("appointment", appt.id),
        )
    return appt


def _apply_text(appt: Appointment, sent: dict[str, Any]) -> None:
    if sent.get("title") is not None:
        if not sent["title"].strip():
            raise Invalid("title", "Informe o título.")
        appt.title = sent["title"].strip()
    if sent.get("description") is not None:
        appt.description = sent["description"]


def _apply_time(appt: Appointment, sent: dict[str, Any]) -> None:
    """Zone, start and duration; the end follows the start, keeping the duration unless one was sent."""
    if sent.get("time_zone"):
        zone(sent["time_zone"])
        appt.time_zone = sent["time_zone"]
    duration = (appt.ends_at - appt.starts_at) if appt.ends_at else timedelta(minutes=30)
    if sent.get("duration_minutes") is not None:
        duration = timedelta(minutes=sent["duration_minutes"])
    if sent.get("starts_local") is not None:
        appt.starts_at = to_utc(sent["starts_local"], zone(appt.time_zone))
    appt.ends_at = appt.starts_at + duration


def update_appointment(
    db: Session, actor: Actor, appointment_id: int, data: AppointmentUpdate
) -> Appointment:
    actor.require(Perm.APPOINTMENTS_WRITE)
    appt = _visible(db, actor, db.get(Appointment, appointment_id))
    before = appt.model_dump()
    sent = data.model_dump(exclude_unset=True)
    _apply_text(appt, sent)
    _apply_time(appt, sent)
    if "remind_minutes" in sent:
        appt.remind_minutes = sent["remind_minutes"]
    if (appt.starts_at, appt.remind_minutes) != (before["starts_at"], before["remind_minutes"]):
        # Rescheduled: the new time gets its own reminder.
        appt.reminded_at = None
    if sent.get("done") is not None:
        appt.done_at = utcnow() if sent["done"] else None
    appt.updated_at = utcnow()
    db.add(appt)
    record(db, actor, "appointment.update", "appointment", appt.id, before, appt)
    if sent.get("done") and appt.customer_id is not None:
        timeline.add(
            db,
            appt.customer_id,
            kind="appointment",
            summary=f"Concluído: {appt.title}",
            payload={"appointment_id": appt.id, "done": True},
            actor=actor,
            ref=("appointment", appt.id),
        )
    return appt


def delete_appointment(db: Session, actor: Actor, appointment_id: int) -> None:
    actor.require(Perm.APPOINTMENTS_WRITE)
    appt = _visible(db, actor, db.get(Appointment, appointment_id))
    record(db, actor, "appointment.delete", "appointment", appt.id, appt, None)
    db.delete(appt)


def agenda(
    db: Session,
    actor: Actor,
    day: date,
    *,
    span: str = "day",
    owner_id: int | None = None,
    tz_name: str | None = None,
) -> list[AgendaItem]:
    """The actor's (or a visible teammate's) appointments for a day or the week containing it,
    in the viewer's time zone, plus every earlier one still open (overdue)."""
    actor.require(Perm.CUSTOMERS_READ)
    if span not in ("day", "week"):
        raise Invalid("span", "Use dia ou semana.")
    owner = owner_id or actor.user_id
    if not can_see_owner(actor, owner):
        raise NotFound("Agenda não encontrada.")
    tz = zone(tz_name or user_zone(db, actor))
    first = day - timedelta(days=day.weekday()) if span == "week" else day
    start = datetime.combine(first, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(
        first + timedelta(days=7 if span == "week" else 1), time.min, tzinfo=tz
    ).astimezone(UTC)
    now = utcnow()
    in_range = (col(Appointment.starts_at) >= start) & (col(Appointment.starts_at) < end)
    overdue = (col(Appointment.starts_at) < min(start, now)) & col(Appointment.done_at).is_(None)
    rows = db.exec(
        select(Appointment, Customer.name)
        .join(Customer, col(Customer.id) == Appointment.customer_id, isouter=True)
        .where(Appointment.owner_id == owner, in_range | overdue)
        .order_by(col(Appointment.starts_at))
    ).all()
    return [_agenda_item(a, name, tz, now) for a, name in rows]


def _agenda_item(a: Appointment, customer_name: str | None, tz: ZoneInfo, now: datetime) -> AgendaItem:
    return AgendaItem(
        id=a.id or 0,
        customer_id=a.customer_id,
        customer_name=customer_name,
        title=a.title,
        kind=a.kind,
        starts_at=a.starts_at,
        starts_local=a.starts_at.astimezone(tz),
        ends_at=a.ends_at,
        owner_id=a.owner_id,
        done=a.done_at is not None,
        overdue=a.done_at is None and a.starts_at < now,
        remind_minutes=a.remind_minutes,
    )


# A sweep that was down (deploy, crash) still reminds of what started this recently; older is moot.
REMINDER_GRACE = timedelta(minutes=30)
# remind_minutes is validated to at most a week, so nothing further out can be due.
_MAX_REMIND = timedelta(days=7)


class DueReminder(BaseModel):
    appointment_id: int
    owner_id: int
    customer_id: int | None
    title: str
    kind: str
    starts_at: datetime  # UTC
    time_zone: str


def claim_due_reminders(db: Session, now: datetime | None = None) -> list[DueReminder]:
    """Mark the open appointments whose reminder time has come as reminded, and return them.

    One set-based UPDATE ... WHERE reminded_at IS NULL ... RETURNING: when two sweeps race, the second
    waits on the row locks, re-checks the condition after the first commits and skips those rows, so a
    reminder is claimed exactly once. The caller commits together with the notifications it creates.
    """
    now = now or utcnow()
    a = Appointment
    remind_at = col(a.starts_at) - func.make_interval(0, 0, 0, 0, 0, a.remind_minutes)
    # ORM-enabled UPDATE: objects already loaded in this session see reminded_at too.
    stmt = (
        update(a)
        .where(
            col(a.reminded_at).is_(None),
            col(a.done_at).is_(None),
            col(a.remind_minutes).is_not(None),
            col(a.owner_id).is_not(None),
            # The starts_at range keeps the scan on ix_appointments_remind_pending.
            col(a.starts_at) > now - REMINDER_GRACE,
            col(a.starts_at) <= now + _MAX_REMIND,
            remind_at <= now,
        )
        .values(reminded_at=now)
        .returning(
            col(a.id),
            col(a.owner_id),
            col(a.customer_id),
            col(a.title),
            col(a.kind),
            col(a.starts_at),
            col(a.time_zone),
        )
    )
    rows = db.exec(stmt).all()
    return [
        DueReminder(
            appointment_id=r.id,
            owner_id=r.owner_id,
            customer_id=r.customer_id,
            title=r.title,
            kind=r.kind,
            starts_at=r.starts_at,
            time_zone=r.time_zone,
        )
        for r in sorted(rows, key=lambda r: (r.starts_at, r.id))
    ]
