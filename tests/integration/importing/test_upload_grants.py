"""The page's upload grant on the real REST routes: it resumes its own upload session and nothing else,
and it dies with the login session, the user or a forged signature."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.auth import sessions
from app.importing import jobs, upload_grants
from tenants.database import platform_session, unit_of_work
from tenants.database import session as session_of

CSV = ("Nome;Telefone\n" + "".join(f"Cliente {i};119{i:08d}\n" for i in range(1, 2001))).encode()


@pytest.fixture
def api_client() -> Iterator[TestClient]:
    from app.api.main import api

    with TestClient(api) as c:
        yield c


def _login(t) -> sessions.TokenPair:
    with platform_session() as db, unit_of_work(db):
        return sessions.login(db, t.slug, t.admin_email, t.password)


def test_grant_resumes_its_upload_only(api_client: TestClient, make_tenant) -> None:
    t = make_tenant()
    pair = _login(t)
    actor = t.actor("admin")
    with session_of(t.schema) as db:
        session = jobs.start_upload(db, actor, "base.csv", len(CSV))
        other = jobs.start_upload(db, actor, "outra.csv", len(CSV))
    token = upload_grants.issue(actor, pair.family, session.upload_id)
    url = f"/api/imports/uploads/{session.upload_id}"
    grant = {"Upload-Token": token}

    # No credentials at all: refused.
    assert api_client.get(url).status_code == 401
    # First slice, then a "dropped connection": the client asks where the server stopped.
    r = api_client.patch(url, content=CSV[:5000], headers={**grant, "Upload-Offset": "0"})
    assert r.status_code == 200, r.text
    assert api_client.get(url, headers=grant).json()["offset"] == 5000
    # A retried slice at a stale offset is refused with the real one (nothing written twice).
    r = api_client.patch(url, content=CSV[:5000], headers={**grant, "Upload-Offset": "0"})
    assert r.status_code == 409
    r = api_client.patch(url, content=CSV[5000:], headers={**grant, "Upload-Offset": "5000"})
    assert r.status_code == 200 and r.json()["offset"] == len(CSV)
    preview = jobs.preview_upload(None, actor, session.upload_id)
    assert preview.headers == ["Nome", "Telefone"]

    # The grant is for that session only, and cannot be altered.
    r = api_client.get(f"/api/imports/uploads/{other.upload_id}", headers=grant)
    assert r.status_code == 403
    payload, _, signature = token.partition(".")
    forged = upload_grants._b64(upload_grants._unb64(payload).replace(b'"u":"', b'"u":"x'))
    r = api_client.get(url, headers={"Upload-Token": f"{forged}.{signature}"})
    assert r.status_code == 401
    expired = upload_grants.issue(actor, pair.family, session.upload_id, ttl_s=-1)
    r = api_client.get(url, headers={"Upload-Token": expired})
    assert r.status_code == 401 and "expirou" in r.json()["detail"]

    # A user of another tenant cannot use it either way: a grant carries its tenant.
    stranger = make_tenant().actor("admin")
    with pytest.raises(Exception):  # noqa: B017 - NotFound: the session is not in their namespace
        jobs.upload_status(None, stranger, session.upload_id)

    # Logging out ends the grant with the login session.
    with platform_session() as db, unit_of_work(db):
        sessions.logout(db, actor, pair.family)
    assert api_client.get(url, headers=grant).status_code == 401


def test_grant_needs_import_permission(api_client: TestClient, make_tenant) -> None:
    t = make_tenant()
    admin = t.actor("admin")
    with session_of(t.schema) as db:
        session = jobs.start_upload(db, admin, "base.csv", len(CSV))
    # A grant minted for an agent (who may not import) is refused by the service on use.
    agent = t.actor("agent")
    token = upload_grants.issue(agent, None, session.upload_id)
    r = api_client.get(f"/api/imports/uploads/{session.upload_id}", headers={"Upload-Token": token})
    assert r.status_code == 403
