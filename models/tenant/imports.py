"""Import jobs (one per uploaded file) and reusable column-mapping presets."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import created_at, jsonb, pk, timestamp, updated_at


class ImportJob(SQLModel, table=True):
    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_source", "source", "id"),)

    id: int | None = pk()
    source: str = Field(max_length=200)
    filename: str = Field(max_length=500)
    storage_key: str = Field(max_length=500)
    file_size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    file_format: str = Field(default="csv", max_length=10)  # csv | xlsx
    # uploading | queued | running | done | failed | cancelled
    state: str = Field(default="queued", max_length=20)
    mapping: dict[str, Any] = jsonb()
    options: dict[str, Any] = jsonb()  # dedupe policy, default DDD, sheet, header row, encoding...
    # Live progress: rows read so far and the byte offset of the last committed batch (resume point).
    rows_read: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    bytes_read: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    checkpoint: dict[str, Any] = jsonb()
    report: dict[str, Any] = jsonb()
    error: str | None = Field(default=None, max_length=2000)
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    cancel_requested: bool = False
    # Liveness (app/importing/recovery.py): refreshed by the running import; stale or with its advisory
    # lock free, an active job is dead and is resumed by whoever notices. `recoveries` counts take-overs.
    heartbeat_at: datetime | None = timestamp()
    recoveries: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    started_at: datetime | None = timestamp()
    finished_at: datetime | None = timestamp()
    created_at: datetime = created_at()
    updated_at: datetime = updated_at()


class MappingPreset(SQLModel, table=True):
    """A saved {source column: field} mapping, reused for later files of the same source."""

    __tablename__ = "mapping_presets"

    id: int | None = pk()
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    source: str | None = Field(default=None, max_length=200)
    mapping: dict[str, Any] = jsonb()
    options: dict[str, Any] = jsonb()
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = created_at()


class ImportIssue(SQLModel, table=True):
    """One problem found in one line of an import: an error (row rejected) or a warning (field dropped)."""

    __tablename__ = "import_issues"
    __table_args__ = (Index("ix_import_issues_import", "import_id", "severity", "line"),)

    id: int | None = pk()
    import_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("import_jobs.id", ondelete="CASCADE"), nullable=False)
    )
    line: int = Field(sa_column=Column(BigInteger, nullable=False))
    severity: str = Field(max_length=10)  # error | warning
    reason: str = Field(max_length=40)
    field: str | None = Field(default=None, max_length=40)
    value: str | None = Field(default=None, max_length=500)
    raw: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
