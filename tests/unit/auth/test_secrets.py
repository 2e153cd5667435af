from cryptography.fernet import Fernet

from app.security import keys


def test_encrypt_decrypt_and_rotation(monkeypatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setattr(keys, "get_settings", lambda: type("S", (), {"fernet_keys": _Secret(old)})())
    keys.fernet.cache_clear()
    token = keys.encrypt("wpp-token-123")
    assert "wpp-token-123" not in token
    assert keys.decrypt(token) == "wpp-token-123"
    # New key first, old still accepted; rotate re-encrypts under the new key.
    both = _Secret(f"{new},{old}")
    monkeypatch.setattr(keys, "get_settings", lambda: type("S", (), {"fernet_keys": both})())
    keys.fernet.cache_clear()
    assert keys.decrypt(token) == "wpp-token-123"
    rotated = keys.rotate(token)
    assert Fernet(new.encode()).decrypt(rotated.encode()) == b"wpp-token-123"
    keys.fernet.cache_clear()


class _Secret:
    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self) -> str:
        return self.value

    def __bool__(self) -> bool:
        return True


def test_ui_session_keeps_identity_in_backend_vars_only() -> None:
    from app.pages.base import SessionState

    # Underscore names are Reflex backend-only vars: never serialised to the browser.
    assert {"_user_id", "_family"} <= set(SessionState.__annotations__)
    public = set(SessionState.vars)
    assert not {"_user_id", "_family", "token", "access_token", "refresh_token"} & public
