"""Password hashing with argon2id."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import Invalid

_hasher = PasswordHasher()
MIN_LENGTH = 8
# A fixed hash to verify against when the account does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(plain: str) -> str:
    check_strength(plain)
    return _hasher.hash(plain)


def verify_password(hashed: str | None, plain: str) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, plain) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def check_strength(plain: str, field: str = "password") -> None:
    if len(plain) < MIN_LENGTH:
        raise Invalid(field, f"A senha precisa ter pelo menos {MIN_LENGTH} caracteres.")
    if plain.isdigit() or plain.isalpha():
        raise Invalid(field, "Use letras e números na senha.")
