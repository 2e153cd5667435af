"""The agent's home: open conversations, today's follow-ups (and overdue), unread reminders, recently
touched customers."""

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.crm import appointments, conversations, first_steps, notifications
from app.crm.first_steps import FirstSteps
from app.crm.visibility import customer_visible
from models.base import utcnow
from models.tenant import Customer, Interaction


class RecentCustomer(BaseModel):
    id: int
    name: str
    status: str
    touched_at: datetime


class Home(BaseModel):
    conversations: list[conversations.ConversationRow]
    agenda: list[appointments.AgendaItem]
    reminders: list[notifications.NotificationRow]
    recent: list[RecentCustomer]
    counts: dict[str, Any]
    # A new organisation's checklist (admins, until hidden): app/crm/first_steps.py.
    first_steps: FirstSteps | None = None


def recent_customers(db: Session, actor: Actor, limit: int = 10) -> list[RecentCustomer]:
    """Customers the actor touched last (any timeline entry they authored), newest first."""
    actor.require(Perm.CUSTOMERS_READ)
    # Only the actor's latest ~500 entries are scanned (index on actor_id, at), then grouped.
    latest = (
        select(Interaction.customer_id, Interaction.at)
        .where(Interaction.actor_id == actor.user_id)
        .order_by(col(Interaction.at).desc())
        .limit(500)
        .subquery()
    )
    touched = (
        select(latest.c.customer_id, func.max(latest.c.at).label("at"))
        .group_by(latest.c.customer_id)
        .subquery()
    )
    rows = db.exec(
        select(Customer.id, Customer.name, Customer.status, touched.c.at)
        .join(touched, touched.c.customer_id == Customer.id)
        .where(col(Customer.deleted_at).is_(None), customer_visible(actor))
        .order_by(touched.c.at.desc())
        .limit(limit)
    ).all()
    return [RecentCustomer(id=r[0] or 0, name=r[1], status=r[2], touched_at=r[3]) for r in rows]


def home(db: Session, actor: Actor, today: date | None = None) -> Home:
    actor.require(Perm.CUSTOMERS_READ)
    tz_name = appointments.user_zone(db, actor)
    today = today or utcnow().astimezone(ZoneInfo(tz_name)).date()
    open_convs = conversations.list_conversations(db, actor, status="open", mine=True, limit=20)
    agenda = [a for a in appointments.agenda(db, actor, today, span="day", tz_name=tz_name) if not a.done]
    reminders = notifications.list_notifications(
        db, actor, unread_only=True, kind=notifications.REMINDER, limit=10
    )
    return Home(
        conversations=open_convs,
        agenda=agenda,
        reminders=reminders,
        recent=recent_customers(db, actor),
        counts={
            "open_conversations": len(open_convs),
            "overdue": sum(1 for a in agenda if a.overdue),
            "today": sum(1 for a in agenda if not a.overdue),
            "reminders": len(reminders),
        },
        first_steps=first_steps.first_steps(db, actor),
    )
