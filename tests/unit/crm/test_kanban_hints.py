"""Next-step hint rules: order of precedence and thresholds."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.crm.kanban.hints import CardFacts, next_step

NOW = datetime(2030, 5, 10, 12, tzinfo=UTC)


def facts(**changes: object) -> CardFacts:
    base = {
        "stage_name": "Lead",
        "outcome": None,
        "value": Decimal(100),
        "owner_id": 1,
        "days_in_stage": 0,
        "days_since_contact": 0,
        "next_appointment_at": None,
        "now": NOW,
    }
    base.update(changes)
    return CardFacts(**base)  # type: ignore[arg-type]


def test_no_hint_for_a_fresh_card() -> None:
    assert next_step(facts()) is None


def test_rules() -> None:
    assert next_step(facts(days_since_contact=7)) == "sem contato há 7 dias: enviar follow-up"
    assert (
        next_step(facts(days_since_contact=None, days_in_stage=9))
        == "sem contato há 9 dias: enviar follow-up"
    )
    assert (
        next_step(facts(stage_name="Proposta enviada", days_in_stage=3))
        == "proposta enviada há 3 dias: ligar"
    )
    assert next_step(facts(owner_id=None, value=Decimal("10000.01"))) == (
        "valor acima de R$ 10.000,00 sem responsável: atribuir"
    )
    overdue = facts(next_appointment_at=NOW - timedelta(hours=1), days_since_contact=30)
    assert next_step(overdue) == "agendamento vencido: reagendar ou concluir"
    assert next_step(facts(next_appointment_at=NOW + timedelta(hours=1))) is None


def test_closed_cards_get_no_hint() -> None:
    assert next_step(facts(outcome="won", days_since_contact=30)) is None
