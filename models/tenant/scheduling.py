"""Scheduled messages: one send (or a recurring series) to one customer at a chosen time (issue 19).

`send_at` is the pending occurrence in UTC; `local_start` / `local_due` keep the wall-clock times in
`time_zone` the series is computed from (app.messaging.recurrence), so a daily 09:00 stays 09:00 across
daylight-saving changes. The minute sweep reads due rows through the partial index of scheduled rows and
sends each occurrence through the agents' send path with the idempotency key `scheduled:<id>:<occurrence>`.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, timestamp, updated_at


class ScheduledMessage(SQLModel, table=True):
    __tablename__ = "scheduled_messages"
    __table_args__ = (
        # The sweep's only query: due rows, oldest first; sent/cancelled rows cost nothing to keep.
        Index("ix_scheduled_messages_due", "send_at", postgresql_where=text("status = 'scheduled'")),
        Index("ix_scheduled_messages_customer", "customer_id", "send_at"),
    )

    id: int | None = pk()
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    medium: str = Field(max_length=10)  # whatsapp | email
    channel_id: int | None = Field(default=None, sa_column=Column(BigInteger))  # None: resolved at send time
    template_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    body: str | None = None  # WhatsApp text, or an e-mail's text when no html is given
    subject: str | None = Field(default=None, max_length=300)
    html: str | None = None
    variables: dict[str, Any] = jsonb()
    time_zone: str = Field(default="America/Sao_Paulo", max_length=64)
    local_start: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    local_due: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    send_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recurrence: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    occurrence: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    if_no_reply: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default="false")
    )
    anchor_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    anchor_at: datetime | None = timestamp()
    # scheduled -> queued | skipped | cancelled | failed (a series stays scheduled between occurrences)
    status: str = Field(default="scheduled", max_length=20)
    reason: str | None = Field(default=None, max_length=500)  # why skipped / failed, in pt-BR
    last_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    sent_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
