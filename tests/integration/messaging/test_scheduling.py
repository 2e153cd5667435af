"""Scheduled messages against real PostgreSQL: REST create/list/cancel with pt-BR refusals, the sweep
queueing each due occurrence exactly once (two concurrent sweeps), follow-ups skipped after a reply,
opt-outs at due time skipped with the reason, recurring series advancing, RBAC and tenant isolation."""

import threading
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, func, select

from app.errors import NotFound
from app.messaging import consent, scheduling
from models.base import utcnow
from models.tenant import Contact, Conversation, Message, ScheduledMessage
from tenants.database import session
from tests.integration.crm.conftest import Crm
from tests.integration.messaging.conftest import as_
from tests.integration.messaging.test_sending import customer, sandboxes  # noqa: F401  (fixture)

SP = ZoneInfo("America/Sao_Paulo")
# Default WhatsApp and e-mail sandbox channels for the module tenant.
pytestmark = pytest.mark.usefixtures("sandboxes")


def local_in(hours: float) -> str:
    """A wall-clock time in the tenant's zone, as the form sends it (no offset)."""
    return (
        (datetime.now(SP) + timedelta(hours=hours)).replace(tzinfo=None, second=0, microsecond=0).isoformat()
    )


def schedule(api: TestClient, customer_id: int, who: str = "agent", **body: object) -> dict:
    body.setdefault("agendar_para", local_in(2))
    r = api.post(f"/api/clientes/{customer_id}/agendamentos", json=body, headers=as_(who))
    assert r.status_code == 201, r.text
    return r.json()


def whatsapp_of(db: Session, customer_id: int) -> str:
    return db.exec(
        select(Contact.value).where(Contact.customer_id == customer_id, Contact.kind == "whatsapp")
    ).one()


def make_due(schema: str, *ids: int) -> None:
    with session(schema) as db:
        db.connection().execute(
            text(
                f'UPDATE "{schema}".scheduled_messages '
                "SET send_at = now() - interval '1 minute' WHERE id = ANY(:ids)"
            ),
            {"ids": list(ids)},
        )
        db.commit()


def row(schema: str, scheduled_id: int) -> ScheduledMessage:
    with session(schema) as db:
        found = db.get(ScheduledMessage, scheduled_id)
        assert found is not None
        return found


def sent_with_key(schema: str, prefix: str) -> int:
    with session(schema) as db:
        return db.exec(
            select(func.count()).select_from(Message).where(Message.idempotency_key.like(prefix))  # type: ignore[union-attr]
        ).one()


def test_schedule_lists_and_converts_the_tenant_zone(api: TestClient, crm: Crm) -> None:
    c = customer(api)
    when = local_in(26)
    out = schedule(api, c["id"], texto="Olá {{primeiro_nome}}, lembrete!", agendar_para=when)
    assert out["status"] == "scheduled" and out["medium"] == "whatsapp" and out["fuso"] == "America/Sao_Paulo"
    assert out["agendar_para_local"].startswith(when[:16])
    expected = datetime.fromisoformat(when).replace(tzinfo=SP)
    assert datetime.fromisoformat(out["agendar_para"]) == expected
    # An explicit offset is honoured as such.
    other = schedule(api, c["id"], texto="Oi", agendar_para="2099-01-05T12:00:00+00:00")
    assert other["agendar_para_local"].startswith("2099-01-05T09:00")
    listed = api.get(f"/api/clientes/{c['id']}/agendamentos", headers=as_("agent")).json()
    assert [x["id"] for x in listed] == [out["id"], other["id"]]
    upcoming = {x["id"] for x in api.get("/api/mensagens-agendadas", headers=as_("agent")).json()}
    assert {out["id"], other["id"]} <= upcoming
    # RBAC: another portfolio sees nothing of it and cannot cancel it; the manager of the team sees it.
    assert not {out["id"], other["id"]} & {
        x["id"] for x in api.get("/api/mensagens-agendadas", headers=as_("outsider")).json()
    }
    assert api.get(f"/api/clientes/{c['id']}/agendamentos", headers=as_("outsider")).status_code == 404
    assert api.delete(f"/api/mensagens-agendadas/{out['id']}", headers=as_("outsider")).status_code == 404
    assert out["id"] in {x["id"] for x in api.get("/api/mensagens-agendadas", headers=as_("manager")).json()}
    # Cancel: audited, gone from upcoming, a second cancel is refused.
    r = api.delete(f"/api/mensagens-agendadas/{out['id']}", headers=as_("agent"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api.delete(f"/api/mensagens-agendadas/{out['id']}", headers=as_("agent")).status_code == 422
    assert out["id"] not in {
        x["id"] for x in api.get("/api/mensagens-agendadas", headers=as_("agent")).json()
    }
    with session(crm.schema) as db:
        actions = (
            db.connection()
            .execute(
                text(
                    f'SELECT action FROM "{crm.schema}".audit_log '
                    "WHERE entity = 'scheduled_message' AND entity_id = :i ORDER BY id"
                ),
                {"i": str(out["id"])},
            )
            .scalars()
            .all()
        )
    assert actions == ["scheduled_message.create", "scheduled_message.cancel"]


def test_refusals_are_pt_br_422s(api: TestClient, crm: Crm) -> None:
    c = customer(api)
    base = f"/api/clientes/{c['id']}/agendamentos"
    past = api.post(base, json={"texto": "Oi", "agendar_para": local_in(-1)}, headers=as_("agent"))
    assert past.status_code == 422 and "futuro" in past.text
    missing = api.post(
        base, json={"texto": "Oi {{boleto}}", "agendar_para": local_in(1)}, headers=as_("agent")
    )
    assert missing.status_code == 422 and "{{boleto}}" in missing.text
    ok = api.post(
        base,
        json={"texto": "Oi {{boleto}}", "variaveis": {"boleto": "123"}, "agendar_para": local_in(1)},
        headers=as_("agent"),
    )
    assert ok.status_code == 201, ok.text
    with session(crm.schema) as db:
        number = whatsapp_of(db, c["id"])
        consent.opt_out(db, medium="whatsapp", address=number, source="keyword", customer_id=c["id"])
        db.commit()
    opted = api.post(base, json={"texto": "Oi", "agendar_para": local_in(1)}, headers=as_("agent"))
    assert opted.status_code == 422 and "descadastrado" in opted.text
    no_end = api.post(
        base,
        json={
            "assunto": "A",
            "html": "<p>B</p>",
            "agendar_para": local_in(1),
            "recorrencia": {"frequencia": "diaria"},
        },
        headers=as_("agent"),
    )
    assert no_end.status_code == 422 and "repetir" in no_end.text


def test_two_concurrent_sweeps_queue_each_due_message_exactly_once(
    api: TestClient,
    crm: Crm,
) -> None:
    ids = [schedule(api, customer(api)["id"], texto=f"Lembrete {i}")["id"] for i in range(24)]
    make_due(crm.schema, *ids)
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        barrier.wait()
        try:
            results.append(scheduling.run_due(crm.schema))
        except BaseException as exc:  # a duplicate idempotency key would surface here
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 2
    assert sum(r["queued"] for r in results) == len(ids)
    for i in ids:
        r = row(crm.schema, i)
        assert (r.status, r.sent_count, r.occurrence) == ("queued", 1, 1)
        assert sent_with_key(crm.schema, f"scheduled:{i}:%") == 1
    # A third sweep finds nothing due.
    assert scheduling.run_due(crm.schema)["queued"] == 0
    with session(crm.schema) as db:
        msg = db.get(Message, row(crm.schema, ids[0]).last_message_id)
        assert msg is not None and msg.body == "Lembrete 0" and msg.idempotency_key == f"scheduled:{ids[0]}:0"


def test_follow_up_is_skipped_after_a_reply_and_sent_without_one(
    api: TestClient,
    crm: Crm,
) -> None:
    replied, silent = customer(api), customer(api)
    for c in (replied, silent):
        r = api.post(
            f"/api/clientes/{c['id']}/acoes/send-whatsapp",
            json={"texto": "Proposta enviada"},
            headers=as_("agent"),
        )
        assert r.status_code == 202, r.text
    a = schedule(api, replied["id"], texto="Conseguiu ver a proposta?", se_sem_resposta=True)
    b = schedule(api, silent["id"], texto="Conseguiu ver a proposta?", se_sem_resposta=True)
    with session(crm.schema) as db:
        conv = db.exec(select(Conversation).where(Conversation.customer_id == replied["id"])).one()
        db.add(Message(conversation_id=conv.id, direction="in", status="received", body="Vi sim, obrigado"))
        db.commit()
    make_due(crm.schema, a["id"], b["id"])
    scheduling.run_due(crm.schema)
    skipped, sent = row(crm.schema, a["id"]), row(crm.schema, b["id"])
    assert (
        skipped.status == "skipped"
        and skipped.reason == scheduling.REPLIED
        and skipped.last_message_id is None
    )
    assert sent.status == "queued" and sent.last_message_id is not None
    assert sent_with_key(crm.schema, f"scheduled:{a['id']}:%") == 0


def test_opted_out_at_due_time_is_skipped_with_the_reason(api: TestClient, crm: Crm) -> None:
    c = customer(api)
    out = schedule(api, c["id"], texto="Promoção")
    with session(crm.schema) as db:
        number = whatsapp_of(db, c["id"])
        consent.opt_out(db, medium="whatsapp", address=number, source="keyword", customer_id=c["id"])
        db.commit()
    make_due(crm.schema, out["id"])
    scheduling.run_due(crm.schema)
    r = row(crm.schema, out["id"])
    assert r.status == "skipped" and r.reason is not None and "descadastrado" in r.reason
    assert sent_with_key(crm.schema, f"scheduled:{out['id']}:%") == 0


def test_recurring_series_advances_in_the_tenant_zone(api: TestClient, crm: Crm) -> None:
    c = customer(api)
    start = (datetime.now(SP) + timedelta(hours=1)).replace(tzinfo=None, second=0, microsecond=0)
    out = schedule(
        api,
        c["id"],
        texto="Bom dia!",
        agendar_para=start.isoformat(),
        recorrencia={"frequencia": "diaria", "vezes": 2},
    )
    make_due(crm.schema, out["id"])
    scheduling.run_due(crm.schema)
    r = row(crm.schema, out["id"])
    assert (r.status, r.occurrence, r.sent_count) == ("scheduled", 1, 1)
    assert r.local_due == start + timedelta(days=1)
    assert r.send_at == (start + timedelta(days=1)).replace(tzinfo=SP)
    make_due(crm.schema, out["id"])
    scheduling.run_due(crm.schema)
    r = row(crm.schema, out["id"])
    assert (r.status, r.sent_count) == ("queued", 2)
    assert sent_with_key(crm.schema, f"scheduled:{out['id']}:%") == 2


def test_tenant_isolation(api: TestClient, crm: Crm, make_tenant) -> None:
    c = customer(api)
    out = schedule(api, c["id"], texto="Só nesta organização")
    other = make_tenant()
    stranger = other.actor("admin")
    with session(other.schema) as db:
        assert scheduling.list_upcoming(db, stranger) == []
        with pytest.raises(NotFound):
            scheduling.get_scheduled(db, stranger, out["id"])
    make_due(crm.schema, out["id"])
    assert scheduling.run_due(other.schema) == {"queued": 0, "skipped": 0, "failed": 0}
    assert row(crm.schema, out["id"]).status == "scheduled"
    scheduling.run_due(crm.schema)
    assert row(crm.schema, out["id"]).status == "queued"


def test_nothing_due_costs_one_index_probe(crm: Crm) -> None:
    with session(crm.schema) as db:
        plan = "\n".join(
            db.connection()
            .execute(text("EXPLAIN " + scheduling._DUE.format(schema=crm.schema)), {"now": utcnow()})
            .scalars()
        )
    assert "ix_scheduled_messages_due" in plan, plan


def test_edit_and_email_follow_the_same_checks_and_path(api: TestClient, crm: Crm) -> None:
    c = customer(api)
    out = schedule(api, c["id"], assunto="Sua fatura, {{primeiro_nome}}", html="<p>Segue a fatura.</p>")
    assert out["medium"] == "email"
    url = f"/api/mensagens-agendadas/{out['id']}"
    past = api.patch(url, json={"agendar_para": local_in(-2)}, headers=as_("agent"))
    assert past.status_code == 422 and "futuro" in past.text
    missing = api.patch(url, json={"html": "<p>Boleto {{boleto}}</p>"}, headers=as_("agent"))
    assert missing.status_code == 422 and "{{boleto}}" in missing.text
    later = local_in(50)
    r = api.patch(
        url, json={"agendar_para": later, "html": "<p>Segue a fatura de dezembro.</p>"}, headers=as_("agent")
    )
    assert r.status_code == 200, r.text
    assert r.json()["agendar_para_local"].startswith(later[:16])
    assert api.patch(url, json={"texto": "x"}, headers=as_("outsider")).status_code == 404
    make_due(crm.schema, out["id"])
    scheduling.run_due(crm.schema)
    done = row(crm.schema, out["id"])
    assert done.status == "queued"
    with session(crm.schema) as db:
        msg = db.get(Message, done.last_message_id)
        assert msg is not None and msg.kind == "email" and msg.html == "<p>Segue a fatura de dezembro.</p>"
        assert msg.subject == f"Sua fatura, {c['name'].split()[0]}"


def test_a_deactivated_author_fails_with_the_reason(api: TestClient, crm: Crm) -> None:
    from models.platform import User
    from tenants.database import platform_session

    author = crm.user("agent", "sul")
    with session(crm.schema) as db:
        c = new_customer_for(db, author)
        out = scheduling.schedule(
            db, author, c, scheduling.ScheduleIn.model_validate({"texto": "Oi", "agendar_para": local_in(1)})
        )
        db.commit()
    with platform_session() as pdb:
        user = pdb.get(User, author.user_id)
        assert user is not None
        user.status = "inactive"
        pdb.commit()
    make_due(crm.schema, out.id)
    scheduling.run_due(crm.schema)
    failed = row(crm.schema, out.id)
    assert failed.status == "failed" and failed.reason is not None and "autor" in failed.reason
    assert sent_with_key(crm.schema, f"scheduled:{out.id}:%") == 0


def new_customer_for(db: Session, actor) -> int:  # type: ignore[no-untyped-def]
    from tests.integration.crm.conftest import new_customer

    c = new_customer(
        db, actor, contacts=[{"kind": "whatsapp", "value": "+55119" + str(uuid.uuid4().int)[:8]}]
    )
    return c.id
