"""Template sync from the WABA (Cloud API simulator over HTTP) and the mapping to our variables."""

import secrets
from collections.abc import Iterator

import pytest
from sqlmodel import select

from app.messaging.cloud_templates import apply_mapping, fetch, positional_count
from app.messaging.kinds import WhatsAppCloudConfig
from models.tenant import Template
from tenants.database import session
from tests.integration.messaging.whatsapp_support import add_cloud_channel
from tests.simulators.whatsapp_cloud import CloudApiSimulator, running
from tests.simulators.whatsapp_cloud import Template as MetaTemplate


@pytest.fixture
def sim() -> Iterator[CloudApiSimulator]:
    with running(phone_number_id=str(10**14 + secrets.randbelow(10**14))) as s:
        s.templates = [
            MetaTemplate("fatura_vencendo", body="Olá {{1}}, sua fatura de {{2}} vence amanhã."),
            MetaTemplate("boas_vindas", body="Bem-vindo à nossa rede!", category="UTILITY"),
            MetaTemplate("promo", body="Oferta para {{1}}", status="REJECTED"),
            MetaTemplate("promo", language="en_US", body="Offer for {{1}}", status="PENDING"),
        ]
        yield s


def _config(sim: CloudApiSimulator) -> WhatsAppCloudConfig:
    return WhatsAppCloudConfig(
        phone_number_id=sim.phone_number_id,
        waba_id=sim.waba_id,
        access_token=sim.access_token,
        app_secret="x",
        verify_token="y",
        api_base_url=sim.url,
    )


def test_fetch_follows_paging(sim) -> None:
    found = fetch(_config(sim), page_size=3)
    assert [t["name"] for t in found] == ["fatura_vencendo", "boas_vindas", "promo", "promo"]
    pages = [r for r in sim.requests if r["path"].endswith("/message_templates")]
    assert len(pages) == 2 and pages[0]["headers"]["authorization"] == f"Bearer {sim.access_token}"


def test_positional_helpers() -> None:
    assert positional_count("Olá {{1}}, {{2}} e {{ 3 }}") == 3
    assert positional_count("sem variáveis") == 0
    assert (
        apply_mapping("Olá {{1}}, fatura {{2}}", ["nome", "plano_atual"])
        == "Olá {{nome}}, fatura {{plano_atual}}"
    )


def test_sync_upserts_and_mapping_survives_a_resync(client, tenant, sim, auth_headers) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    headers = auth_headers(tenant)
    first = client.post(f"/api/canais/{channel_id}/modelos/sincronizar", headers=headers)
    assert first.status_code == 200, first.text
    report = first.json()
    assert sorted(report["created"]) == sorted(
        ["fatura_vencendo (pt_BR)", "boas_vindas (pt_BR)", "promo (pt_BR)", "promo (en_US)"]
    )
    assert sorted(report["unmapped"]) == ["fatura_vencendo (pt_BR)", "promo (en_US)", "promo (pt_BR)"]
    with session(tenant.schema) as db:
        rows = {(t.provider_name, t.language): t for t in db.exec(select(Template)).all()}
    fatura = rows[("fatura_vencendo", "pt_BR")]
    assert (fatura.channel, fatura.approval_status, fatura.variables) == ("whatsapp", "APPROVED", [])
    assert rows[("promo", "pt_BR")].approval_status == "REJECTED"

    url = f"/api/modelos/{fatura.id}/mapeamento"
    wrong = client.put(url, json={"variables": ["nome"]}, headers=headers)
    assert wrong.status_code == 422 and "2 variáveis" in wrong.json()["fields"]["variables"]
    unknown = client.put(
        f"/api/modelos/{fatura.id}/mapeamento", json={"variables": ["nome", "xyz"]}, headers=headers
    )
    assert unknown.status_code == 422
    mapped = client.put(
        f"/api/modelos/{fatura.id}/mapeamento", json={"variables": ["nome", "plano_atual"]}, headers=headers
    )
    assert mapped.status_code == 200, mapped.text
    assert mapped.json()["body"] == "Olá {{nome}}, sua fatura de {{plano_atual}} vence amanhã."

    # Meta approves the pending one; the mapped template is kept as is.
    sim.templates[3].status = "APPROVED"
    again = client.post(f"/api/canais/{channel_id}/modelos/sincronizar", headers=headers).json()
    assert again["created"] == [] and again["updated"] == ["promo (en_US)"] and again["unchanged"] == 3
    with session(tenant.schema) as db:
        kept = db.get(Template, fatura.id)
        assert kept is not None and kept.variables == ["nome", "plano_atual"]

    # Meta changes the body's parameter count: the old mapping no longer fits and is dropped.
    sim.templates[0].body = "Olá {{1}}, fatura de {{2}} com vencimento {{3}}."
    changed = client.post(f"/api/canais/{channel_id}/modelos/sincronizar", headers=headers).json()
    assert (
        "fatura_vencendo (pt_BR)" in changed["updated"] and "fatura_vencendo (pt_BR)" in changed["unmapped"]
    )


def test_sync_needs_permission_and_a_working_token(client, tenant, sim, auth_headers) -> None:
    channel_id = add_cloud_channel(tenant, sim)
    agent = client.post(
        f"/api/canais/{channel_id}/modelos/sincronizar", headers=auth_headers(tenant, "agent")
    )
    assert agent.status_code == 403
    sim.expire_token()
    refused = client.post(f"/api/canais/{channel_id}/modelos/sincronizar", headers=auth_headers(tenant))
    assert refused.status_code == 503 and "token" in refused.json()["detail"]
