"""REST: chunked resumable upload, preview, create (JSON upload id or multipart), status, errors.csv,
presets, RBAC and tenant isolation."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from app.auth.actor import Actor

CSV = (
    "Nome;Telefone 1;E-mail;CPF/CNPJ\n"
    + "".join(f"Cliente {i};119{i:08d};c{i}@x.com;\n" for i in range(1, 301))
    + "Ruim;abc;;\n"
).encode()


@pytest.fixture
def client(tenant, make_tenant) -> Iterator[TestClient]:
    from app.api.deps import get_actor, get_upload_actor
    from app.api.main import api

    other = make_tenant()
    actors: dict[str, Actor] = {
        "admin": tenant.actor("admin"),
        "manager": tenant.actor("manager"),
        "agent": tenant.actor("agent"),
        "other": other.actor("admin"),
    }

    def fake_actor(request: Request) -> Actor:
        # Authentication has its own suite; the header picks a ready-made actor.
        return actors[request.headers.get("x-as", "admin")]

    def fake_upload_actor(request: Request) -> Actor:
        return fake_actor(request)

    api.dependency_overrides[get_actor] = fake_actor
    # The upload routes take a Bearer token or the page's Upload-Token grant (test_upload_grants.py).
    api.dependency_overrides[get_upload_actor] = fake_upload_actor
    with TestClient(api) as c:
        yield c
    api.dependency_overrides.pop(get_actor, None)
    api.dependency_overrides.pop(get_upload_actor, None)


def wait_done(client: TestClient, import_id: int, who: str = "admin") -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = client.get(f"/api/imports/{import_id}/status", headers={"x-as": who})
        assert r.status_code == 200, r.text
        if r.json()["state"] in ("done", "failed", "cancelled"):
            return r.json()
        time.sleep(0.1)
    raise AssertionError("import did not finish")


def test_chunked_resumable_upload_then_import(client: TestClient) -> None:
    r = client.post("/api/imports/uploads", json={"filename": "base.csv", "size": len(CSV)})
    assert r.status_code == 201, r.text
    up = r.json()["upload_id"]
    half = len(CSV) // 2
    r = client.patch(f"/api/imports/uploads/{up}", content=CSV[:half], headers={"Upload-Offset": "0"})
    assert r.json()["offset"] == half
    # The connection dropped: the client resends from a wrong offset and is told where to resume.
    r = client.patch(f"/api/imports/uploads/{up}", content=CSV[half:], headers={"Upload-Offset": "0"})
    assert r.status_code == 409 and "Posição" in r.json()["detail"]
    offset = client.get(f"/api/imports/uploads/{up}").json()["offset"]
    r = client.patch(
        f"/api/imports/uploads/{up}", content=CSV[offset:], headers={"Upload-Offset": str(offset)}
    )
    assert r.json()["offset"] == len(CSV)
    p = client.get(f"/api/imports/uploads/{up}/preview").json()
    assert p["headers"] == ["Nome", "Telefone 1", "E-mail", "CPF/CNPJ"]
    assert p["suggested"] == {
        "Nome": "name",
        "Telefone 1": "phone",
        "E-mail": "email",
        "CPF/CNPJ": "document",
    }
    r = client.post("/api/imports", json={"upload_id": up, "source": "erp", "dedupe": "merge"})
    assert r.status_code == 201, r.text
    status = wait_done(client, r.json()["id"])
    assert status["state"] == "done"
    assert (status["read"], status["valid"], status["invalid"], status["created"]) == (301, 300, 1, 300)
    assert status["errors"] == {"contato_invalido": 1} and status["progress"] == 1.0
    csv = client.get(f"/api/imports/{status['id']}/errors.csv")
    assert csv.status_code == 200 and "Ruim;abc" in csv.text
    listed = client.get("/api/imports").json()
    assert listed[0]["id"] == status["id"]


def test_multipart_upload_and_rbac(client: TestClient) -> None:
    files = {"file": ("base.csv", CSV, "text/csv")}
    r = client.post(
        "/api/imports",
        files=files,
        data={"source": "planilha", "default_ddd": "11"},
        headers={"x-as": "manager"},
    )
    assert r.status_code == 201, r.text
    import_id = r.json()["id"]
    assert wait_done(client, import_id, "manager")["created"] == 300
    assert client.post("/api/imports", files=files, headers={"x-as": "agent"}).status_code == 403
    assert client.get(f"/api/imports/{import_id}/status", headers={"x-as": "agent"}).status_code == 403
    # Another tenant never sees it (its own schema has no such row).
    assert client.get(f"/api/imports/{import_id}/status", headers={"x-as": "other"}).status_code == 404


def test_bad_input_is_422_pt_br(client: TestClient) -> None:
    r = client.post("/api/imports", files={"file": ("x.csv", b"", "text/csv")})
    assert r.status_code == 422 and "vazio" in r.json()["detail"]
    r = client.post("/api/imports", files={"file": ("x.csv", CSV, "text/csv")}, data={"dedupe": "x"})
    assert r.status_code == 422 and "dedupe" in r.json()["fields"]
    assert client.get("/api/imports/uploads/deadbeef").status_code == 404


def test_presets(client: TestClient) -> None:
    body = {"name": "ERP padrão", "source": "erp", "mapping": {"Fone": "phone", "Nome": "name"}}
    r = client.post("/api/imports/presets", json=body)
    assert r.status_code == 201, r.text
    assert (
        client.get("/api/imports/presets", params={"source": "erp"}).json()[0]["mapping"] == body["mapping"]
    )
    assert client.delete(f"/api/imports/presets/{r.json()['id']}").status_code == 204
    assert client.get("/api/imports/presets").json() == []
