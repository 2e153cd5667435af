"""/api/imports: resumable uploads, preview, create (multipart or an upload id), status, cancel,
error rows as CSV, mapping presets. Thin: parse, authorise (in the service), call app.importing.jobs."""

import json
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.after_commit import enqueue_after_commit
from app.api.deps import TenantActor, TenantDB, UploadActor
from app.auth.actor import Actor
from app.errors import Invalid, LengthRequired
from app.importing import jobs
from app.importing.status import ImportStatus
from app.settings import get_settings
from app.validation import INT64_MAX, Id, Int64, NonNegInt32, Str10, Str20, Str60, Str120, Str200, Str500
from tasks.imports import run_import
from tenants.database import session

router = APIRouter(prefix="/api/imports", tags=["imports"])


class UploadStart(BaseModel):
    filename: Str500 = Field(min_length=1)
    size: Int64 | None = Field(default=None, ge=0)


class UploadOut(BaseModel):
    upload_id: str
    filename: str
    offset: int
    size: int | None
    complete: bool


class ImportIn(BaseModel):
    upload_id: Str120
    source: Str200 | None = None
    mapping: dict[Str200, Str60] | None = Field(default=None, max_length=500)
    dedupe: Str20 = "keep-first"
    default_ddd: Str10 | None = None
    sheet: Str200 | None = None
    header_row: NonNegInt32 | None = Field(default=None, ge=1)


class ImportCreated(BaseModel):
    id: int


class PresetIn(BaseModel):
    name: Str200 = Field(min_length=1)
    mapping: dict[Str200, Str60] = Field(max_length=500)
    source: Str200 | None = None


class PresetOut(BaseModel):
    id: int
    name: str
    source: str | None
    mapping: dict[str, str]


class PreviewOut(BaseModel):
    filename: str
    format: str
    headers: list[str]
    rows: list[list[str | None]]
    suggested: dict[str, str]  # {column: field}
    sheets: list[str]
    sheet: str | None
    header_row: int
    encoding: str | None
    delimiter: str | None
    fields: dict[str, str]  # {field: pt-BR label}


def _upload_out(s: Any) -> UploadOut:
    return UploadOut(
        upload_id=s.upload_id, filename=s.filename, offset=s.offset, size=s.size, complete=s.complete
    )


def _schema(actor: Actor) -> str:
    """The tenant schema of a tenant route's actor (TenantActor / UploadActor guarantee one)."""
    assert actor.schema is not None
    return actor.schema


# ----------------------------------------------------------------------------------------- uploads


@router.post("/uploads", response_model=UploadOut, status_code=201)
def start_upload(body: UploadStart, actor: TenantActor, db: TenantDB) -> UploadOut:
    """Opens a resumable upload; send the bytes with PATCH at the returned offset."""
    return _upload_out(jobs.start_upload(db, actor, body.filename, body.size))


@router.get("/uploads/{upload_id}", response_model=UploadOut)
def upload_status(upload_id: Str120, actor: UploadActor) -> UploadOut:
    """Where to resume after a dropped connection (Bearer token, or the page's Upload-Token grant)."""
    return _upload_out(jobs.upload_status(None, actor, upload_id))


@router.patch("/uploads/{upload_id}", response_model=UploadOut)
async def upload_chunk(
    upload_id: Str120,
    request: Request,
    actor: UploadActor,
    upload_offset: int = Header(alias="Upload-Offset", ge=0, le=INT64_MAX),
) -> UploadOut:
    """Appends the raw request body at `Upload-Offset` (streamed to disk, never buffered whole).

    A body that would pass the upload's declared size is refused (413) before it is read when it
    declares its length, and after at most one byte too many when it does not; either way the upload
    and its bytes are deleted."""
    length = _content_length(request)
    # 404 / 413 before reading the body.
    session_ = await run_in_threadpool(
        jobs.check_chunk_length,
        None,
        actor,
        upload_id,
        upload_offset,
        length,
    )
    limit = session_.size if session_.size is not None else get_settings().upload_max_bytes
    remaining = max(limit - upload_offset, 0)
    # The body is streamed chunk by chunk into a thread that appends to the part file.
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    result: dict[str, Any] = {}

    def consume() -> None:
        def gen() -> Iterator[bytes]:
            while (item := chunks.get()) is not None:
                yield item

        try:
            result["session"] = jobs.upload_chunk(None, actor, upload_id, upload_offset, gen())
        except Exception as exc:
            result["error"] = exc
            while chunks.get() is not None:  # drain so the producer never blocks
                pass

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    received = 0
    try:
        async for piece in request.stream():
            if "error" in result:
                break  # refused (offset, size): stop reading the body
            received += len(piece)
            if received > remaining:
                # Stop reading here; the consumer sees the same overflow and deletes the upload.
                await run_in_threadpool(chunks.put, piece[: remaining - received + len(piece) + 1])
                break
            if piece:
                await run_in_threadpool(chunks.put, piece)
    finally:
        await run_in_threadpool(chunks.put, None)
        await run_in_threadpool(worker.join)
    if "error" in result:
        raise result["error"]
    return _upload_out(result["session"])


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise Invalid("Content-Length", "Content-Length inválido.")
    return int(raw)


@router.get("/uploads/{upload_id}/preview", response_model=PreviewOut)
def preview(
    upload_id: Str120,
    actor: TenantActor,
    db: TenantDB,
    sheet: Str200 | None = None,
    header_row: Annotated[NonNegInt32 | None, Query(ge=1)] = None,
) -> PreviewOut:
    """Headers, first rows, sheets and the suggested {column: field} mapping."""
    p = jobs.preview_upload(db, actor, upload_id, sheet, header_row)
    return PreviewOut.model_validate(p, from_attributes=True)


# ----------------------------------------------------------------------------------------- imports


# Room for the multipart envelope (boundaries, part headers, the option fields) around the file.
MULTIPART_OVERHEAD = 1024 * 1024


async def _form_to_import(request: Request, actor: Actor) -> tuple[str, jobs.ImportOptions]:
    # Cap and quota are checked on the declared length before a byte of the body is read.
    length = _content_length(request)
    if length is None:
        raise LengthRequired("Envie o arquivo com Content-Length (ou use o envio em partes).")

    def check() -> None:
        with session(_schema(actor)) as db:
            jobs.check_upload_size(db, actor, max(length - MULTIPART_OVERHEAD, 0))

    await run_in_threadpool(check)
    form = await request.form(max_part_size=64 * 1024 * 1024)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Invalid("file", "Envie o arquivo no campo “file”.")

    def store() -> str:
        with session(_schema(actor)) as db:
            session_ = jobs.start_upload(db, actor, upload.filename or "arquivo.csv", upload.size or 0)

        def chunks() -> Iterator[bytes]:
            upload.file.seek(0)
            while piece := upload.file.read(1024 * 1024):
                yield piece

        jobs.upload_chunk(None, actor, session_.upload_id, 0, chunks())
        return session_.upload_id

    upload_id = await run_in_threadpool(store)
    raw_mapping = form.get("mapping")
    try:
        mapping = json.loads(str(raw_mapping)) if raw_mapping else None
    except ValueError as exc:
        raise Invalid("mapping", "Mapeamento inválido: envie um JSON {coluna: campo}.") from exc
    header_row = form.get("header_row")
    opts = jobs.ImportOptions(
        source=str(form.get("source") or "") or None,
        mapping=mapping,
        dedupe=str(form.get("dedupe") or "keep-first"),
        default_ddd=str(form.get("default_ddd") or "") or None,
        sheet=str(form.get("sheet") or "") or None,
        header_row=int(str(header_row)) if header_row and str(header_row).isdigit() else None,
    )
    return upload_id, opts


@router.post("", response_model=ImportCreated, status_code=201)
async def create_import(request: Request, actor: TenantActor) -> ImportCreated:
    """Creates an import from a multipart file or from a finished chunked upload, and queues it."""
    multipart = request.headers.get("content-type", "").startswith("multipart/form-data")
    if multipart:
        upload_id, opts = await _form_to_import(request, actor)
    else:
        try:
            body = ImportIn.model_validate(await request.json())
        except ValueError as exc:
            raise Invalid("body", "Envie o arquivo (multipart) ou um upload_id com as opções.") from exc
        upload_id = body.upload_id
        opts = jobs.ImportOptions(
            source=body.source,
            mapping=body.mapping,
            dedupe=body.dedupe,
            default_ddd=body.default_ddd,
            sheet=body.sheet,
            header_row=body.header_row,
        )
    assert actor.schema is not None

    def create() -> int:
        with session(_schema(actor)) as db:
            job = jobs.create_import(db, actor, opts, upload_id=upload_id)
            assert job.id is not None
            enqueue_after_commit(db, run_import, _schema(actor), job.id)  # a worker must find the row
            db.commit()
            return job.id

    try:
        import_id = await run_in_threadpool(create)
    except Exception:
        if multipart:  # the file came with this request: a rejected one leaves nothing behind
            await run_in_threadpool(jobs.discard_upload, None, actor, upload_id)
        raise
    return ImportCreated(id=import_id)


@router.get("", response_model=list[ImportStatus])
def list_imports(actor: TenantActor, db: TenantDB, source: Str200 | None = None) -> list[ImportStatus]:
    return [jobs.import_status(j) for j in jobs.list_imports(db, actor, source)]


@router.get("/presets", response_model=list[PresetOut])
def list_presets(actor: TenantActor, db: TenantDB, source: Str200 | None = None) -> list[PresetOut]:
    return [
        PresetOut(id=p.id or 0, name=p.name, source=p.source, mapping=dict(p.mapping))
        for p in jobs.list_presets(db, actor, source)
    ]


@router.post("/presets", response_model=PresetOut, status_code=201)
def save_preset(body: PresetIn, actor: TenantActor, db: TenantDB) -> PresetOut:
    p = jobs.save_preset(db, actor, body.name, body.mapping, body.source)
    return PresetOut(id=p.id or 0, name=p.name, source=p.source, mapping=dict(p.mapping))


@router.delete("/presets/{preset_id:int}", status_code=204, response_model=None)
def delete_preset(preset_id: Id, actor: TenantActor, db: TenantDB) -> None:
    jobs.delete_preset(db, actor, preset_id)


@router.get("/{import_id:int}/status", response_model=ImportStatus)
def import_status(import_id: Id, actor: TenantActor, db: TenantDB) -> ImportStatus:
    """State, progress (rows read, rate, ETA) and the report fields."""
    return jobs.get_import_status(db, actor, import_id)


@router.post("/{import_id:int}/cancel", response_model=ImportStatus)
def cancel_import(import_id: Id, actor: TenantActor, db: TenantDB) -> ImportStatus:
    return jobs.import_status(jobs.cancel(db, actor, import_id))


@router.post("/{import_id:int}/resume", response_model=ImportCreated)
async def resume_import(import_id: Id, actor: TenantActor) -> ImportCreated:
    """Re-queues a failed import: it resumes from its last committed batch."""
    assert actor.schema is not None

    def reset() -> None:
        with session(_schema(actor)) as db:
            jobs.mark_for_resume(db, actor, import_id)
            enqueue_after_commit(db, run_import, _schema(actor), import_id)
            db.commit()

    await run_in_threadpool(reset)
    return ImportCreated(id=import_id)


@router.get(
    "/{import_id:int}/errors.csv",
    response_class=StreamingResponse,
    response_model=None,
    responses={200: {"content": {"text/csv": {}}, "description": "Linhas rejeitadas (CSV)"}},
)
def error_rows(import_id: Id, actor: TenantActor, db: TenantDB, warnings: bool = False) -> StreamingResponse:
    """Every rejected row (line, reason in pt-BR, original cells) as CSV."""
    jobs.get_import_status(db, actor, import_id)  # 404 / 403 before streaming
    assert actor.schema is not None
    schema = actor.schema

    async def body() -> AsyncIterator[bytes]:
        # Its own session: the route's session is closed once the response starts.
        with session(schema) as sdb:
            for piece in jobs.error_rows_csv(sdb, actor, import_id, include_warnings=warnings):
                yield piece.encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="importacao-{import_id}-erros.csv"'},
    )


@router.get(
    "/{import_id:int}/duplicates.csv",
    response_class=StreamingResponse,
    response_model=None,
    responses={200: {"content": {"text/csv": {}}, "description": "Duplicadas e conflitos (CSV)"}},
)
def dedupe_rows(import_id: Id, actor: TenantActor, db: TenantDB) -> StreamingResponse:
    """Rows folded into an earlier row or an existing customer, and conflicts (line, what happened,
    the line/customer it met, why, original cells) as CSV."""
    jobs.get_import_status(db, actor, import_id)  # 404 / 403 before streaming
    assert actor.schema is not None
    schema = actor.schema

    async def body() -> AsyncIterator[bytes]:
        with session(schema) as sdb:
            for piece in jobs.dedupe_rows_csv(sdb, actor, import_id):
                yield piece.encode("utf-8")

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="importacao-{import_id}-duplicadas.csv"'},
    )
