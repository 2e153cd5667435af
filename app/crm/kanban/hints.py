"""Next-step hints on Kanban cards: ordered rules over a card's facts; the first that matches wins.

Every rule lives here so other features (the AI assistant) can add theirs to RULES in one place.
Thresholds are product decisions, kept as named constants next to the rule that uses them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.formatting import money_br
from app.text import fold

NO_CONTACT_DAYS = 7
PROPOSAL_DAYS = 3
UNOWNED_VALUE = Decimal(10_000)


@dataclass(frozen=True)
class CardFacts:
    stage_name: str
    outcome: str | None
    value: Decimal
    owner_id: int | None
    days_in_stage: int
    days_since_contact: int | None  # None: never contacted
    next_appointment_at: datetime | None  # the earliest appointment not done, overdue or not
    now: datetime


Rule = Callable[[CardFacts], str | None]


def overdue_appointment(f: CardFacts) -> str | None:
    if f.next_appointment_at is not None and f.next_appointment_at < f.now:
        return "agendamento vencido: reagendar ou concluir"
    return None


def big_without_owner(f: CardFacts) -> str | None:
    if f.owner_id is None and f.value > UNOWNED_VALUE:
        return f"valor acima de {money_br(UNOWNED_VALUE)} sem responsável: atribuir"
    return None


def proposal_waiting(f: CardFacts) -> str | None:
    if "proposta" in fold(f.stage_name) and f.days_in_stage >= PROPOSAL_DAYS:
        return f"proposta enviada há {f.days_in_stage} dias: ligar"
    return None


def no_contact(f: CardFacts) -> str | None:
    days = f.days_since_contact if f.days_since_contact is not None else f.days_in_stage
    if days >= NO_CONTACT_DAYS:
        return f"sem contato há {days} dias: enviar follow-up"
    return None


RULES: list[Rule] = [overdue_appointment, big_without_owner, proposal_waiting, no_contact]


def next_step(facts: CardFacts) -> str | None:
    """The hint of the first matching rule; closed cards (won/lost) get none."""
    if facts.outcome is not None:
        return None
    for rule in RULES:
        hint = rule(facts)
        if hint:
            return hint
    return None
