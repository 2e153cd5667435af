"""The tenant's audit log: who did what to which row, with before/after, when and from where."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_entity", "entity", "entity_id"),
        Index("ix_audit_actor", "actor_id", "at"),
    )

    id: int | None = pk()
    at: datetime = created_at()
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    actor_email: str | None = Field(default=None, max_length=320)
    action: str = Field(max_length=80, index=True)
    entity: str = Field(max_length=80)
    entity_id: str | None = Field(default=None, max_length=80)
    before: dict[str, Any] = jsonb()
    after: dict[str, Any] = jsonb()
    ip: str | None = Field(default=None, max_length=64)
