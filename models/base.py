"""Column helpers shared by platform and tenant tables."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import Text
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def pk() -> Any:
    """A bigint identity primary key."""
    return Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))


def created_at() -> Any:
    return Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def updated_at() -> Any:
    return Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=utcnow),
    )


def timestamp(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


def jsonb(default: Any = dict) -> Any:
    return Field(
        default_factory=default,
        sa_column=Column(JSONB, nullable=False, server_default="{}" if default is dict else "[]"),
    )


def text_array() -> Any:
    return Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"),
    )
