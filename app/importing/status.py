"""The import's typed contract, shared by the REST API, the page and `crm import --json`.

`ImportReport` is what an import found and wrote (report.Counters as stored in import_jobs.report,
plus its duration); `ImportStatus` is the job as users follow it: state, progress and the report.
"""

from typing import Any

from pydantic import BaseModel

from app.importing.recovery import RECOVERING_LABEL
from app.importing.report import message_for
from models.tenant import ImportJob


class ReportSample(BaseModel):
    """One example line of an error/warning reason (report.Counters.sample)."""

    line: int
    value: str | None
    message: str


class MissingCustomer(BaseModel):
    """A customer of the source that this version of the file no longer has (never deleted)."""

    id: int
    name: str | None


class ImportReport(BaseModel):
    """Counts (read = valid + invalid; valid = created + updated + unchanged + duplicates), reasons
    with their counts and samples, and the duration."""

    read: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    duplicates_existing: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    missing: int = 0
    errors: dict[str, int] = {}
    warnings: dict[str, int] = {}
    changed_fields: dict[str, int] = {}
    samples: dict[str, list[ReportSample]] = {}
    missing_sample: list[MissingCustomer] = []
    duration_s: float | None = None

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> "ImportReport":
        """The report as stored on the job (final, or the live one a running import keeps)."""
        data = dict(stored or {})
        data.setdefault("duration_s", data.get("elapsed_s"))
        return cls.model_validate(data)

    def summary(self) -> dict[str, Any]:
        """The report without its samples: what the CLI's --json and the benchmark print."""
        return self.model_dump(include=set(SUMMARY_FIELDS))


# The report's fields a summary prints (the samples are for the page and the API).
SUMMARY_FIELDS = tuple(f for f in ImportReport.model_fields if f not in ("samples", "missing_sample"))


# The job options a status shows (the rest, headers and reader details, stay internal).
_STATUS_OPTIONS = ("dedupe", "default_ddd", "sheet", "header_row", "format")


class ImportStatus(ImportReport):
    """One import as the API, the page and the CLI show it: the job, its live progress and its report."""

    id: int
    state: str
    # A job taken over after its process died: `state_label` is "retomando após falha" meanwhile.
    recovering: bool
    state_label: str | None
    recoveries: int
    source: str | None
    filename: str
    file_size: int
    rows_read: int
    bytes_read: int
    progress: float
    rate: float | None
    eta_s: float | None
    error: str | None
    cancel_requested: bool
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    mapping: dict[str, Any]
    options: dict[str, Any]
    messages: dict[str, str]  # {reason: pt-BR message} of every reason the report counts

    @classmethod
    def of_job(cls, job: ImportJob) -> "ImportStatus":
        stored = dict(job.report or {})
        report = ImportReport.of(stored)
        done = job.state == "done"
        # Taken over after its worker died (recovery.py): the page and the API say so until it ends.
        recovering = bool(job.recoveries) and job.state in ("queued", "running")
        progress = 1.0 if done else (job.bytes_read / job.file_size if job.file_size else 0.0)
        assert job.id is not None
        return cls(
            **report.model_dump(),
            id=job.id,
            state=job.state,
            recovering=recovering,
            state_label=RECOVERING_LABEL if recovering else None,
            recoveries=job.recoveries,
            source=job.source,
            filename=job.filename,
            file_size=job.file_size,
            rows_read=job.rows_read,
            bytes_read=job.bytes_read,
            progress=round(min(progress, 1.0), 4),
            rate=stored.get("rate"),
            eta_s=None if done else stored.get("eta_s"),
            error=job.error,
            cancel_requested=job.cancel_requested,
            created_at=job.created_at.isoformat() if job.created_at else None,
            started_at=job.started_at.isoformat() if job.started_at else None,
            finished_at=job.finished_at.isoformat() if job.finished_at else None,
            mapping=job.mapping,
            options={
                k: job.options.get(k) for k in ("dedupe", "default_ddd", "sheet", "header_row", "format")
            },
            messages={k: message_for(k) for k in [*report.errors, *report.warnings]},
        )

    def cli_summary(self) -> dict[str, Any]:
        """What `crm import --json` prints: which import, how it ended, and the report's summary."""
        return {
            "id": self.id,
            "state": self.state,
            "source": self.source,
            **self.summary(),
            "error": self.error,
        }
