"""Customers' vocabulary and the pydantic models they travel in (REST, pages, segments, jobs)."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, field_validator

from app.crm import timeline
from app.crm.contacts import ContactIn
from app.validation import Day, Id, Int, Int32, Int64, NotBool, Str20, Str60, Str120, Str200, Str300, Str1000

STATUSES = {
    "ativo": "Ativo",
    "prospecto": "Prospecto",
    "inadimplente": "Inadimplente",
    "suspenso": "Suspenso",
    "cancelado": "Cancelado",
    "inativo": "Inativo",
}
BULK_ACTIONS = {
    "add_tag": "Adicionar etiqueta",
    "remove_tag": "Remover etiqueta",
    "assign_owner": "Atribuir responsável",
    "set_status": "Alterar status",
    "set_wallet": "Mover para carteira",
}
# A custom field's value in a filter: flat, so a filter cannot nest (a 2,000-deep JSON is a 422).
CustomValue = bool | Int64 | FiniteFloat | Str1000


class CustomRange(BaseModel):
    """A range filter on a number/date custom field: {"min": a, "max": b}, either end optional."""

    model_config = ConfigDict(extra="forbid")

    min: CustomValue | None = None
    max: CustomValue | None = None


class CustomerFilter(BaseModel):
    """Every filter of the customers list; also what a segment stores."""

    text: Str200 | None = None
    status: list[Str60] = Field(default=[], max_length=50)
    plan: list[Str120] = Field(default=[], max_length=200)
    wallet_id: list[Id] = Field(default=[], max_length=1000)
    owner_id: list[Id] = Field(default=[], max_length=1000)
    tags: list[Str60] = Field(default=[], max_length=200)  # any of these
    # {key: value} equality, or {key: {"min": a, "max": b}} range for number/date fields.
    custom: dict[Str60, CustomValue | CustomRange] = Field(default={}, max_length=100)
    created_from: Day | None = None
    created_to: Day | None = None
    updated_from: Day | None = None
    updated_to: Day | None = None
    score_min: Int32 | None = None
    score_max: Int32 | None = None
    segment_id: Id | None = None


class CustomerQuery(CustomerFilter):
    # "-updated_at" = newest first; "relevance" ranks by the search backend (needs text).
    sort: Str20 = "-updated_at"
    cursor: Str1000 | None = None
    limit: Int = Field(default=50, ge=1, le=200)


class CustomerRow(BaseModel):
    id: int
    name: str
    trade_name: str | None
    document: str | None
    kind: str
    status: str
    plan: str | None
    wallet_id: int | None
    owner_id: int | None
    score: int
    tags: list[str]
    custom: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    # The primary phone (else WhatsApp, else the oldest), E.164; screens format it with formatting.phone_br.
    phone: str | None = None


class CustomerDetail(BaseModel):
    customer: CustomerRow
    contacts: list[dict[str, Any]]
    custom_fields: list[dict[str, Any]]
    wallet: dict[str, Any] | None
    last_interactions: list[timeline.TimelineItem]
    timeline_cursor: str | None


class CustomerIn(BaseModel):
    name: Str300
    trade_name: Str300 | None = None
    document: Str20 | None = None
    status: Str60 = "ativo"
    plan: Str120 | None = None
    wallet_id: Id | None = None
    owner_id: Id | None = None
    score: Int = Field(default=0, ge=0, le=1000)
    tags: list[Str60] = Field(default=[], max_length=200)
    custom: dict[Str60, Any] = Field(default={}, max_length=200)
    contacts: list[ContactIn] = Field(default=[], max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return v.strip()


class CustomerUpdate(BaseModel):
    name: Str300 | None = None
    trade_name: Str300 | None = None
    document: Str20 | None = None
    status: Str60 | None = None
    plan: Str120 | None = None
    wallet_id: Id | None = None
    owner_id: Id | None = None
    score: Annotated[int, Field(ge=0, le=1000), NotBool] | None = None
    tags: list[Str60] | None = Field(default=None, max_length=200)
    # Merged into the stored values; a key set to null clears that field.
    custom: dict[Str60, Any] | None = Field(default=None, max_length=200)


class BulkRequest(BaseModel):
    action: Str20
    value: Str120 | Int64
    ids: list[Id] | None = Field(default=None, max_length=100_000)
    filter: CustomerFilter | None = None
