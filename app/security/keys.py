"""Key material: the JWT signing secret and the Fernet keys for secrets at rest."""

import base64
import hashlib
import os
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet

from app.settings import get_settings


def _dev_master_key() -> bytes:
    """A random key kept in data_dir, so development needs no configuration but never shares a key."""
    settings = get_settings()
    path = settings.data_dir / "dev-secret.key"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


@lru_cache
def jwt_secret() -> bytes:
    configured = get_settings().secret_key
    if configured:
        return configured.get_secret_value().encode()
    return hashlib.sha256(b"jwt:" + _dev_master_key()).digest()


@lru_cache
def fernet() -> MultiFernet:
    configured = get_settings().fernet_keys
    if configured:
        keys = [k.strip() for k in configured.get_secret_value().split(",") if k.strip()]
        return MultiFernet([Fernet(k) for k in keys])
    derived = base64.urlsafe_b64encode(hashlib.sha256(b"fernet:" + _dev_master_key()).digest())
    return MultiFernet([Fernet(derived)])


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()


def rotate(token: str) -> str:
    """Re-encrypt with the newest key (run after prepending a new key to FERNET_KEYS)."""
    return fernet().rotate(token.encode()).decode()
