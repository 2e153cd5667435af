"""Agents' sends over REST: 202 and queued, then delivered by the outbox; refusals (opted out, missing
variable, no channel, no address, closed window) queue nothing; visibility; replies on the outbox."""

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app.messaging import channels, consent, outbox
from models.base import utcnow
from models.tenant import Conversation, Interaction, Message
from tenants.database import session
from tests.integration.crm.conftest import Crm
from tests.integration.messaging.conftest import as_


def phone() -> str:
    return "+55119" + str(uuid.uuid4().int)[:8]


def customer(api: TestClient, who: str = "agent", **fields: object) -> dict:
    body = {"name": f"Cliente {uuid.uuid4().hex[:6]}", "plan": "Controle 20 GB", **fields}
    body.setdefault(
        "contacts",
        [
            {"kind": "whatsapp", "value": phone()},
            {"kind": "email", "value": f"{uuid.uuid4().hex[:8]}@ex.com.br"},
        ],
    )
    r = api.post("/api/clientes", json=body, headers=as_(who))
    assert r.status_code == 201, r.text
    return r.json()


def delivered(api: TestClient, crm: Crm, message_id: int, timeout: float = 15.0) -> dict:
    """The message once the outbox has marked it (the kick after commit delivers it in-process)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = api.get(f"/api/mensagens/{message_id}", headers=as_("agent")).json()
        if msg["status"] not in ("queued", "reserved", "uncertain") or time.monotonic() > deadline:
            return msg
        asyncio.run(outbox.deliver(crm.schema))
        time.sleep(0.1)


def outbox_size(crm: Crm) -> int:
    with session(crm.schema) as db:
        return db.exec(select(func.count()).select_from(Message).where(Message.direction == "out")).one()


@pytest.fixture(scope="module")
def sandboxes(api: TestClient) -> dict[str, int]:
    ids = {}
    for kind, medium in (("sandbox_whatsapp", "whatsapp"), ("sandbox_email", "email")):
        r = api.post(
            "/api/canais", json={"kind": kind, "name": f"Teste {medium}", "config": {}, "is_default": True}
        )
        assert r.status_code == 201, r.text
        ids[medium] = r.json()["id"]
    return ids


def test_send_whatsapp_text_is_queued_then_delivered(
    api: TestClient, crm: Crm, sandboxes: dict[str, int]
) -> None:
    c = customer(api)
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-whatsapp",
        json={"texto": "Olá {{primeiro_nome}}!"},
        headers=as_("agent"),
    )
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] == "queued" and out["conversation_id"] and out["message_id"]
    msg = delivered(api, crm, out["message_id"])
    assert msg["status"] in ("sent", "delivered", "read") and msg["provider_message_id"].startswith(
        "sandbox-"
    )
    assert msg["body"] == f"Olá {c['name'].split()[0]}!"
    with session(crm.schema) as db:
        kinds = db.exec(select(Interaction.kind).where(Interaction.customer_id == c["id"])).all()
        conv = db.get(Conversation, out["conversation_id"])
        assert conv is not None and conv.channel_id == sandboxes["whatsapp"]
    assert "message_out" in kinds
    # Another agent's portfolio: invisible.
    assert api.get(f"/api/mensagens/{out['message_id']}", headers=as_("outsider")).status_code == 404
    assert (
        api.post(
            f"/api/clientes/{c['id']}/acoes/send-whatsapp", json={"texto": "x"}, headers=as_("outsider")
        ).status_code
        == 404
    )


def test_templates_render_and_missing_variables_refuse(
    api: TestClient, crm: Crm, sandboxes: dict[str, int]
) -> None:
    name = f"Fatura {uuid.uuid4().hex[:6]}"
    t = api.post(
        "/api/templates",
        json={"name": name, "channel": "whatsapp", "body": "Oi {{nome}}, seu plano {{plano_atual}}."},
        headers=as_("manager"),
    )
    assert t.status_code == 201, t.text
    c = customer(api)
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-whatsapp",
        json={"template_id": t.json()["id"]},
        headers=as_("agent"),
    )
    assert r.status_code == 202, r.text
    with session(crm.schema) as db:
        msg = db.get(Message, r.json()["message_id"])
        assert msg is not None and msg.body == f"Oi {c['name']}, seu plano Controle 20 GB."
        assert msg.variables["plano_atual"] == "Controle 20 GB"
    # No plan on file: the send is refused, nothing queued, never a literal {{plano_atual}}.
    bare = customer(api, plan=None)
    before = outbox_size(crm)
    r = api.post(
        f"/api/clientes/{bare['id']}/acoes/send-whatsapp",
        json={"template_id": t.json()["id"]},
        headers=as_("agent"),
    )
    assert r.status_code == 422 and "{{plano_atual}}" in r.text, r.text
    assert outbox_size(crm) == before
    # The value can be given with the send.
    r = api.post(
        f"/api/clientes/{bare['id']}/acoes/send-whatsapp",
        json={"template_id": t.json()["id"], "variaveis": {"plano_atual": "Pós 50 GB"}},
        headers=as_("agent"),
    )
    assert r.status_code == 202


def test_opted_out_contact_is_refused(api: TestClient, crm: Crm, sandboxes: dict[str, int]) -> None:
    c = customer(api)
    number = next(x["value"] for x in c["contacts"] if x["kind"] == "whatsapp") if c.get("contacts") else None
    with session(crm.schema) as db:
        if number is None:
            from models.tenant import Contact

            number = db.exec(
                select(Contact.value).where(Contact.customer_id == c["id"], Contact.kind == "whatsapp")
            ).one()
        consent.opt_out(db, medium="whatsapp", address=number, source="keyword", customer_id=c["id"])
        db.commit()
    before = outbox_size(crm)
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-whatsapp", json={"texto": "promo"}, headers=as_("agent")
    )
    assert r.status_code == 409 and "descadastrado" in r.text
    assert outbox_size(crm) == before
    # E-mail is another medium: still allowed.
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-email",
        json={"assunto": "Olá {{nome}}", "html": "<p>Oi</p>"},
        headers=as_("agent"),
    )
    assert r.status_code == 202, r.text


def test_send_email_direct_and_bad_input(api: TestClient, crm: Crm, sandboxes: dict[str, int]) -> None:
    c = customer(api)
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-email",
        json={"assunto": "Sua fatura, {{primeiro_nome}}", "html": "<p>Plano <b>{{plano_atual}}</b></p>"},
        headers=as_("agent"),
    )
    assert r.status_code == 202, r.text
    with session(crm.schema) as db:
        msg = db.get(Message, r.json()["message_id"])
        assert msg is not None and msg.kind == "email" and msg.html == "<p>Plano <b>Controle 20 GB</b></p>"
        assert msg.subject.startswith("Sua fatura, ") and msg.body == "Plano Controle 20 GB"
    assert (
        api.post(
            f"/api/clientes/{c['id']}/acoes/send-email", json={"assunto": "x"}, headers=as_("agent")
        ).status_code
        == 422
    )
    assert (
        api.post(f"/api/clientes/{c['id']}/acoes/send-email", json={}, headers=as_("agent")).status_code
        == 422
    )
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-whatsapp",
        json={"texto": "x", "canal_id": sandboxes["email"]},
        headers=as_("agent"),
    )
    assert r.status_code == 422 and "não envia WhatsApp" in r.text
    no_mail = customer(api, contacts=[{"kind": "whatsapp", "value": phone()}])
    r = api.post(
        f"/api/clientes/{no_mail['id']}/acoes/send-email",
        json={"assunto": "a", "html": "b"},
        headers=as_("agent"),
    )
    assert r.status_code == 422 and "não tem e-mail" in r.text


def test_idempotency_key_header(api: TestClient, sandboxes: dict[str, int]) -> None:
    c = customer(api)
    key = {"Idempotency-Key": uuid.uuid4().hex, **as_("agent")}
    a = api.post(f"/api/clientes/{c['id']}/acoes/send-whatsapp", json={"texto": "Oi"}, headers=key).json()
    b = api.post(f"/api/clientes/{c['id']}/acoes/send-whatsapp", json={"texto": "Oi"}, headers=key).json()
    assert a["message_id"] == b["message_id"]


def test_no_channel_and_closed_window(crm: Crm, make_tenant) -> None:
    from app.crm.customers import CustomerIn, create_customer
    from app.errors import Conflict
    from app.messaging import sending

    other = make_tenant()
    admin = other.actor("admin")
    with session(other.schema) as db:
        c = create_customer(
            db,
            admin,
            CustomerIn.model_validate(
                {"name": "Sem canal", "contacts": [{"kind": "whatsapp", "value": phone()}]}
            ),
        )
        with pytest.raises(Conflict) as err:
            sending.send_whatsapp(db, admin, c.id, sending.SendWhatsAppIn(texto="Oi"))
        assert "Nenhum canal de WhatsApp" in err.value.message
        cloud = channels.create_channel(
            db,
            admin,
            channels.ChannelIn(
                kind="whatsapp_cloud",
                name="Cloud",
                config={
                    "phone_number_id": uuid.uuid4().hex[:12],
                    "waba_id": "1",
                    "access_token": "t",
                    "app_secret": "s",
                    "verify_token": "v",
                },
            ),
        )
        with pytest.raises(Conflict) as err:
            sending.send_whatsapp(db, admin, c.id, sending.SendWhatsAppIn(texto="Oi", canal_id=cloud.id))
        assert "janela de 24 horas" in err.value.message
        # Inside the window (the customer wrote an hour ago) free text goes.
        conv = Conversation(
            customer_id=c.id,
            channel="whatsapp",
            channel_id=cloud.id,
            last_inbound_at=utcnow() - timedelta(hours=1),
        )
        db.add(conv)
        db.flush()
        msg = sending.send_whatsapp(db, admin, c.id, sending.SendWhatsAppIn(texto="Oi"))
        assert msg.conversation_id == conv.id and msg.channel_id == cloud.id
        db.rollback()


def test_conversation_reply_goes_through_the_outbox(
    api: TestClient, crm: Crm, sandboxes: dict[str, int]
) -> None:
    c = customer(api)
    first = api.post(
        f"/api/clientes/{c['id']}/acoes/send-whatsapp", json={"texto": "Oi"}, headers=as_("agent")
    ).json()
    r = api.post(
        f"/api/conversas/{first['conversation_id']}/responder",
        json={"body": "Tudo certo?"},
        headers=as_("agent"),
    )
    assert r.status_code == 201, r.text
    msg = delivered(api, crm, r.json()["id"])
    assert msg["status"] in ("sent", "delivered", "read") and msg["channel_id"] == sandboxes["whatsapp"]


def test_attachments_go_with_the_message_and_bad_keys_queue_nothing(
    api: TestClient, crm: Crm, sandboxes: dict[str, int]
) -> None:
    from app.messaging.adapters import sandbox

    pdf = b"%PDF-1.7\n" + b"0" * 200
    up = api.post(
        "/api/anexos", files={"arquivo": ("fatura.pdf", pdf, "application/pdf")}, headers=as_("agent")
    )
    assert up.status_code == 201, up.text
    key = up.json()["key"]
    c = customer(api)
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-whatsapp",
        json={"texto": "Sua fatura", "anexo": key},
        headers=as_("agent"),
    )
    assert r.status_code == 202, r.text
    msg = delivered(api, crm, r.json()["message_id"])
    assert msg["status"] in ("sent", "delivered", "read")
    sent = next(m for m in reversed(list(sandbox.RECORDED)) if m.message_id == r.json()["message_id"])
    assert sent.kind == "document" and sent.text == "Sua fatura"
    assert [(a.filename, a.content_type, a.data) for a in sent.attachments] == [
        ("fatura.pdf", "application/pdf", pdf)
    ]
    # Another organisation's key (or a made-up one) is a 404 and nothing is queued.
    before = outbox_size(crm)
    bad = key.replace(crm.schema, "t_zz")
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-email",
        json={"assunto": "Fatura", "html": "<p>Segue</p>", "anexo": bad},
        headers=as_("agent"),
    )
    assert r.status_code == 404 and outbox_size(crm) == before
    r = api.post(
        f"/api/clientes/{c['id']}/acoes/send-email",
        json={"assunto": "Fatura", "html": "<p>Segue</p>", "anexo": key},
        headers=as_("agent"),
    )
    assert r.status_code == 202, r.text
    got = delivered(api, crm, r.json()["message_id"])
    assert got["status"] in ("sent", "delivered", "read"), got
    mail = next(m for m in reversed(list(sandbox.RECORDED)) if m.message_id == got["id"])
    assert mail.attachments[0].data == pdf
