"""Reminders: due appointments become one notification for their owner, exactly once (also when two
sweeps race), again after a reschedule; users see and mark only their own; the tasks skip suspended
tenants; REST /api/notificacoes."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.auth.actor import Actor, system_actor
from app.crm import appointments, home, notifications
from app.errors import Forbidden, NotFound
from models.tenant import Appointment, AuditLog, Notification
from tenants.database import session
from tests.conftest import TenantHandle, api_login
from tests.integration.crm.conftest import Crm, new_customer

NOW = datetime(2031, 5, 10, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo


def book(db: Session, actor: Actor, starts: datetime, remind: int | None = 15, **kw: Any) -> Appointment:
    appt = appointments.create_appointment(
        db,
        actor,
        appointments.AppointmentIn(
            title=kw.pop("title", "Retornar"), starts_local=starts, remind_minutes=remind, **kw
        ),
    )
    db.flush()
    return appt


def sweep(db: Session, crm: Crm, now: datetime = NOW) -> list[Notification]:
    return notifications.create_reminders(db, system_actor(crm.tenant_id, crm.schema), now)


def test_due_reminder_becomes_one_notification_for_the_owner(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent, name="Padaria Central")
    due = book(db, crm.agent, NOW + timedelta(minutes=10), customer_id=c.id, title="Ligar sobre o plano")
    later = book(db, crm.agent, NOW + timedelta(minutes=60))
    book(db, crm.agent, NOW + timedelta(minutes=5), remind=None)  # no reminder wanted
    done = book(db, crm.agent, NOW + timedelta(minutes=5))
    appointments.update_appointment(db, crm.agent, done.id, appointments.AppointmentUpdate(done=True))
    book(db, crm.agent, NOW - timedelta(hours=2))  # long past: reminding now is moot

    created = sweep(db, crm)
    assert [(n.user_id, n.ref_id) for n in created] == [(crm.agent.user_id, due.id)]
    n = created[0]
    assert n.kind == "reminder" and n.title == "Lembrete: Ligar sobre o plano"
    assert n.link == f"/clientes/{c.id}"
    assert n.body == "Retorno em 10/05/2031 12:10 · Padaria Central"  # the owner's zone (São Paulo)
    assert db.get(Appointment, due.id).reminded_at == NOW
    assert sweep(db, crm) == []  # claimed once
    # 45 minutes later the other one is due (15 min before it starts); the first stays done.
    assert [x.ref_id for x in sweep(db, crm, NOW + timedelta(minutes=45))] == [later.id]
    db.flush()
    assert (
        db.exec(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "notification.create")
        ).one()
        == 2
    )


def test_reschedule_resets_the_reminder(db: Session, crm: Crm) -> None:
    appt = book(db, crm.agent, NOW + timedelta(minutes=10))
    assert len(sweep(db, crm)) == 1
    # Saving the same time again is not a reschedule.
    appointments.update_appointment(
        db, crm.agent, appt.id, appointments.AppointmentUpdate(title="Outro título")
    )
    assert sweep(db, crm) == []
    appointments.update_appointment(
        db, crm.agent, appt.id, appointments.AppointmentUpdate(starts_local=NOW + timedelta(minutes=20))
    )
    assert db.get(Appointment, appt.id).reminded_at is None
    assert sweep(db, crm) == []  # now 20 min away: the reminder is due 15 min before
    assert [n.ref_id for n in sweep(db, crm, NOW + timedelta(minutes=5))] == [appt.id]
    appointments.update_appointment(db, crm.agent, appt.id, appointments.AppointmentUpdate(remind_minutes=5))
    assert sweep(db, crm, NOW + timedelta(minutes=5)) == []  # reminder moved to 5 min before
    assert [n.ref_id for n in sweep(db, crm, NOW + timedelta(minutes=16))] == [appt.id]


def test_users_see_count_and_mark_only_their_own(db: Session, crm: Crm) -> None:
    book(db, crm.agent, NOW + timedelta(minutes=1), title="A1")
    book(db, crm.agent, NOW + timedelta(minutes=2), title="A2")
    book(db, crm.agent2, NOW + timedelta(minutes=3), title="B1")
    sweep(db, crm)
    mine = notifications.list_notifications(db, crm.agent)
    assert [n.title for n in mine] == ["Lembrete: A2", "Lembrete: A1"]
    assert notifications.unread_count(db, crm.agent) == 2
    theirs = notifications.list_notifications(db, crm.agent2)
    assert [n.title for n in theirs] == ["Lembrete: B1"]
    # Not even an admin or the agent's manager reads or marks someone else's notification.
    for other in (crm.agent2, crm.manager, crm.admin):
        with pytest.raises(NotFound):
            notifications.mark_read(db, other, mine[0].id)
    row = notifications.mark_read(db, crm.agent, mine[0].id)
    assert row.read and notifications.unread_count(db, crm.agent) == 1
    notifications.mark_read(db, crm.agent, mine[0].id)  # idempotent
    assert notifications.mark_all_read(db, crm.agent) == 1
    assert notifications.unread_count(db, crm.agent) == 0
    assert notifications.unread_count(db, crm.agent2) == 1  # untouched
    assert notifications.list_notifications(db, crm.agent, unread_only=True) == []
    db.flush()
    actions = db.exec(
        select(AuditLog.action).where(AuditLog.action.in_(["notification.read", "notification.read_all"]))
    ).all()
    assert sorted(actions) == ["notification.read", "notification.read_all"]
    api_client = Actor(user_id=None, email="api:x", role="agent", tenant_id=crm.tenant_id, schema=crm.schema)
    assert notifications.list_notifications(db, api_client) == []
    assert notifications.unread_count(db, api_client) == 0


def test_unread_count_is_capped(db: Session, crm: Crm) -> None:
    for i in range(notifications.COUNT_CAP + 5):
        db.add(Notification(user_id=crm.agent2.user_id, kind="reminder", title=f"n{i}"))
    db.flush()
    assert notifications.unread_count(db, crm.agent2) == notifications.COUNT_CAP + 1


def test_only_in_app_links_reach_the_browser(db: Session, crm: Crm) -> None:
    evil = Notification(user_id=crm.agent.user_id, kind="reminder", title="x", link="//evil.example/x")
    db.add(evil)
    db.flush()
    assert notifications.open_link(db, crm.agent, evil.id) is None


def test_home_lists_unread_reminders(db: Session, crm: Crm) -> None:
    c = new_customer(db, crm.agent2)
    book(db, crm.agent2, NOW + timedelta(minutes=10), customer_id=c.id, title="Visita")
    sweep(db, crm)
    data = home.home(db, crm.agent2)
    assert [r.title for r in data.reminders] == ["Lembrete: Visita"]
    assert data.counts["reminders"] == 1


def test_creating_reminders_needs_appointment_rights(db: Session, crm: Crm) -> None:
    reader = Actor(user_id=None, email="x", role="nobody", tenant_id=crm.tenant_id, schema=crm.schema)
    with pytest.raises(Forbidden):
        notifications.create_reminders(db, reader, NOW)


# ---------------------------------------------------------------- committed: races, tasks, REST
def _committed_tenant(make_tenant: Any) -> tuple[TenantHandle, Actor]:
    t = make_tenant()
    return t, t.actor("agent")


def test_two_racing_sweeps_send_each_reminder_once(make_tenant: Any) -> None:
    t, agent = _committed_tenant(make_tenant)
    now = datetime.now(UTC)
    with session(t.schema) as db:
        for i in range(40):
            book(db, agent, now + timedelta(minutes=5, seconds=i))
        db.commit()
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with session(t.schema) as db:
                db.connection()  # open the transaction before racing
                barrier.wait()
                counts.append(len(notifications.create_reminders(db, system_actor(t.id, t.schema))))
                db.commit()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors
    assert sum(counts) == 40
    with session(t.schema) as db:
        per_appt = db.exec(select(Notification.ref_id, func.count()).group_by(Notification.ref_id)).all()
    assert len(per_appt) == 40 and {n for _, n in per_appt} == {1}


async def test_tasks_sweep_active_tenants_and_skip_suspended(make_tenant: Any) -> None:
    from app.platform import admin
    from tasks import notifications as reminder_tasks
    from tenants.database import platform_session

    active, agent = _committed_tenant(make_tenant)
    suspended, other = _committed_tenant(make_tenant)
    soon = datetime.now(UTC) + timedelta(minutes=3)
    for t, who in ((active, agent), (suspended, other)):
        with session(t.schema) as db:
            book(db, who, soon)
            db.commit()
    with platform_session() as pdb:
        admin.set_status(pdb, None, suspended.slug, "suspended")
        pdb.commit()

    assert active.schema in reminder_tasks.active_schemas()
    assert suspended.schema not in reminder_tasks.active_schemas()
    assert await reminder_tasks.send_reminders.original_func(suspended.schema) == 0
    # The scheduled task fans out one send_reminders per active tenant (in-process broker here).
    await reminder_tasks.sweep_reminders.original_func()
    await reminder_tasks.broker.wait_all()
    with session(active.schema) as db:
        assert db.exec(select(func.count()).select_from(Notification)).one() == 1
    with session(suspended.schema) as db:
        assert db.exec(select(func.count()).select_from(Notification)).one() == 0
    assert reminder_tasks.sweep_all_sync() == 0  # nothing left anywhere


def test_rest_lists_and_marks_own_notifications_only(make_tenant: Any, client: TestClient) -> None:
    a = make_tenant()
    b = make_tenant()
    agent_a = a.actor("agent")
    agent_b = b.actor("agent")
    with session(a.schema) as db:
        c = new_customer(db, agent_a, name="Cliente A")
        book(db, agent_a, datetime.now(UTC) + timedelta(minutes=2), customer_id=c.id, title="Ligar A")
        notifications.create_reminders(db, system_actor(a.id, a.schema))
        db.commit()
    headers_a = api_login(client, a, agent_a.email)
    headers_b = api_login(client, b, agent_b.email)
    headers_a2 = api_login(client, a, a.actor("agent").email)  # a colleague in the same tenant

    r = client.get("/api/notificacoes", headers=headers_a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unread"] == 1
    [item] = body["items"]
    assert item["title"] == "Lembrete: Ligar A" and item["link"] == f"/clientes/{c.id}" and not item["read"]
    nid = item["id"]

    # Another tenant's user and a colleague get the same 404 as for an unknown id.
    for headers in (headers_b, headers_a2):
        assert client.get("/api/notificacoes", headers=headers).json() == {"items": [], "unread": 0}
        r = client.post(f"/api/notificacoes/{nid}/lida", headers=headers)
        assert r.status_code == 404 and r.json()["detail"] == "Notificação não encontrada."
        assert client.post("/api/notificacoes/lidas", headers=headers).json() == {"marked": 0}

    r = client.post(f"/api/notificacoes/{nid}/lida", headers=headers_a)
    assert r.status_code == 200 and r.json()["read"] is True
    assert client.get("/api/notificacoes?unread=true", headers=headers_a).json() == {"items": [], "unread": 0}
    assert client.post("/api/notificacoes/lidas", headers=headers_a).json() == {"marked": 0}
    assert client.get("/api/notificacoes").status_code == 401
    assert client.get("/api/notificacoes?limit=0", headers=headers_a).status_code == 422
