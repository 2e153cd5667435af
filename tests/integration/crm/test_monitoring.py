"""Monitoramento and /metrics: identity usage against its limits, the outbox, e-mail domain rates per day;
/metrics needs its token (404 without one configured, 401 with a wrong one) and labels every tenant."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.errors import Forbidden
from app.messaging import health
from app.messaging.governor import Policy, get_governor
from app.messaging.kinds import KINDS
from app.messaging.limits import identity_for
from models.tenant import Channel, Conversation, Message
from tests.integration.crm.conftest import Crm, new_customer


def test_snapshot_shows_usage_limits_and_domain_rates(db: Session, crm: Crm) -> None:
    domain = f"m{uuid.uuid4().hex[:6]}.com.br"
    wa = Channel(
        kind="sandbox_whatsapp", medium="whatsapp", name="WA teste", config={"messages_per_second": 5}
    )
    mail = Channel(
        kind="smtp", medium="email", name="SMTP", config={"from_email": f"x@{domain}", "host": "h"}
    )
    db.add_all([wa, mail])
    db.flush()
    ident = identity_for(crm.schema, wa.id or 0, KINDS["sandbox_whatsapp"].config.model_construct())
    now = datetime.now(UTC).timestamp()
    get_governor().reserve(ident, "+5511999990000", Policy(daily_cap=10), now)
    c = new_customer(db, crm.agent)
    conv = Conversation(customer_id=c.id, channel="email", channel_id=mail.id)
    db.add(conv)
    db.flush()
    for i in range(4):
        db.add(
            Message(
                conversation_id=conv.id,
                direction="out",
                status="failed" if i == 0 else "sent",
                error_code="bounced" if i == 0 else None,
                channel_id=mail.id,
                sent_at=datetime.now(UTC),
            )
        )
    db.add(Message(conversation_id=conv.id, direction="out", status="queued", channel_id=mail.id))
    db.flush()
    snap = health.snapshot(db, crm.admin)
    assert snap.outbox["queued"] >= 1 and snap.queue_backend == "in-process" and snap.workers is None
    row = next(i for i in snap.identities if i.channel_id == wa.id)
    assert row.sends_24h == 1 and row.rate_per_s == 5
    day = next(d for d in snap.domains if d.domain == domain)
    assert (day.sent, day.bounced, day.bounce_rate) == (4, 1, 0.25)
    with pytest.raises(Forbidden):
        health.snapshot(db, crm.agent)


@pytest.fixture
def metrics_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    from app.api.main import api
    from app.settings import get_settings

    monkeypatch.setenv("METRICS_TOKEN", "segredo-das-metricas")
    get_settings.cache_clear()
    with TestClient(api) as c:
        yield c
    monkeypatch.undo()
    get_settings.cache_clear()


def test_metrics_need_the_token_and_label_tenants(metrics_client: TestClient, crm: Crm) -> None:
    assert metrics_client.get("/metrics").status_code == 401
    assert metrics_client.get("/metrics", headers={"Authorization": "Bearer errado"}).status_code == 401
    r = metrics_client.get("/metrics", headers={"Authorization": "Bearer segredo-das-metricas"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert f'crm_campaigns_active{{tenant="{crm.slug}"}}' in r.text
    assert f'crm_outbox_messages{{status="queued",tenant="{crm.slug}"}}' in r.text


def test_metrics_do_not_exist_without_a_token() -> None:
    from app.api.main import api

    with TestClient(api) as c:
        assert c.get("/metrics").status_code == 404
