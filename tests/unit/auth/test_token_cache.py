"""The verified-token memory in app.auth.tokens skips only the signature check: it never outlives the
token, never survives a change of signing secret, and never accepts a token it did not verify."""

import time
from collections.abc import Iterator

import pytest

from app.auth import tokens
from app.errors import Unauthorized
from app.security import keys
from app.settings import get_settings


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SECRET_KEY", "first-secret-for-the-token-cache-tests")
    _forget_secrets()
    yield
    _forget_secrets()


def _forget_secrets() -> None:
    get_settings.cache_clear()
    keys.jwt_secret.cache_clear()
    tokens._VERIFIED.clear()


def _token(family: str = "f" * 32) -> str:
    token, _ = tokens.issue_access_token(user_id=7, tenant_id=3, role="agent", family=family)
    return token


def test_a_verified_token_is_read_from_memory_with_the_same_claims() -> None:
    token = _token()
    first = tokens.decode_access_token(token)
    assert len(tokens._VERIFIED) == 1
    assert tokens.decode_access_token(token) == first
    assert (first.user_id, first.tenant_id, first.family) == (7, 3, "f" * 32)


def test_an_expired_token_is_refused_even_when_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    token = _token()
    tokens.decode_access_token(token)
    later = time.time() + get_settings().access_token_minutes * 60 + 1
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    with pytest.raises(Unauthorized):
        tokens.decode_access_token(token)
    assert not tokens._VERIFIED


def test_a_new_signing_secret_verifies_again(monkeypatch: pytest.MonkeyPatch) -> None:
    token = _token()
    tokens.decode_access_token(token)
    monkeypatch.setenv("SECRET_KEY", "a-rotated-secret-that-signed-nothing-yet")
    get_settings.cache_clear()
    keys.jwt_secret.cache_clear()
    with pytest.raises(Unauthorized):
        tokens.decode_access_token(token)


def test_a_tampered_token_is_never_taken_from_memory() -> None:
    token = _token()
    tokens.decode_access_token(token)
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(Unauthorized):
        tokens.decode_access_token(forged)


def test_memory_is_bounded() -> None:
    for n in range(tokens._VERIFIED_MAX + 10):
        tokens.decode_access_token(_token(family=f"family-{n}"))
    assert len(tokens._VERIFIED) <= tokens._VERIFIED_MAX
