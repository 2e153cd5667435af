"""The first-steps checklist: derived from each organisation's own data, for admins only, hidden by an
audited dismiss that touches only the admin's organisation; the same data over GET /api/inicio."""

import pytest
from sqlmodel import select

from app.crm import first_steps
from app.errors import Forbidden
from models.platform import Tenant
from models.tenant import AuditLog, Channel, ImportJob
from tenants.database import session
from tests.conftest import TenantHandle, api_login


def _done(tenant: TenantHandle) -> dict[str, bool]:
    with session(tenant.schema) as db:
        checklist = first_steps.first_steps(db, tenant.actor())
        assert checklist is not None
        return {s.key: s.done for s in checklist.steps}


def test_steps_tick_from_each_organisations_own_data(make_tenant) -> None:
    a, b = make_tenant(), make_tenant()
    fresh = {
        "importar_clientes": False,
        "conectar_whatsapp": False,
        "configurar_email": False,
        "convidar_usuarios": False,
    }
    assert _done(a) == fresh

    with session(a.schema) as db:
        db.add(ImportJob(source="planilha", filename="base.csv", storage_key="k", state="done"))
        db.commit()
    a.actor("agent")  # a second user of A

    assert _done(a) == {**fresh, "importar_clientes": True, "convidar_usuarios": True}
    assert _done(b) == fresh  # B's checklist sees none of A's data

    with session(a.schema) as db:
        # A sandbox records and never sends, a session waiting for its QR code is not connected yet.
        db.add(Channel(kind="sandbox_whatsapp", medium="whatsapp", name="Teste"))
        db.add(Channel(kind="wppconnect", medium="whatsapp", name="Vendas", status="qrcode"))
        db.add(Channel(kind="smtp", medium="email", name="SMTP"))
        db.commit()
    assert _done(a) == {
        **fresh,
        "importar_clientes": True,
        "convidar_usuarios": True,
        "configurar_email": True,
    }
    with session(a.schema) as db:
        db.add(Channel(kind="whatsapp_cloud", medium="whatsapp", name="Oficial"))
        db.commit()
    assert all(_done(a).values())
    assert _done(b) == fresh


def test_only_admins_see_and_dismiss_it_and_dismissing_is_audited(make_tenant) -> None:
    a, b = make_tenant(), make_tenant()
    manager = a.actor("manager")
    with session(a.schema) as db:
        assert first_steps.first_steps(db, manager) is None
        with pytest.raises(Forbidden):
            first_steps.dismiss(db, manager)
        first_steps.dismiss(db, a.actor())
        db.commit()
        assert first_steps.first_steps(db, a.actor()) is None
        rows = db.exec(select(AuditLog).where(AuditLog.action == "tenant.first_steps_dismiss")).all()
        assert len(rows) == 1 and rows[0].actor_id == a.actor().user_id
        first_steps.dismiss(db, a.actor())  # already hidden: nothing new to record
        db.commit()
        assert (
            len(db.exec(select(AuditLog).where(AuditLog.action == "tenant.first_steps_dismiss")).all()) == 1
        )
    with session(b.schema) as db:
        assert first_steps.first_steps(db, b.actor()) is not None  # B's list is untouched
        assert db.get(Tenant, b.id).first_steps_dismissed_at is None


def test_api_home_carries_the_checklist_and_dismiss(client, make_tenant) -> None:
    a = make_tenant()
    headers = api_login(client, a)
    body = client.get("/api/inicio", headers=headers).json()
    assert [s["key"] for s in body["first_steps"]["steps"]] == [
        "importar_clientes",
        "conectar_whatsapp",
        "configurar_email",
        "convidar_usuarios",
    ]
    assert body["first_steps"]["total"] == 4
    r = client.post("/api/inicio/primeiros-passos/ocultar", headers=headers)
    assert r.status_code == 204, r.text
    assert client.get("/api/inicio", headers=headers).json()["first_steps"] is None

    agent = a.actor("agent")
    r = client.post("/api/inicio/primeiros-passos/ocultar", headers=api_login(client, a, agent.email))
    assert r.status_code == 403
