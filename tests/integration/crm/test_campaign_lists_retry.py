"""Campaigns, second part, on real PostgreSQL: an audience from an uploaded list (matched by document,
phone or e-mail through the import's normalisers, within the uploader's portfolio; bad lines counted with
pt-BR reasons), retrying failed sends by reason (never sent or uncertain ones; new idempotency keys;
counters exact) through the real outbox and the sandbox provider, and a campaign attachment carried to
every message."""

import asyncio
import io
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import text
from sqlmodel import select

from app.campaigns import counters, feeder
from app.messaging import channels, outbox
from app.messaging.adapters import sandbox
from models.tenant import Campaign, CampaignRecipient, Channel, Message
from tenants.database import session
from tests.integration.crm.conftest import Crm, acting_client, new_customer

TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
# Valid check digits (generated, not real people).
CPF = "52998224725"
CNPJ = "11222333000181"


@pytest.fixture(scope="module")
def client(crm: Crm) -> Iterator[TestClient]:
    with acting_client(crm, "admin") as c:
        yield c


def _phone() -> str:
    return f"+55119{uuid.uuid4().int % 10**8:08d}"


@pytest.fixture(scope="module")
def people(crm: Crm) -> dict[str, object]:
    """A customer found by CPF, one by CNPJ, one by phone, one by e-mail (and phone), and one outside an
    agent's portfolio; an active sandbox channel that fails every other message."""
    with session(crm.schema) as db:
        tag = f"lst{uuid.uuid4().hex[:6]}"
        from app.crm.tags import TagIn, create_tag

        create_tag(db, crm.admin, TagIn(name=tag))
        phones = [_phone() for _ in range(4)]
        email = f"ana.{uuid.uuid4().hex[:6]}@exemplo.com.br"
        doc_cpf = new_customer(
            db,
            crm.admin,
            name="Por CPF",
            document=CPF,
            tags=[tag],
            contacts=[{"kind": "phone", "value": phones[0]}],
        )
        doc_cnpj = new_customer(
            db,
            crm.admin,
            name="Por CNPJ",
            document=CNPJ,
            tags=[tag],
            contacts=[{"kind": "phone", "value": phones[1]}],
        )
        by_phone = new_customer(
            db,
            crm.admin,
            name="Por Telefone",
            tags=[tag],
            contacts=[{"kind": "whatsapp", "value": phones[2]}],
        )
        by_email = new_customer(
            db,
            crm.admin,
            name="Por Email",
            tags=[tag],
            contacts=[{"kind": "email", "value": email}, {"kind": "phone", "value": phones[3]}],
        )
        channel = channels.create_channel(
            db,
            crm.admin,
            channels.ChannelIn(kind="sandbox_whatsapp", name=f"Lista {tag}", config={"fail_every": 2}),
        )
        db.commit()
        return {
            "tag": tag,
            "phones": phones,
            "email": email,
            "ids": [doc_cpf.id, doc_cnpj.id, by_phone.id, by_email.id],
            "channel": channel.id,
        }


def _csv(people: dict[str, object]) -> bytes:
    phones = people["phones"]
    lines = [
        "Nome;CPF/CNPJ;Celular;E-mail",
        f"a;{CPF[:3]}.{CPF[3:6]}.{CPF[6:9]}-{CPF[9:]};;",  # formatted CPF
        f"b;{CNPJ};;",
        f"c;;({phones[2][3:5]}) {phones[2][5:10]}-{phones[2][10:]};",  # national format
        f"d;;;{str(people['email']).upper()}",  # case folded like an import
        f"e;{CPF};;",  # the same customer again
        "f;123.456.789-00;;",  # bad check digits
        "g;;;",  # nothing
        f"h;;;ninguem.{uuid.uuid4().hex[:6]}@exemplo.com",  # nobody has it
    ]
    return "\n".join(lines).encode("utf-8")


def test_uploaded_list_matches_customers_and_explains_the_rest(
    client: TestClient, crm: Crm, people: dict[str, object]
) -> None:
    r = client.post("/api/campanhas/listas", files={"arquivo": ("clientes.csv", _csv(people), "text/csv")})
    assert r.status_code == 201, r.text
    got = r.json()
    assert (
        got["linhas"],
        got["encontrados"],
        got["nao_encontrados"],
        got["invalidos"],
        got["repetidos"],
    ) == (
        8,
        4,
        1,
        2,
        1,
    )
    reasons = {p["linha"]: p["motivo"] for p in got["problemas"]}
    assert reasons[6].startswith("Cliente repetido") and reasons[7].startswith("Valor inválido")
    assert reasons[8].startswith("Linha sem") and reasons[9].startswith("Nenhum cliente")
    # The preview counts the list's customers (the channel's medium: all four have a phone) and lists
    # the lines left out.
    body = {"nome": "Lista", "identidades": [people["channel"]], "corpo": "Oi {{primeiro_nome}}"}
    preview = client.post("/api/campanhas/previa", json={**body, "lista_id": got["id"]}).json()
    assert preview["counts"]["total"] == 4 and preview["counts"]["pending"] == 4
    assert preview["lista"]["nao_encontrados"] == 1 and len(preview["lista"]["problemas"]) == 4
    created = client.post(
        "/api/campanhas", json={**body, "lista_id": got["id"], "agendar_para": TOMORROW.isoformat()}
    )
    assert created.status_code == 201, created.text
    with session(crm.schema) as db:
        recipients = db.exec(
            select(CampaignRecipient.customer_id).where(CampaignRecipient.campaign_id == created.json()["id"])
        ).all()
        assert sorted(recipients) == sorted(people["ids"])
        assert db.get(Campaign, created.json()["id"]).audience == {"list_id": got["id"]}


def test_list_as_xlsx_and_within_the_uploaders_portfolio(
    client: TestClient, crm: Crm, people: dict[str, object]
) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["documento"])
    ws.append([int(CPF)])  # a number cell, as spreadsheets keep CPFs
    ws.append([CNPJ])
    buf = io.BytesIO()
    wb.save(buf)
    xlsx = ("lista.xlsx", buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    r = client.post("/api/campanhas/listas", files={"arquivo": xlsx})
    assert r.status_code == 201, r.text
    assert (r.json()["linhas"], r.json()["encontrados"]) == (2, 2)
    # A manager of another team sees neither customer: the list matches nobody for them.
    r = client.post("/api/campanhas/listas", files={"arquivo": xlsx}, headers={"x-as": "manager"})
    assert r.status_code == 201, r.text
    assert (r.json()["encontrados"], r.json()["nao_encontrados"]) == (0, 2)
    # Agents may not build campaigns; a list of another organisation is not found.
    assert (
        client.post("/api/campanhas/listas", files={"arquivo": xlsx}, headers={"x-as": "agent"}).status_code
        == 403
    )
    assert client.get("/api/campanhas/listas/999999").status_code == 404
    bad = client.post("/api/campanhas/listas", files={"arquivo": ("vazia.csv", b"", "text/csv")})
    assert bad.status_code == 422 and "vazio" in bad.text


def _deliver(schema: str) -> None:
    asyncio.run(outbox.deliver(schema))


def _feed_now(schema: str, cid: int) -> None:
    """The campaign's scheduled time has come: feed it now (its messages are due at once)."""
    with session(schema) as db:
        campaign = db.get(Campaign, cid)
        campaign.schedule_at = datetime.now(UTC) - timedelta(minutes=1)
        db.add(campaign)
        db.commit()
    with session(schema) as db:
        feeder.feed(db, cid)
        db.info.pop("enqueue_after_commit", None)  # the test delivers itself
        db.commit()


def _until_settled(schema: str, cid: int) -> None:
    """Feed and deliver until nothing of the campaign is pending or queued (the kicks the routes queue
    run in-process too and may hold some messages for a moment: exactly once holds either way)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with session(schema) as db:
            feeder.feed(db, cid)
            db.info.pop("enqueue_after_commit", None)
            db.commit()
        _deliver(schema)
        with session(schema) as db:
            c = counters.read(db.get(Campaign, cid).counts)
            if c["pending"] == c["queued"] == 0 and db.get(Campaign, cid).status == "done":
                return
        time.sleep(0.2)
    raise AssertionError("campaign did not settle")


def test_retry_failed_by_reason_never_resends_sent_or_uncertain(
    client: TestClient, crm: Crm, people: dict[str, object]
) -> None:
    r = client.post(
        "/api/campanhas",
        json={
            "nome": "Reenvio",
            "identidades": [people["channel"]],
            "corpo": "Oi {{primeiro_nome}}",
            "filtro": {"tags": [people["tag"]]},
            "agendar_para": TOMORROW.isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    _feed_now(crm.schema, cid)
    _deliver(crm.schema)
    with session(crm.schema) as db:
        msgs = db.exec(select(Message).where(Message.campaign_id == cid)).all()
        failed = sorted(m.id for m in msgs if m.status == "failed")
        assert len(msgs) == 4 and len(failed) == 2  # the sandbox fails even message ids
        # States the outbox produces elsewhere: one send settled from "uncertain" by the reaper (it may
        # have arrived), one accepted by the provider and reported failed afterwards.
        db.execute(
            text(f"UPDATE \"{crm.schema}\".messages SET error_code = 'uncertain' WHERE id = :id"),
            {"id": failed[0]},
        )
        sent = next(m for m in msgs if m.status in ("sent", "delivered", "read"))
        db.execute(
            text(
                f'UPDATE "{crm.schema}".messages '
                "SET status = 'failed', error_code = '131026' WHERE id = :id"
            ),
            {"id": sent.id},
        )
        counters.bump(db, cid, counters.transition(sent.status, "failed"))
        channel = db.get(Channel, people["channel"])
        channel.config = {**channel.config, "fail_every": 0}
        db.add(channel)
        db.commit()
    with session(crm.schema) as db:
        feeder.feed(db, cid)  # nothing left to feed: the campaign is done
        db.commit()
    reasons = client.get(f"/api/campanhas/{cid}/falhas").json()
    assert reasons == [{"motivo": "sandbox-fail", "descricao": reasons[0]["descricao"], "quantidade": 1}], (
        reasons
    )
    assert "recusou" in reasons[0]["descricao"]
    before = client.get(f"/api/campanhas/{cid}").json()
    assert before["status"] == "done" and before["counts"]["failed"] == 3
    nothing = client.post(f"/api/campanhas/{cid}/reenviar", json={"motivo": "131026"})
    assert nothing.status_code == 422 and "Não há falhas" in nothing.text
    assert (
        client.post(f"/api/campanhas/{cid}/reenviar", json={}, headers={"x-as": "agent"}).status_code == 403
    )
    r = client.post(f"/api/campanhas/{cid}/reenviar", json={"motivo": "sandbox-fail"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "running" and r.json()["counts"]["failed"] == 2
    assert r.json()["counts"]["pending"] + r.json()["counts"]["queued"] == 1
    _until_settled(crm.schema, cid)
    got = client.get(f"/api/campanhas/{cid}").json()
    assert got["status"] == "done"
    assert (
        got["counts"]["sent"],
        got["counts"]["failed"],
        got["counts"]["queued"],
        got["counts"]["pending"],
    ) == (
        2,
        2,
        0,
        0,
    )
    with session(crm.schema) as db:
        msgs = db.exec(select(Message).where(Message.campaign_id == cid)).all()
        by_status = Counter(m.status for m in msgs)
        assert len(msgs) == 5 and by_status["failed"] == 3 and by_status["read"] == 2
        retried = db.exec(
            select(CampaignRecipient).where(
                CampaignRecipient.campaign_id == cid, CampaignRecipient.generation == 1
            )
        ).all()
        assert len(retried) == 1
        new = db.get(Message, retried[0].message_id)
        assert new.sent_at is not None and new.idempotency_key == f"campaign:{cid}:{retried[0].id}:1"
        # Each recipient's address was handed to the provider once per accepted send, never twice.
        # The sandbox records every schema's sends: message ids alone repeat across the suite's tenants.
        ours = {(x.id, x.to_address) for x in msgs}
        accepted = Counter(m.to for m in sandbox.RECORDED if (m.message_id, m.to) in ours)
        assert all(n == 1 for n in accepted.values()) and len(accepted) == 3
    # A second retry of everything finds nothing retryable (uncertain and accepted ones stay failed).
    again = client.post(f"/api/campanhas/{cid}/reenviar", json={})
    assert again.status_code == 422


def test_campaign_attachment_goes_with_every_message(
    client: TestClient, crm: Crm, people: dict[str, object]
) -> None:
    with session(crm.schema) as db:
        channel = db.get(Channel, people["channel"])
        channel.config = {**channel.config, "fail_every": 0}
        db.add(channel)
        db.commit()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    up = client.post("/api/anexos", files={"arquivo": ("oferta.png", png, "image/png")})
    assert up.status_code == 201, up.text
    key = up.json()["key"]
    body = {
        "nome": "Com anexo",
        "identidades": [people["channel"]],
        "corpo": "Oferta para {{primeiro_nome}}",
        "filtro": {"tags": [people["tag"]]},
        "agendar_para": TOMORROW.isoformat(),
        "anexo": key,
    }
    r = client.post("/api/campanhas", json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert client.get(f"/api/campanhas/{cid}").json()["anexo"] == "oferta.png"
    foreign = client.post(
        "/api/campanhas", json={**body, "anexo": "attachments/t_other/" + "0" * 32 + "/x.png"}
    )
    assert foreign.status_code == 404
    _feed_now(crm.schema, cid)
    _deliver(crm.schema)
    with session(crm.schema) as db:
        ours = {
            (m.id, m.to_address) for m in db.exec(select(Message).where(Message.campaign_id == cid)).all()
        }
    sent = [m for m in sandbox.RECORDED if (m.message_id, m.to) in ours]
    assert len(sent) == 4
    assert all(
        m.kind == "image" and m.text.startswith("Oferta para") and m.attachments[0].data == png for m in sent
    )


def test_another_organisation_never_sees_a_list_or_its_customers(
    client: TestClient, crm: Crm, people: dict[str, object], make_tenant
) -> None:
    from app.campaigns import lists
    from app.errors import NotFound

    r = client.post("/api/campanhas/listas", files={"arquivo": ("clientes.csv", _csv(people), "text/csv")})
    assert r.status_code == 201, r.text
    list_id = r.json()["id"]
    other = make_tenant()
    actor = other.actor("admin")
    with session(other.schema) as db:
        with pytest.raises(NotFound):
            lists.get_list(db, actor, list_id)  # its schema has no such list
        # The same file uploaded there matches none of the first organisation's customers.
        path = Path(tempfile.mkdtemp()) / "clientes.csv"
        path.write_bytes(_csv(people))
        got = lists.upload_list(db, actor, "clientes.csv", path)
        assert got.encontrados == 0 and got.nao_encontrados == 6
        db.rollback()
