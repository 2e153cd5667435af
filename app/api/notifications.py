"""The caller's own notifications (appointment reminders): list, unread count, mark read."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.crm import notifications
from app.validation import Id

router = APIRouter(prefix="/api/notificacoes", tags=["notificações"])


class NotificationList(BaseModel):
    items: list[notifications.NotificationRow]
    unread: int  # capped at 100 ("99+")


class MarkedAll(BaseModel):
    marked: int


@router.get("", response_model=NotificationList, summary="Minhas notificações")
def list_notifications(
    actor: TenantActor,
    db: TenantDB,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NotificationList:
    return NotificationList(
        items=notifications.list_notifications(db, actor, unread_only=unread, limit=limit),
        unread=notifications.unread_count(db, actor),
    )


@router.post("/lidas", response_model=MarkedAll, summary="Marcar todas como lidas")
def mark_all_read(actor: TenantActor, db: TenantDB) -> MarkedAll:
    return MarkedAll(marked=notifications.mark_all_read(db, actor))


@router.post(
    "/{notification_id:int}/lida", response_model=notifications.NotificationRow, summary="Marcar como lida"
)
def mark_read(notification_id: Id, actor: TenantActor, db: TenantDB) -> notifications.NotificationRow:
    return notifications.mark_read(db, actor, notification_id)
