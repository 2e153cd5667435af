"""Svix signature verification (Resend webhooks), checked against the simulator's independent signer."""

import time
from collections.abc import Callable

import pytest

from app.messaging import svix
from tests.simulators.resend import new_webhook_secret, svix_sign

SECRET = new_webhook_secret()
BODY = b'{"type":"email.delivered","data":{"email_id":"4ef9a417"}}'


def _headers(msg_id: str = "msg_1", ts: int | None = None, sig: str | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(ts),
        "svix-signature": sig if sig is not None else svix_sign(SECRET, msg_id, ts, BODY),
    }


def test_a_good_signature_gives_the_event_id() -> None:
    assert svix.verify(SECRET, _headers(), BODY) == "msg_1"
    now = int(time.time())
    assert svix.sign(SECRET, "msg_1", now, BODY) == svix_sign(SECRET, "msg_1", now, BODY)


def test_any_of_several_signatures_may_match() -> None:
    now = int(time.time())
    good = svix_sign(SECRET, "msg_1", now, BODY)
    other = svix_sign(new_webhook_secret(), "msg_1", now, BODY)
    assert svix.verify(SECRET, _headers(ts=now, sig=f"{other} v2,abc {good}"), BODY) == "msg_1"


# Built when the test runs, not when it is collected: a whole suite takes longer than the tolerance, and
# a timestamp computed at collection would have aged into (or out of) it by then.
CASES: dict[str, tuple[Callable[[], dict[str, str]], bytes, str | None]] = {
    "no headers": (lambda: {}, BODY, "missing"),
    "bad signature": (lambda: _headers(sig="v1,AAAA"), BODY, "no matching"),
    "body altered": (lambda: _headers(), BODY + b" ", "no matching"),
    "good": (lambda: _headers(msg_id="msg_1"), BODY, None),
    "too old": (lambda: _headers(ts=int(time.time()) - svix.TOLERANCE - 5), BODY, "too old"),
    "future": (lambda: _headers(ts=int(time.time()) + svix.TOLERANCE + 5), BODY, "future"),
    "timestamp not a number": (lambda: {**_headers(), "svix-timestamp": "ontem"}, BODY, "not a number"),
    "id is signed": (lambda: {**_headers(), "svix-id": "msg_2"}, BODY, "no matching"),
    "other scheme": (
        lambda: {**_headers(), "svix-signature": "v2," + _headers()["svix-signature"][3:]},
        BODY,
        "no matching",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_what_is_refused(case: str) -> None:
    make_headers, body, reason = CASES[case]
    headers = make_headers()
    if reason is None:
        assert svix.verify(SECRET, headers, body)
        return
    with pytest.raises(svix.BadSignature, match=reason):
        svix.verify(SECRET, headers, body)


def test_a_missing_or_broken_secret_refuses_everything() -> None:
    with pytest.raises(svix.BadSignature, match="no webhook secret"):
        svix.verify("", _headers(), BODY)
    with pytest.raises(svix.BadSignature, match="not a whsec_"):
        svix.verify("whsec_***", _headers(), BODY)
