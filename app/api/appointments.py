"""REST routes for the agenda and its appointments: thin calls into `app.crm.appointments`."""

from typing import Literal

from fastapi import APIRouter, Response

from app.api.deps import TenantActor, TenantDB
from app.crm import appointments
from app.validation import Day, Id
from models.tenant import Appointment

router = APIRouter(prefix="/api", tags=["agenda"])


@router.get("/agenda", response_model=list[appointments.AgendaItem])
def get_agenda(
    actor: TenantActor,
    db: TenantDB,
    day: Day,
    span: Literal["day", "week"] = "day",
    owner_id: Id | None = None,
) -> list[appointments.AgendaItem]:
    return appointments.agenda(db, actor, day, span=span, owner_id=owner_id)


@router.post("/agendamentos", response_model=Appointment, status_code=201)
def create_appointment(body: appointments.AppointmentIn, actor: TenantActor, db: TenantDB) -> Appointment:
    return appointments.create_appointment(db, actor, body)


@router.put("/agendamentos/{appointment_id:int}", response_model=Appointment)
def update_appointment(
    appointment_id: Id, body: appointments.AppointmentUpdate, actor: TenantActor, db: TenantDB
) -> Appointment:
    return appointments.update_appointment(db, actor, appointment_id, body)


@router.delete(
    "/agendamentos/{appointment_id:int}", status_code=204, response_model=None, response_class=Response
)
def delete_appointment(appointment_id: Id, actor: TenantActor, db: TenantDB) -> None:
    appointments.delete_appointment(db, actor, appointment_id)
