"""The SearchBackend protocol every customer search implementation follows."""

from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel
from sqlmodel import Session

from app.auth.actor import Actor
from app.errors import DomainError


class SearchHit(BaseModel):
    id: int
    name: str
    document: str | None
    status: str
    plan: str | None
    owner_id: int | None
    updated_at: datetime
    rank: float
    matched: str  # nome | documento | telefone | email


class SearchBackend(Protocol):
    name: str

    def search(self, db: Session, actor: Actor, text: str, *, limit: int = 20) -> list[SearchHit]:
        """Relevance-ranked customers the actor may see; the tenant comes from `db`/`actor`, never input."""
        ...

    def index_customers(self, db: Session, schema: str, ids: list[int]) -> int:
        """Bring these customers' documents up to date (deleted ones are removed); returns count."""
        ...

    def reindex_all(self, db: Session, schema: str, batch: int = 5000) -> int:
        """Rebuild the tenant's whole index; returns count."""
        ...


class SearchUnavailable(DomainError):
    """The configured search engine cannot answer (misconfigured or failing); users read pt-BR,
    logs carry the English cause. Raised only where falling back to PostgreSQL would hide a fault."""

    code = "search_unavailable"
    status = 503

    def __init__(
        self,
        message_pt: str = "A busca está indisponível no momento. Tente novamente em instantes "
        "ou avise o administrador.",
        **details: Any,
    ) -> None:
        super().__init__(message_pt, **details)
