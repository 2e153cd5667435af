"""In-app notifications for one user (appointment reminders today; the bell in the header lists them)."""

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from models.base import created_at, pk, timestamp


class Notification(SQLModel, table=True):
    __tablename__ = "notifications"
    __table_args__ = (
        # "My unread, newest first" and the unread count read only this index.
        Index("ix_notifications_user_read_created", "user_id", "read_at", "created_at"),
    )

    id: int | None = pk()
    # platform.users.id: no foreign key across schemas (a tenant schema stands alone).
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=30)  # reminder
    title: str = Field(max_length=200)
    body: str = Field(default="", max_length=1000)
    # In-app route to open (e.g. /clientes/42); never an external URL.
    link: str | None = Field(default=None, max_length=300)
    ref_type: str | None = Field(default=None, max_length=30)
    ref_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()
    read_at: datetime | None = timestamp()
