"""Workspace bookkeeping: background bulk actions on customers and their live progress."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, PrimaryKeyConstraint, Text, text
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, timestamp, updated_at


class BulkJob(SQLModel, table=True):
    """One bulk action (tag, owner, status) over a selection or a whole filtered set."""

    __tablename__ = "bulk_jobs"
    __table_args__ = (Index("ix_bulk_jobs_created_by", "created_by", "id"),)

    id: int | None = pk()
    action: str = Field(max_length=30)  # add_tag | remove_tag | assign_owner | set_status
    params: dict[str, Any] = jsonb()
    # Either explicit ids or a CustomerFilter dump; resolved against the actor's visibility at run time.
    selection: dict[str, Any] = jsonb()
    state: str = Field(default="queued", max_length=20)  # queued | running | done | failed
    total: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    done: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    error: str | None = Field(default=None, max_length=2000)
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    started_at: datetime | None = timestamp()
    finished_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class SearchWord(SQLModel, table=True):
    """A distinct word of some customer name (folded), recorded by the writers of names; for typo
    correction. `ordered`: customer_words holds every customer with this word (t0022)."""

    __tablename__ = "search_words"
    __table_args__ = (Index("ix_search_words_ordered", "word", postgresql_where=text("ordered")),)

    word: str = Field(sa_column=Column(Text, primary_key=True))
    ordered: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )


class CustomerWord(SQLModel, table=True):
    """A frequent leading name word (`search_words.ordered`) and a customer whose name has it but is not
    led by it (those are one range of the name index), in name order: the list's name-sorted page of
    such a word is that range and a range of this key, merged (t0022). Kept by triggers on customers,
    so every writer of names (import, services, seed) keeps it exact."""

    __tablename__ = "customer_words"
    __table_args__ = (PrimaryKeyConstraint("word", "name_key", "customer_id"),)

    word: str = Field(sa_column=Column(Text(collation="C"), nullable=False))
    name_key: str = Field(sa_column=Column(Text(collation="C"), nullable=False))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
