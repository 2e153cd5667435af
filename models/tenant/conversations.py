"""Conversations (WhatsApp / e-mail threads) and their messages."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index
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
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_provider_id", "provider_message_id"),
    )

    id: int | None = pk()
    conversation_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    )
    direction: str = Field(max_length=3)  # in | out
    body: str = ""
    attachments: list[dict[str, Any]] = jsonb(list)
    status: str = Field(
        default="queued", max_length=20
    )  # queued | sent | delivered | read | failed | received
    provider_message_id: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=500)
    author_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
