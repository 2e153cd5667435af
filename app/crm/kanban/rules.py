"""What a stage may demand of a card entering it: required fields, the WIP limit, a loss reason."""

from sqlalchemy import func
from sqlmodel import Session, select

from app.errors import Conflict, Invalid
from models.tenant import Opportunity, Stage

OUTCOMES = ("won", "lost")
# Card fields a stage may require, with the pt-BR label the required-fields modal shows.
REQUIRABLE = {
    "value": "Valor",
    "expected_close": "Previsão de fechamento",
    "owner_id": "Responsável",
    "loss_reason": "Motivo da perda",
}


def required_for(stage: Stage) -> list[str]:
    """The stage's required fields; a lost stage always requires a loss reason."""
    fields = [f for f in stage.required_fields if f in REQUIRABLE]
    if stage.outcome == "lost" and "loss_reason" not in fields:
        fields.append("loss_reason")
    return fields


def _filled(card: Opportunity, field: str) -> bool:
    value = getattr(card, field)
    if field == "value":
        return value is not None and value > 0
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def check_required(card: Opportunity, stage: Stage) -> None:
    """Invalid (422) naming every required field the card still lacks for `stage`."""
    missing = {
        field: f"{REQUIRABLE[field]} é obrigatório para entrar em «{stage.name}»."
        for field in required_for(stage)
        if not _filled(card, field)
    }
    if missing:
        raise Invalid(missing)


def check_wip(db: Session, stage: Stage) -> None:
    """Conflict (409) when the stage already holds its WIP limit of cards.

    Counts at most `wip_limit` rows, so a limit check costs the same in a column of 10,000.
    """
    if stage.wip_limit is None:
        return
    held = select(Opportunity.id).where(Opportunity.stage_id == stage.id).limit(stage.wip_limit).subquery()
    count = db.exec(select(func.count()).select_from(held)).one()
    if int(count) >= stage.wip_limit:
        raise Conflict(
            f"A etapa «{stage.name}» atingiu o limite de {stage.wip_limit} cartões em andamento.",
            field="stage_id",
        )


def validate_settings(
    name: str, color: str, wip_limit: int | None, outcome: str | None, required: list[str]
) -> None:
    """Invalid for a stage configuration a board could not honour."""
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Informe o nome da etapa."
    if not color.strip():
        errors["color"] = "Informe a cor da etapa."
    if wip_limit is not None and wip_limit < 1:
        errors["wip_limit"] = "O limite deve ser de pelo menos 1 cartão."
    if outcome is not None and outcome not in OUTCOMES:
        errors["outcome"] = "Resultado deve ser aberto, ganho ou perdido."
    unknown = [f for f in required if f not in REQUIRABLE]
    if unknown:
        errors["required_fields"] = f"Campos desconhecidos: {', '.join(unknown)}."
    if errors:
        raise Invalid(errors)
