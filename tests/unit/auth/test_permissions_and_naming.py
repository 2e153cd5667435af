import pytest

from app.auth.passwords import check_strength, hash_password, verify_password
from app.auth.permissions import Perm, Role, has_permission
from app.auth.tokens import decode_access_token, issue_access_token
from app.errors import Invalid, Unauthorized
from tenants.naming import base36, is_tenant_schema, schema_for, slug_error


def test_schema_names_come_from_ids() -> None:
    assert schema_for(1) == "t_1"
    assert schema_for(36) == "t_10"
    assert base36(46655) == "zzz"
    assert is_tenant_schema("t_abc")
    for bad in ("public", "platform", "t_", "t_ABC", 't_1"; drop', "t_1.x"):
        assert not is_tenant_schema(bad)


@pytest.mark.parametrize("slug", ["ab", "-abc", "abc-", "Abc", "a b", "admin", "a" * 64])
def test_bad_slugs(slug: str) -> None:
    assert slug_error(slug)


def test_good_slug() -> None:
    assert slug_error("revenda-sul-01") is None


def test_role_table() -> None:
    assert has_permission("admin", Perm.USERS_MANAGE)
    assert not has_permission("manager", Perm.USERS_MANAGE)
    assert not has_permission("agent", Perm.CUSTOMERS_BULK)
    assert has_permission("manager", Perm.IMPORTS_RUN)
    assert not has_permission("nobody", Perm.CUSTOMERS_READ)
    assert not has_permission(Role.SUPERADMIN, Perm.CUSTOMERS_READ)


def test_passwords() -> None:
    h = hash_password("Senha-123")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "Senha-123")
    assert not verify_password(h, "senha-123")
    assert not verify_password(None, "Senha-123")
    for weak in ("curta1", "12345678", "abcdefgh"):
        with pytest.raises(Invalid):
            check_strength(weak)


def test_tokens_round_trip_and_tamper(monkeypatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    token, _ttl = issue_access_token(user_id=7, tenant_id=3, role="agent", family="fam")
    claims = decode_access_token(token)
    assert (claims.user_id, claims.tenant_id, claims.role, claims.family) == (7, 3, "agent", "fam")
    head, body, sig = token.split(".")
    with pytest.raises(Unauthorized):
        decode_access_token(f"{head}.{body}.{sig[::-1]}")
