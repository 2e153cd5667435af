"""Customers (clientes), their contacts, wallets (carteiras), tags, custom fields, segments."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, text
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, text_array, timestamp, updated_at


class Wallet(SQLModel, table=True):
    """Carteira: a named portfolio of customers (e.g. 'PME Sul', 'Vivo Empresas')."""

    __tablename__ = "wallets"

    id: int | None = pk()
    name: str = Field(sa_column=Column(String(120), nullable=False, unique=True))
    description: str = Field(default="", max_length=500)
    owner_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_document", "document", postgresql_where=text("document IS NOT NULL")),
        Index("ix_customers_status", "status", "id"),
        # Partial (t0013): wallet filters are `wallet_id IN (...)`; unassigned customers cost nothing.
        Index("ix_customers_wallet", "wallet_id", "id", postgresql_where=text("wallet_id IS NOT NULL")),
        Index("ix_customers_updated", "updated_at", "id"),
        Index("ix_customers_created", "created_at", "id"),
        Index(
            "ix_customers_custom",
            "custom",
            postgresql_using="gin",
            postgresql_ops={"custom": "jsonb_path_ops"},
        ),
        Index(
            "ix_customers_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}
        ),
        # No index on (source, source_key): a re-import reads its source's map in one scan (t0013).
        # Keyset pagination for the sortable list columns (t0003). t0003 replaced the raw-name trigram
        # index by accent-insensitive trigram/FTS expression indexes on public.crm_norm(name), which,
        # with the name-words trigger and extended statistics, live only in the migration.
        Index("ix_customers_name_id", "name", "id"),
        Index("ix_customers_score_id", "score", "id"),
        # Agents' lists (their own portfolio) in every sort order; they replaced (owner_id, id). Partial
        # (t0007): the visibility predicate `owner_id IN (...)` implies NOT NULL, and unassigned
        # customers (most imported ones) then cost nothing to index.
        *(
            Index(
                f"ix_customers_owner_{name}",
                "owner_id",
                column,
                "id",
                postgresql_where=text("owner_id IS NOT NULL"),
            )
            for name, column in (
                ("updated", "updated_at"),
                ("name", "name"),
                ("created", "created_at"),
                ("score", "score"),
                ("status", "status"),  # t0008
            )
        ),
    )

    id: int | None = pk()
    # t0012: COLLATE "C" where the database's default is code-point order (same order, cheaper sorts);
    # left in the database's collation elsewhere (linguistic order), hence not declared here.
    name: str = Field(sa_column=Column(String(300), nullable=False))
    trade_name: str | None = Field(default=None, max_length=300)  # nome fantasia
    # Identifiers compare byte-wise (COLLATE "C", t0011): cheaper index builds and lookups.
    document: str | None = Field(
        default=None, sa_column=Column(String(14, collation="C"))
    )  # CPF (11) / CNPJ (14) digits
    kind: str = Field(default="PF", max_length=2)  # PF | PJ
    status: str = Field(default="ativo", max_length=40)
    plan: str | None = Field(default=None, max_length=120)  # plano atual
    wallet_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, ForeignKey("wallets.id", ondelete="SET NULL"))
    )
    owner_id: int | None = Field(default=None, sa_column=Column(BigInteger))  # platform.users.id
    score: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    custom: dict[str, Any] = jsonb()
    # Tags live in customer_tags (t0005): tagging must not rewrite this row and its 15 indexes.
    # Where the row came from: the import source name and the row's key in that source.
    source: str | None = Field(default=None, max_length=200)
    source_key: str | None = Field(default=None, sa_column=Column(String(200, collation="C")))
    import_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Hash of the normalised file row that last wrote this customer (t0010): a re-import of the same
    # source skips rows whose hash is unchanged (app/importing/pipeline/batches.py).
    import_hash: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
    deleted_at: datetime | None = timestamp()


class Contact(SQLModel, table=True):
    """A phone (E.164), e-mail (lower-case) or WhatsApp id of a customer."""

    __tablename__ = "contacts"
    __table_args__ = (
        # One owner per normalised phone / e-mail in a tenant: this is the dedupe key.
        # customer_id included (t0009): the import's lookups read only the index. value leads (t0011):
        # kind has 2-3 values, and a leading kind made every comparison of a build go to the second column.
        Index("uq_contacts_kind_value", "value", "kind", unique=True, postgresql_include=["customer_id"]),
        Index("ix_contacts_customer", "customer_id"),
        # Fragments typed in the search match as a suffix through reverse(value) (t0007, expression
        # index kept in the migration only) or as a prefix through the unique index above.
    )

    id: int | None = pk()
    customer_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=10)  # phone | email | whatsapp
    value: str = Field(sa_column=Column(String(320, collation="C"), nullable=False))  # byte-wise (t0011)
    label: str | None = Field(default=None, max_length=60)
    is_primary: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="false"))
    verified: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="false"))
    opt_out: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default="false"))
    opt_out_at: datetime | None = timestamp()
    opt_out_reason: str | None = Field(default=None, max_length=200)
    last_contacted_at: datetime | None = timestamp()
    import_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()


class Tag(SQLModel, table=True):
    __tablename__ = "tags"

    id: int | None = pk()
    name: str = Field(sa_column=Column(String(60), nullable=False, unique=True))
    color: str = Field(default="purple", max_length=20)
    created_at: datetime = created_at()


class CustomerTag(SQLModel, table=True):
    """A tag on a customer. Adding or removing one never touches the customers row, so it does not
    bump customers.updated_at (see docs/architecture.md, deviations)."""

    __tablename__ = "customer_tags"
    __table_args__ = (Index("ix_customer_tags_tag", "tag_id", "customer_id"),)

    customer_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    )
    tag_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    )
    created_at: datetime = created_at()


class CustomField(SQLModel, table=True):
    """Definition of a dynamic customer field; values live in customers.custom[key]."""

    __tablename__ = "custom_fields"

    id: int | None = pk()
    key: str = Field(sa_column=Column(String(60), nullable=False, unique=True))
    label: str = Field(max_length=120)
    type: str = Field(max_length=10)  # text | number | select | date | bool
    options: list[str] = text_array()
    required: bool = False
    position: int = 0
    show_in_list: bool = True
    show_in_filters: bool = True
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class Segment(SQLModel, table=True):
    """A saved customer filter, re-evaluated each time it is used; shared with the team."""

    __tablename__ = "segments"

    id: int | None = pk()
    name: str = Field(max_length=120)
    filters: dict[str, Any] = jsonb()
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    shared: bool = True
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
