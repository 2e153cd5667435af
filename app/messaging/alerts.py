"""Alerts to the organisation's admins when the governor stops a sending identity on its own: a Meta ban
signal (131048), an e-mail domain paused for its bounce or complaint rate, a WPPConnect session that
disconnected while it was live. Each becomes an in-app notification for every active admin (the bell),
once per cause while the previous one is unread, so a burst of webhooks does not flood anyone."""

from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import system_actor
from models.platform import Tenant, User
from models.tenant import Notification

KIND = "channel_alert"


def admin_ids(db: Session) -> list[int]:
    """The active admins of the organisation whose schema this session is placed in."""
    schema = str(db.info.get("schema", ""))
    return [
        uid
        for uid in db.exec(
            select(User.id)
            .join(Tenant, col(Tenant.id) == User.tenant_id)
            .where(Tenant.schema_name == schema, User.role == "admin", User.status == "active")
        ).all()
        if uid is not None
    ]


def alert_admins(db: Session, *, title: str, body: str, link: str, channel_id: int) -> list[Notification]:
    """Notify every active admin about a channel the system stopped (skipped for an admin who has not
    read the previous alert about that channel yet). The caller commits."""
    admins = admin_ids(db)
    unread = set(
        db.exec(
            select(Notification.user_id).where(
                Notification.kind == KIND,
                Notification.ref_type == "channel",
                Notification.ref_id == channel_id,
                col(Notification.read_at).is_(None),
                col(Notification.user_id).in_(admins),
            )
        ).all()
    )
    created = [
        Notification(
            user_id=uid,
            kind=KIND,
            title=title[:200],
            body=body[:1000],
            link=link,
            ref_type="channel",
            ref_id=channel_id,
        )
        for uid in admins
        if uid not in unread
    ]
    db.add_all(created)
    db.flush()
    actor = system_actor(None, str(db.info.get("schema", "")))
    for n in created:
        record(db, actor, "notification.create", "notification", n.id, None, n)
    return created
