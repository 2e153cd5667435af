"""REST routes for scheduled messages: thin calls into `app.messaging.scheduling`.

`/api/agendamentos/{id}` already belongs to appointments (app/api/appointments.py), so the list of
everything upcoming and the cancel/edit of one scheduled message live under `/api/mensagens-agendadas`."""

from fastapi import APIRouter

import tasks.messaging  # noqa: F401  (registers the deliver task the outbox kicks after commit)
from app.api.deps import TenantActor, TenantDB
from app.messaging import scheduling
from app.validation import Id

router = APIRouter(prefix="/api", tags=["mensagens agendadas"])


@router.post(
    "/clientes/{customer_id:int}/agendamentos",
    response_model=scheduling.ScheduledOut,
    status_code=201,
    summary="Agendar mensagem (única, lembrete sem resposta ou recorrente) ao cliente",
)
def schedule(
    customer_id: Id, body: scheduling.ScheduleIn, actor: TenantActor, db: TenantDB
) -> scheduling.ScheduledOut:
    return scheduling.schedule(db, actor, customer_id, body)


@router.get("/clientes/{customer_id:int}/agendamentos", response_model=list[scheduling.ScheduledOut])
def list_for_customer(
    customer_id: Id, actor: TenantActor, db: TenantDB, pendentes: bool = False
) -> list[scheduling.ScheduledOut]:
    return scheduling.list_for_customer(db, actor, customer_id, upcoming=pendentes)


@router.get("/mensagens-agendadas", response_model=list[scheduling.ScheduledOut])
def list_upcoming(actor: TenantActor, db: TenantDB) -> list[scheduling.ScheduledOut]:
    return scheduling.list_upcoming(db, actor)


@router.get("/mensagens-agendadas/{scheduled_id:int}", response_model=scheduling.ScheduledOut)
def get_scheduled(scheduled_id: Id, actor: TenantActor, db: TenantDB) -> scheduling.ScheduledOut:
    return scheduling.get_scheduled(db, actor, scheduled_id)


@router.patch("/mensagens-agendadas/{scheduled_id:int}", response_model=scheduling.ScheduledOut)
def edit(
    scheduled_id: Id, body: scheduling.ScheduleUpdate, actor: TenantActor, db: TenantDB
) -> scheduling.ScheduledOut:
    return scheduling.edit(db, actor, scheduled_id, body)


@router.delete("/mensagens-agendadas/{scheduled_id:int}", response_model=scheduling.ScheduledOut)
def cancel(scheduled_id: Id, actor: TenantActor, db: TenantDB) -> scheduling.ScheduledOut:
    return scheduling.cancel(db, actor, scheduled_id)
