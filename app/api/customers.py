"""/api/clientes: list (search, filters, keyset cursor), create, profile, update, delete, timeline,
contacts and opt-out, notes, bulk actions with progress, CSV export, ranked search."""

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, StrictBool

from app.after_commit import enqueue_after_commit
from app.api.deps import TenantActor, TenantDB, TenantReadDB
from app.auth.actor import Actor
from app.crm import contacts, customers, notes, timeline
from app.crm.customers import (
    BulkRequest,
    CustomerDetail,
    CustomerFilter,
    CustomerIn,
    CustomerQuery,
    CustomerRow,
    CustomerUpdate,
)
from app.errors import Invalid
from app.search import SearchHit, get_backend
from app.validation import Day, Id, Int32, Str20, Str30, Str60, Str120, Str200, Str1000, Str5000
from models.tenant import BulkJob, Contact, Note
from tasks.crm import run_bulk
from tenants.database import session

router = APIRouter(prefix="/api", tags=["clientes"])


class CustomerPage(BaseModel):
    items: list[CustomerRow]
    next_cursor: str | None


class TimelinePage(BaseModel):
    items: list[timeline.TimelineItem]
    next_cursor: str | None


class CountOut(BaseModel):
    count: int
    capped: bool  # True: at least `count` (counting stops at a cap)


class OptOutBody(BaseModel):
    opt_out: StrictBool = True
    reason: Str200 | None = None


class ExportBody(BaseModel):
    filter: CustomerFilter = CustomerFilter()
    ids: list[Id] | None = Field(default=None, max_length=100_000)


def _filter_params(
    q: str | None,
    status: list[str] | None,
    plan: list[str] | None,
    wallet_id: list[int] | None,
    owner_id: list[int] | None,
    tag: list[str] | None,
    custom: str | None,
    created_from: Day | None,
    created_to: Day | None,
    updated_from: Day | None,
    updated_to: Day | None,
    score_min: int | None,
    score_max: int | None,
    segment_id: Id | None,
) -> dict[str, Any]:
    try:
        custom_filter = json.loads(custom) if custom else {}
        if not isinstance(custom_filter, dict):
            raise ValueError
    except (ValueError, RecursionError):
        raise Invalid("custom", 'Use JSON, por exemplo {"porte": "M"}.') from None
    return {
        "text": q,
        "status": status or [],
        "plan": plan or [],
        "wallet_id": wallet_id or [],
        "owner_id": owner_id or [],
        "tags": tag or [],
        "custom": custom_filter,
        "created_from": created_from,
        "created_to": created_to,
        "updated_from": updated_from,
        "updated_to": updated_to,
        "score_min": score_min,
        "score_max": score_max,
        "segment_id": segment_id,
    }


@router.get("/clientes", response_model=CustomerPage, summary="Lista clientes (busca, filtros, cursor)")
def list_customers(
    actor: TenantActor,
    db: TenantReadDB,
    q: Annotated[
        Str200 | None, Query(description="Nome, documento, telefone em qualquer formato ou e-mail")
    ] = None,
    status: Annotated[list[Str60] | None, Query(max_length=50)] = None,
    plan: Annotated[list[Str120] | None, Query(max_length=200)] = None,
    wallet_id: Annotated[list[Id] | None, Query(max_length=1000)] = None,
    owner_id: Annotated[list[Id] | None, Query(max_length=1000)] = None,
    tag: Annotated[
        list[Str60] | None, Query(max_length=200, description="Qualquer uma das etiquetas")
    ] = None,
    custom: Annotated[
        Str5000 | None,
        Query(
            description='Campos personalizados em JSON: {"chave": valor} ou {"chave": {"min": a, "max": b}}'
        ),
    ] = None,
    created_from: Day | None = None,
    created_to: Day | None = None,
    updated_from: Day | None = None,
    updated_to: Day | None = None,
    score_min: Int32 | None = None,
    score_max: Int32 | None = None,
    segment_id: Id | None = None,
    sort: Annotated[
        Str20,
        Query(
            description="name, created_at, updated_at, score, status, id; '-' = "
            "decrescente; relevance (com q)"
        ),
    ] = "-updated_at",
    cursor: Str1000 | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomerPage:
    query = CustomerQuery(
        **_filter_params(
            q,
            status,
            plan,
            wallet_id,
            owner_id,
            tag,
            custom,
            created_from,
            created_to,
            updated_from,
            updated_to,
            score_min,
            score_max,
            segment_id,
        ),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    page = customers.list_customers(db, actor, query)
    return CustomerPage(items=page.rows, next_cursor=page.next_cursor)


@router.get("/clientes/busca", response_model=list[SearchHit], summary="Busca com relevância")
def search_customers(
    actor: TenantActor, db: TenantReadDB, q: Str200, limit: Annotated[int, Query(ge=1, le=50)] = 20
) -> list[SearchHit]:
    return get_backend().search(db, actor, q, limit=limit)


@router.post(
    "/clientes/contagem", response_model=CountOut, summary="Conta os clientes de um filtro (limitado)"
)
def count_customers(body: CustomerFilter, actor: TenantActor, db: TenantDB) -> dict[str, Any]:
    return customers.count_customers(db, actor, body)


@router.post("/clientes", response_model=CustomerRow, status_code=201, summary="Cria cliente")
def create_customer(body: CustomerIn, actor: TenantActor, db: TenantDB) -> CustomerRow:
    customer = customers.create_customer(db, actor, body)
    return customers.customer_row(db, customer)


@router.get("/clientes/{customer_id:int}", response_model=CustomerDetail, summary="Perfil do cliente")
def get_customer(customer_id: Id, actor: TenantActor, db: TenantDB) -> CustomerDetail:
    return customers.get_customer(db, actor, customer_id)


@router.put("/clientes/{customer_id:int}", response_model=CustomerRow, summary="Altera cliente")
def update_customer(customer_id: Id, body: CustomerUpdate, actor: TenantActor, db: TenantDB) -> CustomerRow:
    customer = customers.update_customer(db, actor, customer_id, body)
    return customers.customer_row(db, customer)


@router.delete(
    "/clientes/{customer_id:int}", status_code=204, response_model=None, summary="Exclui cliente (lógica)"
)
def delete_customer(customer_id: Id, actor: TenantActor, db: TenantDB) -> Response:
    customers.delete_customer(db, actor, customer_id)
    return Response(status_code=204)


@router.get("/clientes/{customer_id:int}/timeline", response_model=TimelinePage, summary="Linha do tempo")
def get_timeline(
    customer_id: Id,
    actor: TenantActor,
    db: TenantDB,
    kind: Annotated[list[Str30] | None, Query(max_length=50)] = None,
    cursor: Str1000 | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TimelinePage:
    page = timeline.list_timeline(db, actor, customer_id, kinds=kind, cursor=cursor, limit=limit)
    return TimelinePage(items=page.rows, next_cursor=page.next_cursor)


@router.get("/clientes/{customer_id:int}/contatos", response_model=list[Contact], tags=["contatos"])
def list_contacts(customer_id: Id, actor: TenantActor, db: TenantDB) -> list[Contact]:
    return contacts.list_contacts(db, actor, customer_id)


@router.post(
    "/clientes/{customer_id:int}/contatos", response_model=Contact, status_code=201, tags=["contatos"]
)
def add_contact(customer_id: Id, body: contacts.ContactIn, actor: TenantActor, db: TenantDB) -> Contact:
    return contacts.add_contact(db, actor, customer_id, body)


@router.put("/contatos/{contact_id:int}", response_model=Contact, tags=["contatos"])
def update_contact(contact_id: Id, body: contacts.ContactUpdate, actor: TenantActor, db: TenantDB) -> Contact:
    return contacts.update_contact(db, actor, contact_id, body)


@router.delete("/contatos/{contact_id:int}", status_code=204, response_model=None, tags=["contatos"])
def delete_contact(contact_id: Id, actor: TenantActor, db: TenantDB) -> Response:
    contacts.delete_contact(db, actor, contact_id)
    return Response(status_code=204)


@router.post("/contatos/{contact_id:int}/opt-out", response_model=Contact, tags=["contatos"])
def opt_out(contact_id: Id, body: OptOutBody, actor: TenantActor, db: TenantDB) -> Contact:
    return contacts.set_opt_out(db, actor, contact_id, opt_out=body.opt_out, reason=body.reason)


@router.get("/clientes/{customer_id:int}/notas", response_model=list[Note], tags=["notas"])
def list_notes(customer_id: Id, actor: TenantActor, db: TenantDB) -> list[Note]:
    return notes.list_notes(db, actor, customer_id)


@router.post("/clientes/{customer_id:int}/notas", response_model=Note, status_code=201, tags=["notas"])
def add_note(customer_id: Id, body: notes.NoteIn, actor: TenantActor, db: TenantDB) -> Note:
    return notes.add_note(db, actor, customer_id, body)


@router.put("/notas/{note_id:int}", response_model=Note, tags=["notas"])
def update_note(note_id: Id, body: notes.NoteIn, actor: TenantActor, db: TenantDB) -> Note:
    return notes.update_note(db, actor, note_id, body)


@router.delete("/notas/{note_id:int}", status_code=204, response_model=None, tags=["notas"])
def delete_note(note_id: Id, actor: TenantActor, db: TenantDB) -> Response:
    notes.delete_note(db, actor, note_id)
    return Response(status_code=204)


@router.post("/clientes/acoes-em-massa", response_model=BulkJob, status_code=202, summary="Ação em massa")
async def bulk(body: BulkRequest, actor: TenantActor, db: TenantDB) -> BulkJob:
    """Small selections run at once (state done); large ones are queued: poll GET .../{id} for progress."""
    job = customers.start_bulk(db, actor, body)
    if job.state == "queued":
        enqueue_after_commit(db, run_bulk, actor.schema or "", job.id or 0)
    db.commit()
    return job


@router.get(
    "/clientes/acoes-em-massa/{job_id:int}", response_model=BulkJob, summary="Progresso da ação em massa"
)
def bulk_progress(job_id: Id, actor: TenantActor, db: TenantDB) -> BulkJob:
    return customers.get_bulk_job(db, actor, job_id)


@router.post(
    "/clientes/exportar",
    summary="Exporta CSV do filtro ou da seleção",
    response_model=None,
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export(body: ExportBody, actor: TenantActor) -> StreamingResponse:
    return export_response(actor, body)


def export_response(actor: Actor, body: ExportBody) -> StreamingResponse:
    """The customers CSV, streamed: the REST export and the Clientes page's download both answer with it."""
    schema = actor.schema or ""
    # Validate and authorise before the first byte, so errors are proper 403/422 responses; the rows
    # are read once, by the stream.
    with session(schema) as db:
        customers.check_export(db, actor, body.filter, ids=body.ids)

    def stream() -> Iterator[bytes]:
        # The response outlives the request's session, so the stream opens its own.
        with session(schema) as db:
            yield "\ufeff".encode()  # BOM: Excel opens UTF-8 with accents correctly
            for chunk in customers.export_csv(db, actor, body.filter, ids=body.ids):
                yield chunk.encode()
            db.commit()  # the export's audit row

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="clientes.csv"'},
    )
