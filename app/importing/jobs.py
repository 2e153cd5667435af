"""Import service: uploads, previews, jobs, status, cancel, error rows, mapping presets.

Every function takes (db, actor, ...), checks Perm.IMPORTS_RUN and never commits: the API route,
page event or CLI owns the transaction and enqueues `tasks.imports.run_import` after committing.
"""

import io
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.audit.log import record
from app.auth.actor import Actor
from app.auth.permissions import Perm
from app.errors import Conflict, Invalid, NotFound, TooLarge
from app.importing import readers
from app.importing.mapping import FIELD_LABELS, suggest_mapping, validate_mapping
from app.importing.pipeline import POLICIES
from app.importing.report import DEDUPE_REASONS, message_for
from app.importing.status import ImportStatus
from app.security.spreadsheet import csv_writer
from app.settings import get_settings
from app.storage import Storage, UploadSession, get_storage
from app.storage.base import safe_filename
from models.platform import Tenant
from models.tenant import ImportJob, MappingPreset
from models.tenant.imports import ImportIssue

log = logging.getLogger(__name__)

# DDDs in use in Brazil (Anatel); a default DDD outside this list is a typo.
_DDDS = (
    "11 12 13 14 15 16 17 18 19 21 22 24 27 28 31 32 33 34 35 37 38 41 42 43 44 45 46 47 48 49 51 53 54 55 "
    "61 62 63 64 65 66 67 68 69 71 73 74 75 77 79 81 82 83 84 85 86 87 88 89 91 92 93 94 95 96 97 98 99"
)
VALID_DDDS = frozenset(_DDDS.split())
ACTIVE_STATES = ("uploading", "queued", "running")


@dataclass
class ImportOptions:
    source: str | None = None
    mapping: dict[str, str] | None = None
    dedupe: str = "keep-first"
    default_ddd: str | None = None
    sheet: str | None = None
    header_row: int | None = None


@dataclass
class Preview:
    filename: str
    format: str
    headers: list[str]
    rows: list[list[str | None]]
    suggested: dict[str, str]
    sheets: list[str] = field(default_factory=list)
    sheet: str | None = None
    header_row: int = 1
    encoding: str | None = None
    delimiter: str | None = None
    fields: dict[str, str] = field(default_factory=lambda: dict(FIELD_LABELS))


def _namespace(actor: Actor) -> str:
    actor.require(Perm.IMPORTS_RUN)
    if not actor.schema:
        raise Invalid("tenant", "Importações pertencem a uma organização.")
    return actor.schema


def _storage(storage: Storage | None) -> Any:
    return storage or get_storage()


# ----------------------------------------------------------------------------------------- uploads


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f}".replace(".", ",").removesuffix(",0") + " GB"


def storage_quota(db: Session, schema: str) -> int:
    """The tenant's storage quota: `limits.storage_bytes` on its row, else TENANT_STORAGE_QUOTA_BYTES."""
    limits = db.exec(select(Tenant.limits).where(Tenant.schema_name == schema)).first() or {}
    try:
        return int(limits.get("storage_bytes") or get_settings().tenant_storage_quota_bytes)
    except (TypeError, ValueError):
        return get_settings().tenant_storage_quota_bytes


def storage_used(db: Session, schema: str, storage: Storage | None = None) -> int:
    """Bytes the tenant holds: kept import files plus what its open uploads hold or declared."""
    kept = db.exec(select(func.coalesce(func.sum(ImportJob.file_size), 0))).one()
    return int(kept) + _storage(storage).uploads.reserved(schema)


def check_upload_size(db: Session, actor: Actor, size: int | None, storage: Storage | None = None) -> None:
    """Refuses, before any byte is received, an upload without a size, over the per-upload cap
    (UPLOAD_MAX_BYTES) or over what is left of the tenant's storage quota."""
    ns = _namespace(actor)
    if size is None:
        raise Invalid("size", "Informe o tamanho do arquivo em bytes.")
    if size < 0:
        raise Invalid("size", "Tamanho inválido.")
    cap = get_settings().upload_max_bytes
    if size > cap:
        raise TooLarge(f"O arquivo passa do limite de {_gib(cap)} por envio.", field="size")
    quota = storage_quota(db, ns)
    if storage_used(db, ns, storage) + size > quota:
        raise TooLarge(
            f"O arquivo não cabe na cota de armazenamento da organização ({_gib(quota)}).", field="size"
        )


def start_upload(
    db: Session, actor: Actor, filename: str, size: int | None, storage: Storage | None = None
) -> UploadSession:
    """Opens a resumable upload session (offset 0) for `size` bytes, within the cap and the quota."""
    ns = _namespace(actor)
    uploads = _storage(storage).uploads
    with uploads.reserving(ns):
        check_upload_size(db, actor, size, storage)
        return uploads.start(ns, safe_filename(filename), size)


def check_chunk_length(
    db: Session | None,
    actor: Actor,
    upload_id: str,
    offset: int,
    length: int | None,
    storage: Storage | None = None,
) -> UploadSession:
    """Before a chunk's bytes are read: a request body that would pass the declared size rejects the
    upload (deleted, 413). Returns the session."""
    ns = _namespace(actor)
    uploads = _storage(storage).uploads
    session = uploads.get(ns, upload_id)
    limit = session.size if session.size is not None else get_settings().upload_max_bytes
    if length is not None and offset + length > limit:
        uploads.discard(ns, upload_id)
        raise TooLarge("O envio passou do tamanho declarado e foi descartado.")
    return session


def upload_chunk(
    db: Session | None,
    actor: Actor,
    upload_id: str,
    offset: int,
    chunks: Iterable[bytes],
    storage: Storage | None = None,
) -> UploadSession:
    """Appends bytes at `offset`; a chunk sent at any other offset is refused with the current offset,
    and a byte past the declared size deletes the upload (413)."""
    max_size = get_settings().upload_max_bytes
    return _storage(storage).uploads.append(_namespace(actor), upload_id, offset, chunks, max_size)


def discard_upload(db: Session | None, actor: Actor, upload_id: str, storage: Storage | None = None) -> None:
    """Deletes an upload session and its bytes (a rejected upload leaves nothing behind)."""
    _storage(storage).uploads.discard(_namespace(actor), upload_id)


# Upload sessions untouched this long are abandoned: the page's grant lasts a day, a day more is slack.
UPLOAD_MAX_AGE_S = 2 * 24 * 3600


def purge_stale_uploads(storage: Storage | None = None, max_age_s: float = UPLOAD_MAX_AGE_S) -> int:
    """Maintenance (no actor: it only removes what nobody can finish any more), all tenants at once."""
    removed = _storage(storage).uploads.purge_stale(max_age_s)
    if removed:
        log.info("removed %d abandoned upload sessions", removed)
    return removed


def upload_status(
    db: Session | None, actor: Actor, upload_id: str, storage: Storage | None = None
) -> UploadSession:
    return _storage(storage).uploads.get(_namespace(actor), upload_id)


def preview_upload(
    db: Session | None,
    actor: Actor,
    upload_id: str,
    sheet: str | None = None,
    header_row: int | None = None,
    storage: Storage | None = None,
) -> Preview:
    """Headers, first rows and the suggested mapping of an uploaded file."""
    st = _storage(storage)
    ns = _namespace(actor)
    session = st.uploads.get(ns, upload_id)
    return preview_file(db, actor, st.uploads.part_path(ns, upload_id), session.filename, sheet, header_row)


def preview_file(
    db: Session | None,
    actor: Actor,
    path: Path,
    filename: str,
    sheet: str | None = None,
    header_row: int | None = None,
) -> Preview:
    _namespace(actor)
    info = readers.inspect_file(path, filename, sheet, header_row)
    return Preview(
        filename=filename,
        format=info.format,
        headers=info.headers,
        rows=info.preview,
        suggested=suggest_mapping(info.headers),
        sheets=info.sheets,
        sheet=info.sheet,
        header_row=info.header_row,
        encoding=info.encoding,
        delimiter=info.delimiter,
    )


# ----------------------------------------------------------------------------------------- jobs


def _check_options(opts: ImportOptions, filename: str) -> tuple[str, str | None]:
    problems: dict[str, str] = {}
    if opts.dedupe not in POLICIES:
        problems["dedupe"] = "Política de duplicados inválida: use keep-first, keep-last ou merge."
    ddd = (opts.default_ddd or "").strip() or None
    if ddd is not None and ddd not in VALID_DDDS:
        problems["default_ddd"] = "DDD padrão inválido: informe dois dígitos de um DDD brasileiro."
    source = (opts.source or Path(filename).stem or "importação").strip()[:200]
    if not source:
        problems["source"] = "Informe o nome da origem."
    if problems:
        raise Invalid(problems)
    return source, ddd


def _mapping_for(
    db: Session, source: str, headers: list[str], given: dict[str, str] | None
) -> dict[str, str]:
    if given:
        return validate_mapping(given, headers)
    preset = db.exec(
        select(MappingPreset).where(MappingPreset.source == source).order_by(col(MappingPreset.id).desc())
    ).first()
    if preset and all(h in headers for h in preset.mapping):
        return validate_mapping(dict(preset.mapping), headers)
    return validate_mapping(suggest_mapping(headers), headers)


def create_import(
    db: Session,
    actor: Actor,
    opts: ImportOptions,
    *,
    upload_id: str | None = None,
    local_path: Path | None = None,
    filename: str | None = None,
    storage: Storage | None = None,
) -> ImportJob:
    """Stores the file (a finished upload or a local file) and creates a queued import job.

    The file is inspected (format, encoding, header) and the mapping validated before anything is
    queued, so a bad file fails here with a pt-BR message instead of in the worker.
    """
    ns = _namespace(actor)
    st = _storage(storage)
    if (upload_id is None) == (local_path is None):
        raise Invalid("file", "Envie um arquivo.")
    if upload_id is not None:
        session = st.uploads.get(ns, upload_id)
        st.uploads.finish(ns, upload_id)
        path = st.uploads.part_path(ns, upload_id)
        name = filename or session.filename
    else:
        assert local_path is not None
        path = Path(local_path)
        if not path.is_file():
            raise NotFound("Arquivo não encontrado.")
        name = filename or path.name
    source, ddd = _check_options(opts, name)
    info = readers.inspect_file(path, name, opts.sheet, opts.header_row)
    mapping = _mapping_for(db, source, info.headers, opts.mapping)
    key = f"imports/{ns}/{uuid.uuid4().hex}/{safe_filename(name)}"
    size = st.commit_upload(key, path) if upload_id is not None else st.put_file(key, path)
    if upload_id is not None:
        st.uploads.discard(ns, upload_id)
    options = {**info.to_options(), "dedupe": opts.dedupe, "default_ddd": ddd}
    job = ImportJob(
        source=source,
        filename=name[:500],
        storage_key=key,
        file_size=size,
        file_format=info.format,
        state="queued",
        mapping=mapping,
        options=options,
        created_by=actor.user_id,
    )
    db.add(job)
    db.flush()
    record(
        db,
        actor,
        "import.create",
        "import_job",
        job.id,
        after={"source": source, "filename": name, "mapping": mapping},
    )
    return job


def _job(db: Session, actor: Actor, import_id: int) -> ImportJob:
    _namespace(actor)
    job = db.get(ImportJob, import_id)
    if job is None:
        raise NotFound("Importação não encontrada.")
    return job


def import_status(job: ImportJob) -> ImportStatus:
    """The job as users follow it: state, live progress (rows read, rate, ETA) and the report."""
    return ImportStatus.of_job(job)


def get_import_status(db: Session, actor: Actor, import_id: int) -> ImportStatus:
    """State, live progress (rows read, rate, ETA) and the report of one import."""
    return import_status(_job(db, actor, import_id))


def list_imports(db: Session, actor: Actor, source: str | None = None, limit: int = 50) -> list[ImportJob]:
    _namespace(actor)
    q = select(ImportJob).order_by(col(ImportJob.id).desc()).limit(max(1, min(limit, 200)))
    if source:
        q = q.where(ImportJob.source == source)
    return list(db.exec(q).all())


def cancel(db: Session, actor: Actor, import_id: int) -> ImportJob:
    """Asks a running import to stop after its current batch (committed batches stay)."""
    job = _job(db, actor, import_id)
    if job.state not in ACTIVE_STATES:
        raise Conflict("Esta importação já terminou.")
    job.cancel_requested = True
    if job.state == "queued":
        job.state = "cancelled"
    db.add(job)
    record(db, actor, "import.cancel", "import_job", job.id)
    return job


def error_rows_csv(
    db: Session, actor: Actor, import_id: int, include_warnings: bool = False
) -> Iterator[str]:
    """The rejected rows as CSV (line, reason in pt-BR, then the original columns), streamed."""
    job = _job(db, actor, import_id)
    headers = list(job.options.get("headers") or [])
    buf = io.StringIO()
    writer = csv_writer(buf)
    writer.writerow(["linha", "motivo", "campo", "valor", *headers])
    yield "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 accents correctly
    q = select(ImportIssue).where(ImportIssue.import_id == import_id).order_by(col(ImportIssue.line))
    if not include_warnings:
        q = q.where(ImportIssue.severity == "error")
    else:  # duplicates are not problems: they have their own CSV (dedupe_rows_csv)
        q = q.where(col(ImportIssue.severity).in_(("error", "warning")))
    for issue in db.exec(q.execution_options(yield_per=5000)):
        buf.seek(0)
        buf.truncate()
        raw = issue.raw if isinstance(issue.raw, dict) else (json.loads(issue.raw) if issue.raw else {})
        cells = list(raw.get("cells", []))
        writer.writerow([issue.line, message_for(issue.reason), issue.field or "", issue.value or "", *cells])
        yield buf.getvalue()


def dedupe_rows_csv(db: Session, actor: Actor, import_id: int) -> Iterator[str]:
    """The rows the grouping folded or kept apart, as CSV (line, what happened in pt-BR, the line and
    customer it met, why, then the original columns), streamed: duplicates of an earlier row, rows of an
    existing customer, conflicts."""
    job = _job(db, actor, import_id)
    headers = list(job.options.get("headers") or [])
    buf = io.StringIO()
    writer = csv_writer(buf)
    writer.writerow(["linha", "situação", "linha de referência", "cliente", "por", *headers])
    yield "\ufeff" + buf.getvalue()  # BOM: Excel opens UTF-8 accents correctly
    q = (
        select(ImportIssue)
        .where(ImportIssue.import_id == import_id, col(ImportIssue.reason).in_(DEDUPE_REASONS))
        .order_by(col(ImportIssue.line))
    )
    for issue in db.exec(q.execution_options(yield_per=5000)):
        buf.seek(0)
        buf.truncate()
        raw = issue.raw if isinstance(issue.raw, dict) else (json.loads(issue.raw) if issue.raw else {})
        into_line, into_customer = raw.get("into_line"), raw.get("into_customer")
        writer.writerow(
            [
                issue.line,
                message_for(issue.reason),
                "" if into_line is None else into_line,
                "" if into_customer is None else f"#{into_customer}",
                raw.get("by") or "",
                *list(raw.get("cells", [])),
            ]
        )
        yield buf.getvalue()


# ----------------------------------------------------------------------------------------- presets


def save_preset(
    db: Session,
    actor: Actor,
    name: str,
    mapping: dict[str, str],
    source: str | None = None,
    options: dict[str, Any] | None = None,
) -> MappingPreset:
    """Saves (or replaces) a named {column: field} mapping, reused for later files of the same source."""
    _namespace(actor)
    name = re.sub(r"\s+", " ", name or "").strip()[:200]
    if not name:
        raise Invalid("name", "Informe um nome para o modelo de mapeamento.")
    validate_mapping(mapping, list(mapping))
    preset = db.exec(select(MappingPreset).where(MappingPreset.name == name)).first()
    before = dict(preset.mapping) if preset else None
    if preset is None:
        preset = MappingPreset(name=name, created_by=actor.user_id)
    preset.mapping = dict(mapping)
    preset.source = (source or None) and source[:200]
    preset.options = dict(options or {})
    db.add(preset)
    db.flush()
    record(
        db,
        actor,
        "import.preset.save",
        "mapping_preset",
        preset.id,
        before={"mapping": before} if before else None,
        after={"mapping": mapping},
    )
    return preset


def list_presets(db: Session, actor: Actor, source: str | None = None) -> list[MappingPreset]:
    _namespace(actor)
    q = select(MappingPreset).order_by(col(MappingPreset.name))
    if source:
        q = q.where(MappingPreset.source == source)
    return list(db.exec(q).all())


def delete_preset(db: Session, actor: Actor, preset_id: int) -> None:
    _namespace(actor)
    preset = db.get(MappingPreset, preset_id)
    if preset is None:
        raise NotFound("Modelo de mapeamento não encontrado.")
    record(db, actor, "import.preset.delete", "mapping_preset", preset.id, before={"name": preset.name})
    db.delete(preset)


def mark_for_resume(db: Session, actor: Actor, import_id: int) -> ImportJob:
    """Re-queues a failed import; the pipeline resumes from its last committed batch."""
    job = _job(db, actor, import_id)
    if job.state not in ("failed", "running", "queued"):
        raise Conflict("Só importações interrompidas podem ser retomadas.")
    job.state = "queued"
    job.error = None
    job.finished_at = None
    db.add(job)
    record(db, actor, "import.resume", "import_job", job.id)
    return job
