"""Sending identities (channels), the consent ledger and received webhook ids (issue 18).

A channel is one way of reaching customers: a Meta Cloud API number, a WPPConnect session, a Resend
or SMTP account, or a sandbox that records and never sends. Its non-secret settings are plain JSON;
its secrets (tokens, passwords, webhook secrets) are one Fernet-encrypted JSON document
(`app.security.keys`), never returned by the API nor logged.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, String, Text, text
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, timestamp, updated_at


class Channel(SQLModel, table=True):
    __tablename__ = "channels"
    __table_args__ = (
        # At most one default per medium among the live channels.
        Index(
            "uq_channels_default",
            "medium",
            unique=True,
            postgresql_where=text("is_default AND deleted_at IS NULL"),
        ),
    )

    id: int | None = pk()
    # whatsapp_cloud | wppconnect | resend | smtp | sandbox_whatsapp | sandbox_email
    kind: str = Field(max_length=30)
    medium: str = Field(max_length=10)  # whatsapp | email
    name: str = Field(max_length=120)
    # active | connecting | qrcode | disconnected | paused | error (provider sessions report theirs)
    status: str = Field(default="active", max_length=20)
    status_detail: str | None = Field(default=None, max_length=500)
    status_at: datetime | None = timestamp()
    is_default: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="false"))
    # An agent's own WPPConnect session (platform.users.id); NULL = the organisation's.
    owner_user_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    config: dict[str, Any] = jsonb()
    secrets: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # Provider-side state that is not configuration (e.g. a WPPConnect bearer token, encrypted).
    state: dict[str, Any] = jsonb()
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    deleted_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class ConsentEvent(SQLModel, table=True):
    """One line of the consent ledger: append-only; a contact's state is its newest line per medium.

    `address_hash` (sha256 of the normalised address) outlives an erasure: the customer and the address
    are cleared, the proof that this address opted out stays.
    """

    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_address", "medium", "address_hash", "id"),
        Index("ix_consent_events_customer", "customer_id", "id"),
    )

    id: int | None = pk()
    customer_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="SET NULL"))
    )
    medium: str = Field(max_length=10)  # whatsapp | email
    address: str | None = Field(default=None, sa_column=Column(String(320, collation="C")))
    address_hash: str = Field(sa_column=Column(String(64, collation="C"), nullable=False))
    status: str = Field(max_length=10)  # opt_in | opt_out
    # consent | legitimate_interest | contract | legal_obligation (LGPD art. 7)
    legal_basis: str = Field(default="consent", max_length=40)
    # keyword | unsubscribe_link | complaint | hard_bounce | agent | import | api
    source: str = Field(max_length=30)
    evidence: dict[str, Any] = jsonb()  # message id, provider event id, IP, keyword...
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()


class WebhookReceipt(SQLModel, table=True):
    """Provider event ids already applied: a replayed webhook is acknowledged and ignored."""

    __tablename__ = "webhook_receipts"

    provider: str = Field(sa_column=Column(String(20), primary_key=True))
    event_id: str = Field(sa_column=Column(String(200), primary_key=True))
    received_at: datetime = created_at()
