"""Campaigns and their recipients (issue 19).

A campaign's audience is materialised once into `campaign_recipients` (unique per campaign and customer),
with the address, the sending identity and the template variables frozen, so a resume or a retry sends
exactly what the first pass would have. Recipients are fed into the outbox (`messages`, one row per send,
`campaign_id` set) in batches; the outbox's reservation and lease give the exactly-once guarantee.
Counters are kept incrementally on the campaign row (a 500k campaign's page never counts rows).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, timestamp, updated_at


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int | None = pk()
    name: str = Field(max_length=200)
    medium: str = Field(max_length=10)  # whatsapp | email
    # draft -> scheduled -> running <-> paused -> done | cancelled
    status: str = Field(default="draft", max_length=20)
    channel_ids: list[int] = Field(
        default_factory=list, sa_column=Column(ARRAY(BigInteger), nullable=False, server_default="{}")
    )
    assignment: str = Field(default="round_robin", max_length=20)  # round_robin | sticky
    template_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    subject: str | None = Field(default=None, max_length=300)
    body: str | None = None  # text (WhatsApp) or html (e-mail) when no template is used
    variables: dict[str, Any] = jsonb()  # extra values for every recipient
    audience: dict[str, Any] = jsonb()  # {"segment_id": n} | {"filter": {...}} | {"list_id": n}
    # At most one file sent with every message: [{"key", "filename", "content_type", "size", "kind"}]
    attachments: list[dict[str, Any]] = jsonb(list)
    schedule_at: datetime | None = timestamp()
    # {"mon": ["09:00", "18:00"], ..., "sat": ["09:00", "13:00"]}; empty = any time
    window: dict[str, Any] = jsonb()
    time_zone: str = Field(default="America/Sao_Paulo", max_length=64)
    daily_cap: int | None = Field(default=None, sa_column=Column(Integer))
    counts: dict[str, Any] = jsonb()
    last_error: str | None = Field(default=None, max_length=500)
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    started_at: datetime | None = timestamp()
    finished_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class CampaignRecipient(SQLModel, table=True):
    __tablename__ = "campaign_recipients"
    __table_args__ = (
        Index("uq_campaign_recipients_customer", "campaign_id", "customer_id", unique=True),
        # The feeder reads pending recipients only, in order, through this partial index.
        Index(
            "ix_campaign_recipients_pending", "campaign_id", "id", postgresql_where=text("status = 'pending'")
        ),
        # Only fed recipients have a message: a partial index costs nothing while materialising.
        Index(
            "ix_campaign_recipients_message", "message_id", postgresql_where=text("message_id IS NOT NULL")
        ),
    )

    id: int | None = pk()
    # No foreign key to campaigns (t0027): its per-row check was a quarter of materialising 500k
    # recipients; the one writer inserts them with the campaign it has just created, in one transaction.
    campaign_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    customer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    address: str | None = Field(default=None, sa_column=Column(String(320, collation="C")))
    channel_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    status: str = Field(default="pending", max_length=20)  # pending | queued | skipped
    skip_reason: str | None = Field(default=None, max_length=30)  # no_contact | opted_out | cancelled
    variables: dict[str, Any] = jsonb()
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Bumped by each retry of a failed send: the outbox key `campaign:<c>:<r>:<generation>` is new, so a
    # provider that remembers keys (Resend, 24 h) does not answer the retry with the first failure.
    generation: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    replied_at: datetime | None = timestamp()


class CampaignList(SQLModel, table=True):
    """An uploaded list of customers (by document, phone or e-mail), matched once against the customers
    the uploader may see: a campaign's audience can be "these customers" instead of a filter."""

    __tablename__ = "campaign_lists"

    id: int | None = pk()
    filename: str = Field(max_length=200)
    storage_key: str = Field(max_length=500)
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    # The matched customers, deduplicated: the audience query unnests them (one set-based statement).
    customer_ids: list[int] = Field(
        default_factory=list, sa_column=Column(ARRAY(BigInteger), nullable=False, server_default="{}")
    )
    counts: dict[str, Any] = jsonb()  # linhas, encontrados, nao_encontrados, invalidos, repetidos
    problems: list[dict[str, Any]] = jsonb(list)  # the first lines not used: {linha, valor, motivo}
    created_at: datetime = created_at()
