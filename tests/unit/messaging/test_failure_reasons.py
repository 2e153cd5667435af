"""What screens say about provider refusals: 131008 (required parameter missing) has its own reason,
distinct from a generic refusal and from the recipient's opt-out (131050)."""

from app.messaging import outbox
from app.messaging.failure_reasons import reason_pt
from app.messaging.protocol import Outcome, SendResult


def test_required_parameter_missing_has_its_own_reason() -> None:
    text = outbox._error_text(Outcome.FAILED, SendResult(Outcome.FAILED, error_code="131008"))
    assert text.startswith("Faltou um parâmetro obrigatório") and "131008" in text
    assert reason_pt("131050") != reason_pt("131008")


def test_other_codes_keep_the_generic_reason() -> None:
    generic = outbox._error_text(Outcome.FAILED, SendResult(Outcome.FAILED, error_code="sandbox-fail"))
    assert generic == "O provedor recusou a mensagem. (sandbox-fail)"
    # Only final refusals take a code's reason: an exhausted retry says so.
    retries = outbox._error_text("retries", SendResult(Outcome.RETRY, error_code="131008"))
    assert retries.startswith("Não foi possível enviar")
