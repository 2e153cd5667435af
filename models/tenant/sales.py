"""Sales pipelines (Kanban), their stages and opportunities."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Numeric
from sqlmodel import Field, SQLModel

from models.base import created_at, pk, timestamp, updated_at


class Pipeline(SQLModel, table=True):
    __tablename__ = "pipelines"

    id: int | None = pk()
    name: str = Field(max_length=120)
    is_default: bool = False
    created_at: datetime = created_at()


class Stage(SQLModel, table=True):
    __tablename__ = "stages"
    __table_args__ = (Index("ix_stages_pipeline", "pipeline_id", "position"),)

    id: int | None = pk()
    pipeline_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(max_length=120)
    position: int = 0
    outcome: str | None = Field(default=None, max_length=10)  # won | lost | None (open)


class Opportunity(SQLModel, table=True):
    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_stage", "stage_id", "position"),
        Index("ix_opportunities_customer", "customer_id"),
        Index("ix_opportunities_owner", "owner_id"),
    )

    id: int | None = pk()
    customer_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    )
    pipeline_id: int = Field(sa_column=Column(BigInteger, ForeignKey("pipelines.id"), nullable=False))
    stage_id: int = Field(sa_column=Column(BigInteger, ForeignKey("stages.id"), nullable=False))
    title: str = Field(max_length=200)
    value: Decimal = Field(
        default=Decimal(0), sa_column=Column(Numeric(14, 2), nullable=False, server_default="0")
    )
    expected_close: date | None = None
    owner_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    position: int = 0
    closed_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()
