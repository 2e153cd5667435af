"""Conversations (WhatsApp / e-mail threads) and their messages."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, timestamp, updated_at


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_customer", "customer_id", "last_message_at"),
        Index("ix_conversations_assignee", "assignee_id", "status"),
    )

    id: int | None = pk()
    customer_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    )
    contact_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("contacts.id", ondelete="SET NULL"))
    )
    channel: str = Field(max_length=20)  # whatsapp | email
    status: str = Field(default="open", max_length=20)  # open | pending | resolved
    assignee_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    queue: str | None = Field(default=None, max_length=80)
    session_id: str | None = Field(default=None, max_length=120)  # WhatsApp session / sending identity
    subject: str | None = Field(default=None, max_length=300)
    last_message_at: datetime | None = timestamp()
    # The channel the conversation runs on (issue 18) and the customer's last inbound message: Meta's
    # 24-hour customer-service window opens there.
    channel_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("channels.id", ondelete="SET NULL"))
    )
    last_inbound_at: datetime | None = timestamp()
    unread_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        # The outbox: workers reserve queued outbound rows through this partial index only (issue 18).
        Index(
            "ix_messages_outbox",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'queued' AND direction = 'out'"),
        ),
        Index("ix_messages_campaign", "campaign_id", postgresql_where=text("campaign_id IS NOT NULL")),
        # Sends whose outcome is unknown (the worker died around the provider call), for operators.
        Index("ix_messages_uncertain", "id", postgresql_where=text("status = 'uncertain'")),
        # Sends per channel over time: reputation (bounce and complaint rates) and the monitoring page.
        Index(
            "ix_messages_channel_sent", "channel_id", "sent_at", postgresql_where=text("sent_at IS NOT NULL")
        ),
        # Outbound outcomes per channel in time order: a Cloud API number's recent failed share (t0026).
        Index(
            "ix_messages_channel_outcome",
            "channel_id",
            text("coalesce(failed_at, sent_at)"),
            postgresql_where=text("direction = 'out' AND coalesce(failed_at, sent_at) IS NOT NULL"),
        ),
        # Inbound messages whose image/document is not fetched yet: the sweep re-kicks lost fetches.
        Index(
            "ix_messages_media_pending",
            "created_at",
            postgresql_where=text("direction = 'in' AND attachments @> '[{\"status\": \"pending\"}]'::jsonb"),
        ),
        # Reserved rows whose lease expired are found by the reaper without scanning the table. The lease
        # condition in the predicate keeps the outbox's claim (status = 'reserved', by id) off this index,
        # which holds an entry for every version ever reserved until vacuum (t0030).
        Index(
            "ix_messages_leases",
            "lease_until",
            postgresql_where=text("status = 'reserved' AND lease_until IS NOT NULL"),
        ),
        Index(
            "uq_messages_idempotency",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # A provider's id is applied once per channel (replayed inbound webhooks are ignored).
        Index(
            "uq_messages_channel_provider_id",
            "channel_id",
            "provider_message_id",
            "direction",
            unique=True,
            postgresql_where=text("provider_message_id IS NOT NULL AND channel_id IS NOT NULL"),
        ),
    )

    id: int | None = pk()
    conversation_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    )
    direction: str = Field(max_length=3)  # in | out
    body: str = ""
    attachments: list[dict[str, Any]] = jsonb(list)
    # queued -> reserved -> sent -> delivered -> read | failed | skipped; uncertain: the worker died between
    # the provider call and the mark (reconciled from status webhooks, never resent); received (inbound).
    status: str = Field(default="queued", max_length=20)
    provider_message_id: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=500)
    error_code: str | None = Field(default=None, max_length=40)
    author_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    channel_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("channels.id", ondelete="SET NULL"))
    )
    kind: str = Field(
        default="text", sa_column=Column(String(20), nullable=False, server_default="text")
    )  # text | template | image | document | email
    to_address: str | None = Field(default=None, sa_column=Column(String(320, collation="C")))
    subject: str | None = Field(default=None, max_length=300)
    html: str | None = Field(default=None, sa_column=Column(Text))
    template_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Frozen rendering inputs: a retry sends exactly what the first attempt would have.
    variables: dict[str, Any] = jsonb()
    idempotency_key: str | None = Field(default=None, max_length=100)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime | None = timestamp()
    lease_until: datetime | None = timestamp()
    worker_id: str | None = Field(default=None, max_length=80)
    # When a worker last claimed it for the provider call (t0028): the reaper's evidence is per claim.
    claimed_at: datetime | None = timestamp()
    sent_at: datetime | None = timestamp()
    delivered_at: datetime | None = timestamp()
    read_at: datetime | None = timestamp()
    failed_at: datetime | None = timestamp()
    campaign_id: int | None = Field(default=None, sa_column=Column(BigInteger))  # issue 19
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
