"""Opening the sign-up confirmation link logs the admin in, once, and the login is audited as such."""

import uuid

import pytest
from sqlmodel import select

from app.auth import sessions
from app.errors import Invalid
from app.platform import signup
from app.platform.provisioning import SignupInput, provision_tenant
from models.platform import PlatformAudit
from tenants.database import platform_session, unit_of_work


def test_confirmation_link_starts_the_admins_session_once(database_url: str) -> None:
    slug = f"s{uuid.uuid4().hex[:8]}"
    email = f"admin@{slug}.com.br"
    tenant = provision_tenant(
        SignupInput(f"Org {slug}", slug, "Admin", email, "Senha-forte-123"), status="unconfirmed"
    )
    token = signup.issue_token(tenant.id or 0, email)
    with platform_session() as db, unit_of_work(db):
        confirmed, pair = signup.confirm_and_log_in(db, token, "10.0.0.1")
    assert confirmed.status == "active"
    with platform_session() as db:
        actor = sessions.actor_for_user(db, sessions.decode_user_id(pair), family=pair.family)
        assert actor.email == email and actor.tenant_id == tenant.id
        login = db.exec(
            select(PlatformAudit).where(
                PlatformAudit.action == "auth.login", PlatformAudit.tenant_id == tenant.id
            )
        ).one()
        assert login.after == {"email": email, "via": "signup_confirmation"}
    with platform_session() as db, pytest.raises(Invalid):
        signup.confirm_and_log_in(db, token, "10.0.0.1")
