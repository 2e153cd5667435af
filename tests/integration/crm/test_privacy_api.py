"""REST: the consent ledger per customer, the LGPD access export and the erasure (anonymisation) on real
PostgreSQL: RBAC, visibility, what the erasure keeps (the opt-out proof) and what it clears."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.messaging import consent
from models.tenant import ConsentEvent, Contact, Customer, Note
from tenants.database import session
from tests.integration.crm.conftest import Crm, acting_client


@pytest.fixture(scope="module")
def client(crm: Crm) -> Iterator[TestClient]:
    with acting_client(crm, "admin") as c:
        yield c


def _customer(client: TestClient) -> tuple[int, str, str]:
    email = f"lgpd-{uuid.uuid4().hex[:6]}@exemplo.com.br"
    phone = f"+55119{uuid.uuid4().int % 10**8:08d}"
    r = client.post(
        "/api/clientes",
        json={
            "name": "Maria LGPD",
            "document": None,
            "contacts": [{"kind": "email", "value": email}, {"kind": "phone", "value": phone}],
        },
        headers={"x-as": "agent"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], email, phone


def test_consents_are_recorded_and_listed_per_customer(client: TestClient) -> None:
    cid, email, phone = _customer(client)
    r = client.post(
        f"/api/clientes/{cid}/consentimentos",
        json={"medium": "whatsapp", "address": phone, "status": "opt_in", "legal_basis": "contract"},
        headers={"x-as": "agent"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["legal_basis"] == "contract" and r.json()["source"] == "agent"
    r = client.post(
        f"/api/clientes/{cid}/consentimentos",
        json={"medium": "email", "address": email.upper(), "status": "opt_out", "note": "pediu por telefone"},
        headers={"x-as": "agent"},
    )
    assert r.status_code == 201, r.text
    rows = client.get(f"/api/clientes/{cid}/consentimentos", headers={"x-as": "agent"}).json()
    assert [(x["medium"], x["status"]) for x in rows] == [("email", "opt_out"), ("whatsapp", "opt_in")]
    # Someone else's address, a customer out of sight, a bad medium.
    bad = client.post(
        f"/api/clientes/{cid}/consentimentos",
        json={"medium": "email", "address": "outro@exemplo.com", "status": "opt_out"},
        headers={"x-as": "agent"},
    )
    assert bad.status_code == 422 and "não pertence" in bad.text
    assert client.get(f"/api/clientes/{cid}/consentimentos", headers={"x-as": "outsider"}).status_code == 404
    r = client.post(
        f"/api/clientes/{cid}/consentimentos",
        json={"medium": "sms", "address": phone, "status": "opt_out"},
        headers={"x-as": "agent"},
    )
    assert r.status_code == 422


def test_access_export_and_erasure_keep_the_opt_out_proof(client: TestClient, crm: Crm) -> None:
    cid, email, phone = _customer(client)
    client.post(
        f"/api/clientes/{cid}/notas", json={"body": "Cliente prefere e-mail"}, headers={"x-as": "agent"}
    )
    client.post(
        f"/api/clientes/{cid}/consentimentos",
        json={"medium": "email", "address": email, "status": "opt_out"},
        headers={"x-as": "agent"},
    )
    # Agents cannot export nor erase; admins can.
    assert client.get(f"/api/clientes/{cid}/dados", headers={"x-as": "agent"}).status_code == 403
    data = client.get(f"/api/clientes/{cid}/dados").json()
    assert data["cliente"]["name"] == "Maria LGPD"
    assert {c["value"] for c in data["contatos"]} == {email, phone}
    assert data["consentimentos"][0]["status"] == "opt_out"
    assert client.post(f"/api/clientes/{cid}/anonimizar", headers={"x-as": "agent"}).status_code == 403
    r = client.post(f"/api/clientes/{cid}/anonimizar")
    assert r.status_code == 200 and r.json() == {"id": cid, "anonymised": True}
    assert client.get(f"/api/clientes/{cid}").status_code == 404
    with session(crm.schema) as db:
        customer = db.get(Customer, cid)
        assert customer is not None and customer.name == "Titular anonimizado" and customer.deleted_at
        lines = db.exec(select(ConsentEvent).where(ConsentEvent.customer_id == cid)).all()
        assert lines and all(line.address is None for line in lines)
        # The address is still suppressed if it comes back.
        assert consent.is_opted_out(db, "email", email)
        assert not consent.is_opted_out(db, "whatsapp", phone)
        assert [n.body for n in db.exec(select(Note).where(Note.customer_id == cid)).all()] == [""]
        assert not db.exec(select(Contact).where(Contact.customer_id == cid)).first()


def test_erasure_deletes_the_files_of_the_conversations(client: TestClient, crm: Crm) -> None:
    from app.messaging import attachments
    from app.storage import get_storage
    from models.tenant import Conversation, Message

    cid, _email, _phone = _customer(client)
    photo = attachments.store(crm.schema, "rg.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    with session(crm.schema) as db:
        conv = Conversation(customer_id=cid, channel="whatsapp")
        db.add(conv)
        db.flush()
        db.add(Message(conversation_id=conv.id, direction="in", status="received", attachments=[photo]))
        db.commit()
    assert get_storage().exists(photo["key"])
    assert client.post(f"/api/clientes/{cid}/anonimizar").status_code == 200
    assert not get_storage().exists(photo["key"])
    with pytest.raises(Exception, match="Anexo não encontrado"):
        attachments.load(crm.schema, photo["key"])
