"""Per-user preferences inside a tenant (e.g. the Kanban board's filters), one JSON value per key."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, SQLModel

from models.base import jsonb, updated_at


class UserPreference(SQLModel, table=True):
    __tablename__ = "user_preferences"

    # platform.users.id: no foreign key across schemas (a tenant schema stands alone).
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    key: str = Field(sa_column=Column(String(60), primary_key=True))
    value: dict[str, Any] = jsonb()
    updated_at: datetime = updated_at()
