"""Date-only bounds of the customer list are whole days in the user's time zone, both ends included."""

import uuid
from datetime import UTC, date, datetime

from sqlmodel import Session

from app.auth.actor import Actor
from app.crm.customers import CustomerQuery, list_customers
from models.platform import User
from tenants.database import platform_session
from tests.integration.crm.conftest import Crm, new_customer

# 23:30 on the 10th in São Paulo (UTC-3) is already the 11th in UTC.
LATE_ON_THE_10TH = datetime(2030, 3, 11, 2, 30, tzinfo=UTC)


def ids(db: Session, actor: Actor, **bounds: date) -> set[int]:
    return {r.id for r in list_customers(db, actor, CustomerQuery(limit=200, **bounds)).rows}


def user_in(crm: Crm, tz: str) -> Actor:
    actor = crm.user("admin")
    with platform_session() as pdb:
        user = pdb.get(User, actor.user_id)
        assert user is not None
        user.time_zone = tz
        pdb.add(user)
        pdb.commit()
    return actor


def test_created_range_is_a_whole_sao_paulo_day(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.admin, name=f"Noite {uuid.uuid4().hex[:4]}")
    c.created_at = LATE_ON_THE_10TH
    c.updated_at = LATE_ON_THE_10TH
    db.add(c)
    db.flush()
    tenth, eleventh = date(2030, 3, 10), date(2030, 3, 11)
    assert c.id in ids(db, crm.admin, created_from=tenth, created_to=tenth)
    assert c.id in ids(db, crm.admin, created_to=tenth)  # the end day is included
    assert c.id not in ids(db, crm.admin, created_from=eleventh, created_to=eleventh)
    assert c.id not in ids(db, crm.admin, created_to=date(2030, 3, 9))
    assert c.id in ids(db, crm.admin, updated_from=tenth, updated_to=tenth)
    assert c.id not in ids(db, crm.admin, updated_from=eleventh)


def test_bounds_follow_the_users_own_zone(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.admin)
    c.created_at = LATE_ON_THE_10TH
    db.add(c)
    db.flush()
    tenth, eleventh = date(2030, 3, 10), date(2030, 3, 11)
    lisbon = user_in(crm, "Europe/Lisbon")  # UTC+0 in March: 02:30 on the 11th
    assert c.id not in ids(db, lisbon, created_from=tenth, created_to=tenth)
    assert c.id in ids(db, lisbon, created_from=eleventh, created_to=eleventh)
    manaus = user_in(crm, "America/Manaus")  # UTC-4: 22:30 on the 10th
    assert c.id in ids(db, manaus, created_from=tenth, created_to=tenth)
    broken = user_in(crm, "Nowhere/Atlantis")  # an unknown zone falls back to São Paulo
    assert c.id in ids(db, broken, created_from=tenth, created_to=tenth)
