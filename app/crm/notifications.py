"""In-app notifications: appointment reminders created by the sweep, read by their one user.

A user only ever sees, counts and marks their own notifications (`user_id = actor.user_id`); anyone
else's id is NotFound. API clients (no user) have none.
"""

from datetime import datetime

from pydantic import BaseModel, computed_field
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import appointments
from app.crm.tables import table_of
from app.errors import NotFound
from app.formatting import datetime_br, effective_zone
from models.base import utcnow
from models.platform import Tenant, User
from models.tenant import Customer, Notification

REMINDER = "reminder"
KIND_LABELS = {REMINDER: "Lembrete", "channel_alert": "Alerta de canal"}
# The bell shows "99+" beyond this; counting further would read every unread row for nothing.
COUNT_CAP = 99
NOT_FOUND = "Notificação não encontrada."


class NotificationRow(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects decorators stacked on @property (pydantic docs)
    @property
    def read(self) -> bool:
        return self.read_at is not None


def _safe_link(link: str | None) -> str | None:
    # Only in-app paths: a notification must never send the browser to another site.
    return link if link and link.startswith("/") and not link.startswith("//") else None


def _row(n: Notification) -> NotificationRow:
    return NotificationRow.model_validate({**n.model_dump(), "link": _safe_link(n.link)})


def _zones(db: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = db.exec(
        select(User.id, User.time_zone, Tenant.time_zone)
        .join(Tenant, col(Tenant.id) == User.tenant_id)
        .where(col(User.id).in_(user_ids))
    ).all()
    return {uid: effective_zone(tenant_tz, user_tz) for uid, user_tz, tenant_tz in rows if uid is not None}


def create_reminders(db: Session, actor: Actor, now: datetime | None = None) -> list[Notification]:
    """Turn every appointment whose reminder time has come into one notification for its owner.

    Exactly once per appointment (and again after a reschedule): the claim is
    `appointments.claim_due_reminders`; the caller commits claim and notifications together.
    """
    actor.require(Perm.APPOINTMENTS_WRITE)
    due = appointments.claim_due_reminders(db, now)
    if not due:
        return []
    zones = _zones(db, {d.owner_id for d in due})
    customer_ids = {d.customer_id for d in due if d.customer_id is not None}
    names = (
        dict(db.exec(select(Customer.id, Customer.name).where(col(Customer.id).in_(customer_ids))).all())
        if customer_ids
        else {}
    )
    created = []
    for d in due:
        kind = appointments.KINDS.get(d.kind, "Compromisso")
        body = f"{kind} em {datetime_br(d.starts_at, zones.get(d.owner_id, d.time_zone))}"
        if d.customer_id is not None and d.customer_id in names:
            body += f" · {names[d.customer_id]}"
        notification = Notification(
            user_id=d.owner_id,
            kind=REMINDER,
            title=f"Lembrete: {d.title}"[:200],
            body=body[:1000],
            link=f"/clientes/{d.customer_id}" if d.customer_id is not None else "/agenda",
            ref_type="appointment",
            ref_id=d.appointment_id,
        )
        db.add(notification)
        created.append(notification)
    db.flush()
    for n in created:
        record(db, actor, "notification.create", "notification", n.id, None, n)
    return created


def list_notifications(
    db: Session, actor: Actor, *, unread_only: bool = False, kind: str | None = None, limit: int = 20
) -> list[NotificationRow]:
    """The actor's own notifications, newest first."""
    actor.require(Perm.CUSTOMERS_READ)
    if actor.user_id is None:
        return []
    stmt = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        stmt = stmt.where(col(Notification.read_at).is_(None))
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    stmt = stmt.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
    return [_row(n) for n in db.exec(stmt.limit(max(1, min(limit, 100)))).all()]


def unread_count(db: Session, actor: Actor) -> int:
    """How many of the actor's notifications are unread, capped at COUNT_CAP + 1 ("99+")."""
    actor.require(Perm.CUSTOMERS_READ)
    if actor.user_id is None:
        return 0
    unread = (
        select(Notification.id)
        .where(Notification.user_id == actor.user_id, col(Notification.read_at).is_(None))
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    return int(db.exec(select(func.count()).select_from(unread)).one())


def mark_read(db: Session, actor: Actor, notification_id: int) -> NotificationRow:
    """Mark one of the actor's notifications read (idempotent); another user's is NotFound."""
    actor.require(Perm.CUSTOMERS_READ)
    notification = db.get(Notification, notification_id)
    if notification is None or actor.user_id is None or notification.user_id != actor.user_id:
        raise NotFound(NOT_FOUND)
    if notification.read_at is None:
        before = notification.model_dump()
        notification.read_at = utcnow()
        db.add(notification)
        record(db, actor, "notification.read", "notification", notification.id, before, notification)
    return _row(notification)


def mark_all_read(db: Session, actor: Actor) -> int:
    """Mark every unread notification of the actor read; returns how many changed."""
    actor.require(Perm.CUSTOMERS_READ)
    if actor.user_id is None:
        return 0
    t = table_of(Notification)
    stmt = (
        update(t)
        .where(t.c.user_id == actor.user_id, t.c.read_at.is_(None))
        .values(read_at=utcnow())
        .returning(t.c.id)
    )
    ids = [r[0] for r in db.exec(stmt)]
    if ids:
        record(
            db, actor, "notification.read_all", "notification", None, None, {"count": len(ids), "ids": ids}
        )
    return len(ids)


def open_link(db: Session, actor: Actor, notification_id: int) -> str | None:
    """Mark the notification read and return the in-app path it points to (None: nothing to open)."""
    return mark_read(db, actor, notification_id).link
