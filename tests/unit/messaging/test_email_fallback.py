"""The SMTP fallback rule: when an e-mail leaves through the tenant's SMTP channel instead of Resend."""

from datetime import UTC, datetime

import pytest

from app.messaging.email_fallback import fallback_for, resend_gave_up
from app.messaging.protocol import Outcome, SendResult
from models.tenant.messaging import Channel


def _channel(id_: int, kind: str, **over: object) -> Channel:
    medium = "email" if kind in ("smtp", "resend", "sandbox_email") else "whatsapp"
    values: dict[str, object] = {"id": id_, "kind": kind, "medium": medium, "name": f"{kind} {id_}"}
    values.update(over)
    return Channel(**values)


RESEND = _channel(1, "resend", is_default=True)
SMTP = _channel(2, "smtp")
SMTP_DEFAULT_LATER = _channel(5, "smtp", owner_user_id=None)
WPP = _channel(3, "wppconnect")
ALL = [RESEND, SMTP, WPP]


@pytest.mark.parametrize(
    ("result", "falls_back"),
    [
        (SendResult(Outcome.AUTH, error_code="403"), True),
        (SendResult(Outcome.RETRY, error_code="500"), True),
        (SendResult(Outcome.RETRY, error_code="503"), True),
        (SendResult(Outcome.RETRY, error_code="429", retry_after=2), False),
        (SendResult(Outcome.RETRY, error_code="network"), False),
        (SendResult(Outcome.FAILED, error_code="422"), False),
        (SendResult(Outcome.UNCERTAIN, error_code="network"), False),
        (SendResult(Outcome.SENT, provider_message_id="x"), False),
    ],
)
def test_resend_results_that_hand_over_to_smtp(result: SendResult, falls_back: bool) -> None:
    assert resend_gave_up(result) is falls_back
    assert (fallback_for(RESEND, ALL, result) is SMTP) is falls_back


def test_no_resend_channel_or_a_broken_one_goes_to_smtp_before_trying() -> None:
    assert fallback_for(None, ALL) is SMTP
    assert fallback_for(_channel(1, "resend", status="error"), ALL) is SMTP
    assert fallback_for(_channel(1, "resend", deleted_at=datetime.now(UTC)), ALL) is SMTP
    assert fallback_for(RESEND, ALL) is None  # a healthy Resend is tried first


def test_nothing_to_fall_back_to() -> None:
    assert fallback_for(RESEND, [RESEND, WPP], SendResult(Outcome.AUTH)) is None
    assert fallback_for(None, [WPP]) is None
    gone = _channel(2, "smtp", deleted_at=datetime.now(UTC))
    paused = _channel(4, "smtp", status="paused")
    assert fallback_for(None, [RESEND, gone, paused]) is None
    # SMTP itself and the sandbox keep their own answers.
    assert fallback_for(SMTP, ALL, SendResult(Outcome.AUTH)) is None
    assert fallback_for(_channel(6, "sandbox_email"), ALL, SendResult(Outcome.AUTH)) is None


def test_the_default_smtp_channel_wins_then_the_organisations_oldest() -> None:
    agent_own = _channel(2, "smtp", owner_user_id=42)
    org = _channel(7, "smtp")
    default = _channel(9, "smtp", is_default=True)
    assert fallback_for(None, [agent_own, org]) is org
    assert fallback_for(None, [agent_own, org, default]) is default
    assert fallback_for(None, [SMTP_DEFAULT_LATER, org]) is SMTP_DEFAULT_LATER
