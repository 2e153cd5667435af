"""Per-user preferences on real PostgreSQL: stored per user (not shared), upserted, audited once per
change, unknown keys and oversized values refused, and each tenant keeps its own."""

import pytest
from sqlmodel import Session, col, select

from app.crm import preferences
from app.errors import Invalid
from models.tenant import AuditLog
from tests.integration.crm.conftest import Crm

KEY = preferences.KANBAN_FILTERS


def test_saved_per_user_upserted_and_audited(db: Session, crm: Crm) -> None:
    assert preferences.get(db, crm.agent, KEY) == {}
    preferences.save(db, crm.agent, KEY, {"owner": "me"})
    preferences.save(db, crm.agent, KEY, {"owner": "team", "value_min": "100"})
    preferences.save(db, crm.agent, KEY, {"owner": "team", "value_min": "100"})  # unchanged: no audit row
    preferences.save(db, crm.manager, KEY, {"stage": "3"})
    assert preferences.get(db, crm.agent, KEY) == {"owner": "team", "value_min": "100"}
    assert preferences.get(db, crm.manager, KEY) == {"stage": "3"}
    assert preferences.get(db, crm.agent2, KEY) == {}
    audits = db.exec(
        select(AuditLog.entity_id).where(AuditLog.action == "preference.update").order_by(col(AuditLog.id))
    ).all()
    assert audits == [f"{crm.agent.user_id}:{KEY}"] * 2 + [f"{crm.manager.user_id}:{KEY}"]


def test_unknown_keys_and_oversized_values_are_refused(db: Session, crm: Crm) -> None:
    with pytest.raises(Invalid):
        preferences.save(db, crm.agent, "theme.secret", {"a": 1})
    assert preferences.get(db, crm.agent, "theme.secret") == {}
    with pytest.raises(Invalid):
        preferences.save(db, crm.agent, KEY, {"q": "x" * 5000})


def test_each_tenant_keeps_its_own(db: Session, crm: Crm, make_tenant) -> None:
    from tenants.database import session, unit_of_work

    preferences.save(db, crm.admin, KEY, {"owner": "me"})
    other = make_tenant()
    actor = other.actor()
    with session(other.schema) as other_db, unit_of_work(other_db):
        assert preferences.get(other_db, actor, KEY) == {}
        preferences.save(other_db, actor, KEY, {"stage": "1"})
    with session(other.schema) as other_db:
        assert preferences.get(other_db, actor, KEY) == {"stage": "1"}
    assert preferences.get(db, crm.admin, KEY) == {"owner": "me"}


def test_customer_columns_are_a_key_of_their_own(db: Session, crm: Crm) -> None:
    """The customer list's columns live beside the Kanban filters: same user, separate values, each
    change audited under its own key."""
    cols = preferences.CUSTOMER_COLUMNS
    preferences.save(db, crm.agent, KEY, {"owner": "me"})
    preferences.save(db, crm.agent, cols, {"visible": ["name", "score"]})
    preferences.save(db, crm.agent, cols, {"visible": ["name", "score", "phone"]})
    assert preferences.get(db, crm.agent, cols) == {"visible": ["name", "score", "phone"]}
    assert preferences.get(db, crm.agent, KEY) == {"owner": "me"}
    assert preferences.get(db, crm.manager, cols) == {}
    audits = db.exec(
        select(AuditLog.entity_id, AuditLog.before, AuditLog.after)
        .where(AuditLog.action == "preference.update", AuditLog.entity_id == f"{crm.agent.user_id}:{cols}")
        .order_by(col(AuditLog.id))
    ).all()
    assert [(a.before, a.after) for a in audits] == [
        ({}, {"visible": ["name", "score"]}),
        ({"visible": ["name", "score"]}, {"visible": ["name", "score", "phone"]}),
    ]
