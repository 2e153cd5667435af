"""/api/clientes/{id}/consentimentos (the consent ledger), /dados (LGPD access) and /anonimizar (LGPD
erasure): thin calls into `app.messaging.consent` and `app.crm.privacy`."""

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import TenantActor, TenantDB
from app.auth.permissions import Perm
from app.crm import privacy
from app.crm.contacts import list_contacts
from app.crm.visibility import get_visible_customer
from app.errors import Invalid
from app.messaging import consent
from app.validation import Id, Str320

router = APIRouter(prefix="/api", tags=["lgpd"])


class ConsentIn(BaseModel):
    medium: Literal["whatsapp", "email"]
    address: Str320
    status: Literal["opt_in", "opt_out"]
    legal_basis: Literal["consent", "legitimate_interest", "contract", "legal_obligation"] = "consent"
    note: Str320 | None = None


class CustomerDataOut(BaseModel):
    """Everything held about one customer (LGPD access request); sections in Portuguese."""

    gerado_em: str
    cliente: dict[str, Any]
    contatos: list[dict[str, Any]]
    etiquetas: list[str]
    anotacoes: list[dict[str, Any]]
    agendamentos: list[dict[str, Any]]
    oportunidades: list[dict[str, Any]]
    historico_de_etapas: list[dict[str, Any]]
    conversas: list[dict[str, Any]]
    mensagens: list[dict[str, Any]]
    linha_do_tempo: list[dict[str, Any]]
    consentimentos: list[dict[str, Any]]


class AnonymisedOut(BaseModel):
    id: int
    anonymised: bool


@router.get("/clientes/{customer_id:int}/consentimentos", response_model=list[consent.ConsentRow])
def list_consents(customer_id: Id, actor: TenantActor, db: TenantDB) -> list[consent.ConsentRow]:
    return consent.list_for_customer(db, actor, customer_id)


@router.post("/clientes/{customer_id:int}/consentimentos", response_model=consent.ConsentRow, status_code=201)
def add_consent(customer_id: Id, body: ConsentIn, actor: TenantActor, db: TenantDB) -> consent.ConsentRow:
    """An agent records consent given or withdrawn (by phone, in person) for one of the customer's
    addresses, with its legal basis."""
    actor.require(Perm.CUSTOMERS_WRITE)
    get_visible_customer(db, actor, customer_id)
    address = consent.normalise_address(body.medium, body.address)
    carried = {r.address for r in consent.list_for_customer(db, actor, customer_id)}
    carried |= {c.value for c in list_contacts(db, actor, customer_id)}
    if address not in carried:
        raise Invalid("address", "Este endereço não pertence ao cliente.")
    consent.record(
        db,
        medium=body.medium,
        address=address,
        status=body.status,
        source="agent",
        legal_basis=body.legal_basis,
        customer_id=customer_id,
        evidence={"note": body.note} if body.note else {},
        actor=actor,
    )
    return consent.list_for_customer(db, actor, customer_id)[0]


@router.get("/clientes/{customer_id:int}/dados", response_model=CustomerDataOut)
def export_data(customer_id: Id, actor: TenantActor, db: TenantDB) -> CustomerDataOut:
    return CustomerDataOut.model_validate(privacy.export_customer_data(db, actor, customer_id))


@router.post("/clientes/{customer_id:int}/anonimizar", response_model=AnonymisedOut)
def anonymise(customer_id: Id, actor: TenantActor, db: TenantDB) -> AnonymisedOut:
    customer = privacy.anonymise_customer(db, actor, customer_id)
    return AnonymisedOut(id=customer.id or 0, anonymised=True)
