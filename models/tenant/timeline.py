"""The customer timeline (interactions) and the things it points to: notes, appointments."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, text
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, timestamp, updated_at


class Interaction(SQLModel, table=True):
    """One timeline row: every message, note, call, stage move, appointment or import touch."""

    __tablename__ = "interactions"
    __table_args__ = (
        # Newest-first keyset pagination per customer.
        Index("ix_interactions_customer_at", "customer_id", "at", "id"),
        Index("ix_interactions_kind", "customer_id", "kind", "at"),
        # "Recently touched customers" on the agent home (t0003).
        Index("ix_interactions_actor_at", "actor_id", "at", postgresql_where=text("actor_id IS NOT NULL")),
    )

    id: int | None = pk()
    customer_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    )
    # message_in | message_out | note | call | status_change | stage_change | appointment
    # | import | campaign | opt_out | field_change | opportunity | conversation
    kind: str = Field(max_length=30)
    summary: str = Field(default="", max_length=500)
    payload: dict[str, Any] = jsonb()
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    origin: str = Field(default="user", max_length=10)  # user | system
    ref_type: str | None = Field(default=None, max_length=30)
    ref_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    at: datetime = created_at()


class Note(SQLModel, table=True):
    __tablename__ = "notes"

    id: int | None = pk()
    customer_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    body: str
    author_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Appointment(SQLModel, table=True):
    """A scheduled follow-up / meeting; starts_at is UTC, time_zone is the user's zone when booked."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_owner_start", "owner_id", "starts_at"),
        # The reminder sweep reads only appointments still waiting for their reminder (t0006).
        Index(
            "ix_appointments_remind_pending",
            "starts_at",
            postgresql_where=text("reminded_at IS NULL AND done_at IS NULL AND remind_minutes IS NOT NULL"),
        ),
    )

    id: int | None = pk()
    customer_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    )
    title: str = Field(max_length=200)
    description: str = ""
    kind: str = Field(default="follow_up", max_length=20)  # follow_up | call | meeting | task
    starts_at: datetime = timestamp(nullable=False)
    ends_at: datetime | None = timestamp()
    time_zone: str = Field(default="America/Sao_Paulo", max_length=64)
    # No column-level default: SQLAlchemy would write it over an explicit None ("no reminder").
    remind_minutes: int | None = Field(default=15, sa_column=Column(Integer, nullable=True))
    owner_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    done_at: datetime | None = timestamp()
    # Set when the reminder was sent (claimed by one sweep); a reschedule clears it.
    reminded_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
