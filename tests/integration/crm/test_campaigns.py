"""Campaigns on real PostgreSQL: the audience materialised once with skips explained (no contact, opted
out by flag or by the ledger), round-robin and sticky identities, the customer's variables at feed time,
the feeder's batches (exactly once under concurrent feeders), business hours, daily cap, pause / resume /
cancel, incremental counters driven by provider statuses and replies, the recipients CSV, RBAC."""

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.campaigns import counters, feeder
from app.messaging import consent, inbound
from app.messaging.protocol import InboundEvent, StatusEvent
from models.tenant import Campaign, CampaignRecipient, Channel, Customer, Message
from tenants.database import session
from tests.integration.crm.conftest import Crm, acting_client, new_customer


@pytest.fixture(scope="module")
def client(crm: Crm) -> Iterator[TestClient]:
    with acting_client(crm, "admin") as c:
        yield c


@pytest.fixture(scope="module")
def audience(crm: Crm) -> dict[str, object]:
    """Ten customers of one tag: 7 reachable, 1 opted out by flag, 1 by the ledger only, 1 without a phone."""
    tag = f"camp{uuid.uuid4().hex[:6]}"
    with session(crm.schema) as db:
        from app.crm.tags import TagIn, create_tag

        create_tag(db, crm.admin, TagIn(name=tag))
        phones = [f"+55119{uuid.uuid4().int % 10**8:08d}" for _ in range(9)]
        ids = [
            new_customer(
                db, crm.admin, name=f"Cliente {i}", tags=[tag], contacts=[{"kind": "phone", "value": p}]
            ).id
            for i, p in enumerate(phones)
        ]
        ids.append(new_customer(db, crm.admin, name="Sem Telefone", tags=[tag]).id)
        consent.opt_out(db, medium="whatsapp", address=phones[7], source="keyword")
        # The ledger alone (the contact re-created after an erasure has no flag).
        consent.append(db, medium="whatsapp", address=phones[8], status="opt_out", source="keyword")
        # Paused numbers: the outbox leaves their messages queued, so what the feeder queued stays there
        # for the test to look at (the delivery the feeder kicks runs in-process here).
        ch1 = Channel(kind="sandbox_whatsapp", medium="whatsapp", name="Número 1", status="paused")
        ch2 = Channel(kind="sandbox_whatsapp", medium="whatsapp", name="Número 2", status="paused")
        db.add_all([ch1, ch2])
        db.commit()
        return {"tag": tag, "phones": phones, "ids": ids, "channels": [ch1.id, ch2.id]}


def _body(audience: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "nome": f"Promo {uuid.uuid4().hex[:4]}",
        "identidades": audience["channels"],
        "corpo": "Olá {{primeiro_nome}}, seu plano {{plano_atual}} ganhou {{bonus}}!",
        "variaveis": {"bonus": "5 GB"},
        "filtro": {"tags": [audience["tag"]]},
        **extra,
    }


def test_preview_and_create_materialise_the_audience_once(client: TestClient, crm: Crm, audience) -> None:
    r = client.post("/api/campanhas/previa", json=_body(audience))
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["counts"]["total"] == 10 and preview["counts"]["pending"] == 7
    assert preview["counts"]["skipped_opted_out"] == 2 and preview["counts"]["skipped_no_contact"] == 1
    assert preview["sample"]["mensagem"].startswith("Olá Cliente, seu plano  ganhou 5 GB!")
    r = client.post("/api/campanhas", json=_body(audience))
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    got = client.get(f"/api/campanhas/{cid}").json()
    assert got["status"] == "running" and got["counts"]["total"] == 10 and got["counts"]["skipped"] == 3
    assert got["counts"]["pending"] + got["counts"]["queued"] == 7
    with session(crm.schema) as db:
        rows = db.exec(select(CampaignRecipient).where(CampaignRecipient.campaign_id == cid)).all()
        pending = [r for r in rows if r.status != "skipped"]
        # Round-robin over the two numbers.
        assert Counter(r.channel_id for r in pending) == Counter(
            {audience["channels"][0]: 4, audience["channels"][1]: 3}
        ) or Counter(r.channel_id for r in pending) == Counter(
            {audience["channels"][0]: 3, audience["channels"][1]: 4}
        )
        # The variables are the customer's when the feeder queues the message, the campaign's last.
        feeder.feed(db, cid)
        db.commit()
        fed = db.exec(select(Message).where(Message.campaign_id == cid)).all()
        assert len(fed) == 7
        for message in fed:
            assert message.variables["bonus"] == "5 GB" and message.variables["primeiro_nome"] == "Cliente"
            assert message.body.startswith("Olá Cliente, seu plano  ganhou 5 GB!")
    # Paused, the queued messages leave the outbox; resumed, they are queued again with the customer's
    # variables as they are then.
    assert client.post(f"/api/campanhas/{cid}/pausar").status_code == 200
    with session(crm.schema) as db:
        renamed = db.get(Customer, audience["ids"][0])
        assert renamed is not None
        renamed.name = "Renata Cliente"
        db.add(renamed)
        db.commit()
    assert client.post(f"/api/campanhas/{cid}/retomar").status_code == 200
    with session(crm.schema) as db:
        feeder.feed(db, cid)
        db.commit()
        fed = db.exec(select(Message).where(Message.campaign_id == cid, Message.status == "queued")).all()
        assert len(fed) == 7
        firsts = Counter(m.variables["primeiro_nome"] for m in fed)
        assert firsts == Counter({"Cliente": 6, "Renata": 1})
        renamed = db.get(Customer, audience["ids"][0])
        assert renamed is not None
        renamed.name = "Cliente 0"
        db.add(renamed)
        db.commit()


def test_validation_errors_are_in_portuguese(client: TestClient, audience) -> None:
    r = client.post("/api/campanhas", json=_body(audience, corpo="Oi {{apelido}}"))
    assert r.status_code == 422 and "{{apelido}}" in r.text
    r = client.post("/api/campanhas", json={**_body(audience), "filtro": None})
    assert r.status_code == 422 and "público" in r.text
    r = client.post("/api/campanhas/email", json=_body(audience))
    assert r.status_code == 422 and "não é de e-mail" in r.text
    r = client.post("/api/campanhas", json=_body(audience, janela={"mon": ["18:00", "09:00"]}))
    assert r.status_code == 422 and "janela.mon" in r.text
    assert client.post("/api/campanhas", json=_body(audience), headers={"x-as": "agent"}).status_code == 403
    assert client.get("/api/campanhas/999999").status_code == 404


# Campaigns scheduled for tomorrow are not fed by the kick that creating a running one queues (in-process
# here), so the tests drive the feeder with their own clock.
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
LATER = TOMORROW + timedelta(minutes=1)


def _create(crm: Crm, client: TestClient, audience, **extra: object) -> int:
    extra.setdefault("agendar_para", TOMORROW.isoformat())
    r = client.post("/api/campanhas", json=_body(audience, **extra))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_concurrent_feeders_queue_each_recipient_exactly_once(client: TestClient, crm: Crm, audience) -> None:
    cid = _create(crm, client, audience, atribuicao="sticky")
    results: list[int] = []

    def feed() -> None:
        with session(crm.schema) as db:
            results.append(feeder.feed(db, cid, now=LATER, batch=3).queued)
            db.commit()

    for _ in range(3):
        threads = [threading.Thread(target=feed) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sum(results) == 7
    with session(crm.schema) as db:
        msgs = db.exec(select(Message).where(Message.campaign_id == cid)).all()
        assert len(msgs) == 7 and len({m.to_address for m in msgs}) == 7
        assert {m.idempotency_key for m in msgs} == {
            f"campaign:{cid}:{r.id}"
            for r in db.exec(
                select(CampaignRecipient).where(
                    CampaignRecipient.campaign_id == cid, CampaignRecipient.status == "queued"
                )
            ).all()
        }
        assert all(m.body.startswith("Olá Cliente") and m.status == "queued" for m in msgs)
        # Sticky: the identity follows the customer id.
        ids = audience["channels"]
        for r in db.exec(
            select(CampaignRecipient).where(
                CampaignRecipient.campaign_id == cid, CampaignRecipient.status == "queued"
            )
        ).all():
            assert r.channel_id == ids[r.customer_id % 2]
        c = counters.read(db.get(Campaign, cid).counts)
        assert (c["pending"], c["queued"]) == (0, 7)


def test_statuses_and_replies_drive_the_counters(client: TestClient, crm: Crm, audience) -> None:
    cid = _create(crm, client, audience)
    with session(crm.schema) as db:
        feeder.feed(db, cid, now=LATER)
        db.commit()
    with session(crm.schema) as db:
        msgs = db.exec(select(Message).where(Message.campaign_id == cid).order_by(col(Message.id))).all()
        channel = db.get(Channel, msgs[0].channel_id)
        # What the outbox does on a provider's acceptance, then the provider's reports.
        for i, m in enumerate(msgs[:4]):
            m.status, m.provider_message_id, m.sent_at = "sent", f"wamid.{cid}.{i}", datetime.now(UTC)
            db.add(m)
            counters.bump(db, cid, counters.transition("queued", "sent"))
        db.flush()
        for i, m in enumerate(msgs[:4]):
            if i == 1:
                continue  # this one fails before delivery
            ch = db.get(Channel, m.channel_id)
            inbound.apply_status(db, ch, StatusEvent(f"wamid.{cid}.{i}", "delivered"))
        inbound.apply_status(db, db.get(Channel, msgs[0].channel_id), StatusEvent(f"wamid.{cid}.0", "read"))
        inbound.apply_status(
            db,
            db.get(Channel, msgs[1].channel_id),
            StatusEvent(f"wamid.{cid}.1", "failed", error_code="131026"),
        )
        # A reply from the first customer.
        inbound.apply_inbound(
            db, channel, InboundEvent(uuid.uuid4().hex, sender=msgs[0].to_address or "", text="Quero!")
        )
        db.commit()
    got = client.get(f"/api/campanhas/{cid}").json()["counts"]
    assert (got["sent"], got["delivered"], got["read"], got["queued"]) == (3, 3, 1, 3)
    assert got["replied"] == 1 and got["failed"] == 1
    csv_text = client.get(f"/api/campanhas/{cid}/destinatarios.csv").text
    assert csv_text.splitlines()[0].lstrip("\ufeff").startswith("cliente_id,endereco")
    assert len(csv_text.splitlines()) == 11 and "opted_out" in csv_text
    # The failure is explained in pt-BR (app.messaging.failure_reasons), with Meta's code for support.
    assert "O WhatsApp não conseguiu entregar a mensagem a este número (131026)." in csv_text


def test_pause_resume_cancel(client: TestClient, crm: Crm, audience) -> None:
    cid = _create(crm, client, audience)
    with session(crm.schema) as db:
        assert feeder.feed(db, cid, now=LATER, batch=4).queued == 4
        db.commit()
    r = client.post(f"/api/campanhas/{cid}/pausar")
    assert r.status_code == 200 and r.json()["status"] == "paused"
    assert (r.json()["counts"]["queued"], r.json()["counts"]["pending"]) == (0, 7)
    assert r.json()["counts"]["total"] == 10
    with session(crm.schema) as db:
        assert feeder.feed(db, cid).state == "not_running"
        assert (
            db.exec(select(Message).where(Message.campaign_id == cid, Message.status == "queued")).all() == []
        )
    assert client.post(f"/api/campanhas/{cid}/pausar").status_code == 409
    # Resuming queues the feed task (run in-process here): the same recipients, fed again, same keys.
    assert client.post(f"/api/campanhas/{cid}/retomar").json()["status"] == "running"
    with session(crm.schema) as db:
        feeder.feed(db, cid, now=LATER)
        db.commit()
        keys = db.exec(
            select(Message.idempotency_key).where(Message.campaign_id == cid, Message.status == "queued")
        ).all()
        assert len(keys) == 7 and all(k and k.startswith(f"campaign:{cid}:") for k in keys)
    r = client.post(f"/api/campanhas/{cid}/cancelar")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["counts"]["skipped"] == 10
    assert client.post(f"/api/campanhas/{cid}/retomar").status_code == 409


def test_business_hours_and_daily_cap(client: TestClient, crm: Crm, audience) -> None:
    # Monday 2030-01-07: open 09:00-18:00 in São Paulo (UTC-3).
    start = "2030-01-01T00:00:00+00:00"
    cid = _create(
        crm, client, audience, janela={"mon": ["09:00", "18:00"]}, limite_diario=5, agendar_para=start
    )
    early = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)  # 07:00 local
    with session(crm.schema) as db:
        r = feeder.feed(db, cid, now=early)
        assert r.state == "waiting_window" and r.next_at == datetime(2030, 1, 7, 12, 0, tzinfo=UTC)
        r = feeder.feed(db, cid, now=early + timedelta(hours=3))
        assert r.queued == 5
        capped = feeder.feed(db, cid, now=early + timedelta(hours=4))
        assert capped.state == "daily_cap" and capped.next_at == datetime(2030, 1, 14, 12, 0, tzinfo=UTC)
        db.rollback()
