"""Sales pipelines (Kanban), their stages, opportunities and the stage history of each card."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, Numeric, func
from sqlmodel import Field, SQLModel

from models.base import created_at, pk, text_array, timestamp, updated_at, utcnow


class Pipeline(SQLModel, table=True):
    __tablename__ = "pipelines"

    id: int | None = pk()
    name: str = Field(max_length=120)
    is_default: bool = False
    created_at: datetime = created_at()
    # Archived pipelines keep their cards and history for reports but leave the board (t0016).
    archived_at: datetime | None = timestamp()


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
    color: str = Field(default="gray", max_length=20)
    wip_limit: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    # Card fields that must be filled before a card may enter (app.crm.kanban.rules.REQUIRABLE).
    required_fields: list[str] = text_array()
    archived_at: datetime | None = timestamp()


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
    # Gap ordering inside the column (app.crm.kanban.ordering): bigint so gaps never run out (t0016).
    position: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    loss_reason: str | None = Field(default=None, max_length=300)
    stage_entered_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    closed_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class StageHistory(SQLModel, table=True):
    """One row per stage change of a card: from, to, who, when and how long it sat in `from`."""

    __tablename__ = "stage_history"
    __table_args__ = (
        Index("ix_stage_history_opportunity", "opportunity_id", "id"),
        # Stage metrics read a pipeline's moves in a period.
        Index("ix_stage_history_pipeline_at", "pipeline_id", "moved_at"),
    )

    id: int | None = pk()
    opportunity_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("opportunities.id", ondelete="CASCADE"), nullable=False)
    )
    pipeline_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    from_stage_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    to_stage_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    moved_at: datetime = created_at()
    seconds_in_previous: int | None = Field(default=None, sa_column=Column(BigInteger))
