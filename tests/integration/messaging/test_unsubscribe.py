"""Unsubscribe links over HTTP: the List-Unsubscribe headers, the pt-BR page (GET never opts out) and the
RFC 8058 one-click POST that opts the address out at once, evidence and audit included."""

import uuid

import httpx
from sqlmodel import select

from app.messaging import consent
from app.messaging.unsubscribe import list_unsubscribe_headers
from app.settings import get_settings
from models.tenant import AuditLog, ConsentEvent
from tenants.database import session
from tests.integration.messaging.conftest import MailTenant


def _link(live_url: str, tenant_id: int, address: str) -> str:
    header = list_unsubscribe_headers(tenant_id, address)["List-Unsubscribe"]
    path = header.strip("<>").split("/u/", 1)[1]
    return f"{live_url}/u/{path}"


def test_headers_point_at_public_url(mail_tenant: MailTenant, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "public_url", "https://crm.exemplo.com.br/")
    headers = list_unsubscribe_headers(mail_tenant.handle.id, "Ana@Cliente.example")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = headers["List-Unsubscribe"]
    assert link.startswith("<https://crm.exemplo.com.br/u/") and link.endswith(">")
    assert "ana@" not in link.lower()
    token = link[len("<https://crm.exemplo.com.br/u/") : -1]
    assert consent.read_unsubscribe_token(token) == (mail_tenant.handle.id, "email", "ana@cliente.example")


def test_get_shows_the_page_and_changes_nothing(live_url: str, mail_tenant: MailTenant) -> None:
    address = f"ana-{uuid.uuid4().hex[:6]}@cliente.example"
    r = httpx.get(_link(live_url, mail_tenant.handle.id, address), timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert (
        r.headers["cache-control"] == "no-store" and '<meta name="referrer" content="no-referrer">' in r.text
    )
    assert "Cancelar inscrição" in r.text and "Confirmar descadastro" in r.text
    assert mail_tenant.handle.tenant.name in r.text
    assert address not in r.text and address[:2] + "***@cliente.example" in r.text
    with session(mail_tenant.schema) as db:
        assert not consent.is_opted_out(db, "email", address)


def test_one_click_post_opts_out_at_once(live_url: str, mail_tenant: MailTenant) -> None:
    address = f"bia-{uuid.uuid4().hex[:6]}@cliente.example"
    link = _link(live_url, mail_tenant.handle.id, address)
    # As Gmail sends it (RFC 8058): form-encoded body, no cookies, no login.
    r = httpx.post(
        link,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded", "user-agent": "GoogleOneClick/1.0"},
        timeout=10,
    )
    assert r.status_code == 200 and "Descadastro confirmado" in r.text
    with session(mail_tenant.schema) as db:
        assert consent.is_opted_out(db, "email", address)
        [line] = db.exec(select(ConsentEvent).where(ConsentEvent.address == address)).all()
        assert line.source == "unsubscribe_link" and line.status == "opt_out"
        assert line.evidence == {"ip": "127.0.0.1", "user_agent": "GoogleOneClick/1.0", "one_click": True}
        assert db.exec(
            select(AuditLog).where(AuditLog.action == "consent.opt_out", AuditLog.entity_id == str(line.id))
        ).first()
    # Again (a second click, a retried POST): still 200, no second ledger line.
    again = httpx.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert again.status_code == 200
    page = httpx.get(link, timeout=10)
    assert "Descadastro confirmado" in page.text and "Confirmar descadastro" not in page.text
    with session(mail_tenant.schema) as db:
        assert len(db.exec(select(ConsentEvent).where(ConsentEvent.address == address)).all()) == 1


def test_forged_or_altered_tokens_are_404_pages(live_url: str, mail_tenant: MailTenant) -> None:
    link = _link(live_url, mail_tenant.handle.id, "c@cliente.example")
    for url in (link[:-6] + "AAAAAA", f"{live_url}/u/nada", f"{live_url}/u/{'A' * 200}"):
        for method in ("GET", "POST"):
            r = httpx.request(method, url, timeout=10)
            assert r.status_code == 404 and "Link inválido" in r.text, (method, url)
    # A token for a tenant that does not exist (or no longer is active).
    ghost = _link(live_url, mail_tenant.handle.id + 10_000, "c@cliente.example")
    assert httpx.post(ghost, timeout=10).status_code == 404
