"""Issue 12, items 4, 6 and 10, over real HTTP against uvicorn (threads for the races):

- 4: the transaction commits before the response is sent (read-your-write, revocation at once) and a
  commit that fails is a 5xx, never a 2xx followed by lost data;
- 6: bad input is a 4xx with the usual pt-BR body, never a 500;
- 10: the OpenAPI document declares the real error model, the statuses and a response model per route.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tenants.database import session
from tests.conftest import TenantHandle, api_login

TOO_BIG = 99_999_999_999  # beyond PostgreSQL's integer
WAY_TOO_BIG = 2**70  # beyond bigint


@pytest.fixture
def org(make_tenant) -> TenantHandle:
    return make_tenant()


@pytest.fixture
def admin(http: httpx.Client, org: TenantHandle) -> dict[str, str]:
    return api_login(http, org)


def assert_error_body(r: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "fields"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["fields"], dict)
    return body


# ---------------------------------------------------------------- item 4: commit before the response


def test_create_then_get_never_404(live_url: str, http: httpx.Client, admin: dict[str, str]) -> None:
    """A write's response means it is committed: a read on another connection right after finds it."""

    def round_trips(n: int) -> list[str]:
        misses = []
        # Two connections: the read must not wait behind the write's connection.
        with (
            httpx.Client(base_url=live_url, headers=admin, timeout=30) as writer,
            httpx.Client(base_url=live_url, headers=admin, timeout=30) as reader,
        ):
            for i in range(n):
                created = writer.post("/api/clientes", json={"name": f"RW {i}"})
                assert created.status_code == 201, created.text
                if reader.get(f"/api/clientes/{created.json()['id']}").status_code != 200:
                    misses.append(created.json()["id"])
        return misses

    with ThreadPoolExecutor(4) as pool:
        misses = [m for found in pool.map(round_trips, [75] * 4) for m in found]
    assert misses == []


def test_revoked_client_token_is_refused_at_once(http: httpx.Client, admin: dict[str, str]) -> None:
    for _ in range(10):
        created = http.post(
            "/api/api-clients", json={"name": "ERP", "scopes": ["customers:read"]}, headers=admin
        )
        assert created.status_code == 201, created.text
        creds = created.json()
        token = http.post(
            "/api/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
            },
        )
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert http.get("/api/clientes", headers=bearer).status_code == 200
        assert http.delete(f"/api/api-clients/{creds['client_id']}", headers=admin).status_code == 204
        assert http.get("/api/clientes", headers=bearer).status_code == 401


@pytest.fixture
def failing_commit(org: TenantHandle) -> Iterator[str]:
    """A deferred constraint trigger: tags named like the returned prefix fail at COMMIT, not before."""
    schema = org.schema
    with session(schema) as db:
        db.execute(
            text(
                f"""
                CREATE FUNCTION "{schema}".fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.name LIKE 'commit-fails%' THEN
                        RAISE EXCEPTION 'deferred check failed';
                    END IF;
                    RETURN NULL;
                END $$;
                CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON "{schema}".tags
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "{schema}".fail_at_commit();
                """
            )
        )
        db.commit()
    yield "commit-fails"


def test_failed_commit_is_a_5xx_and_nothing_is_kept(
    http: httpx.Client, admin: dict[str, str], failing_commit: str
) -> None:
    r = http.post("/api/etiquetas", json={"name": f"{failing_commit}-1"}, headers=admin)
    body = assert_error_body(r, 500)
    assert body["error"] == "internal"
    names = [t["name"] for t in http.get("/api/etiquetas", headers=admin).json()]
    assert f"{failing_commit}-1" not in names
    # The connection and the pool are fine afterwards.
    assert http.post("/api/etiquetas", json={"name": "depois"}, headers=admin).status_code == 201


# ---------------------------------------------------------------- item 6: bad input is a 4xx


def _nested(depth: int) -> str:
    """{"min": {"min": ... 1 ...}} as JSON text (json.dumps itself stops at Python's recursion limit)."""
    return '{"min":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", f"/api/clientes?score_min={TOO_BIG}", {}),
        ("GET", f"/api/clientes?score_max=-{TOO_BIG}", {}),
        ("GET", f"/api/clientes?owner_id={WAY_TOO_BIG}", {}),
        ("GET", f"/api/clientes?wallet_id={WAY_TOO_BIG}", {}),
        ("GET", f"/api/clientes?segment_id={WAY_TOO_BIG}", {}),
        ("GET", f"/api/clientes/{WAY_TOO_BIG}", {}),
        ("GET", f"/api/clientes/{WAY_TOO_BIG}/timeline", {}),
        ("PUT", f"/api/etiquetas/{WAY_TOO_BIG}", {"json": {"name": "x"}}),
        ("GET", f"/api/agenda?day=2026-01-01&owner_id={WAY_TOO_BIG}", {}),
        ("POST", "/api/clientes", {"json": {"name": "X", "owner_id": WAY_TOO_BIG}}),
        ("POST", "/api/clientes/contagem", {"json": {"score_min": TOO_BIG}}),
        ("POST", "/api/oportunidades/1/mover", {"json": {"stage_id": 1, "position": TOO_BIG}}),
        ("POST", "/api/campos", {"json": {"key": "k", "label": "K", "type": "number", "position": TOO_BIG}}),
        ("GET", "/api/clientes?q=" + "a" * 201, {}),
        ("GET", "/api/audit?limit=-1", {}),
        ("GET", "/api/audit?limit=100000", {}),
        ("GET", "/api/clientes", {"params": {"custom": '{"porte":' + _nested(2000) + "}"}}),
        ("GET", "/api/clientes", {"params": {"custom": "[" * 3000}}),
        ("POST", "/api/clientes/contagem", {"json": {"custom": {"porte": json.loads(_nested(50))}}}),
        ("POST", "/api/clientes/1/notas", {"json": {"body": "a\u0000b"}}),
        ("DELETE", "/api/api-clients/abc%00def", {}),
        ("POST", "/api/segmentos", {"json": {"name": "Grande", "filters": {"score_min": TOO_BIG}}}),
        ("POST", "/api/clientes/exportar", {"json": {"filter": {"score_min": TOO_BIG}}}),
        ("POST", "/api/clientes/exportar", {"json": {"ids": [WAY_TOO_BIG]}}),
        (
            "POST",
            "/api/clientes/acoes-em-massa",
            {"json": {"action": "assign_owner", "value": WAY_TOO_BIG, "ids": [1]}},
        ),
    ],
)
def test_bad_input_is_a_4xx_with_the_error_body(
    http: httpx.Client, admin: dict[str, str], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    r = http.request(method, path, headers=admin, **kwargs)
    assert_error_body(r, (400, 404, 422))


def test_deeply_nested_json_body_is_a_400(http: httpx.Client, admin: dict[str, str]) -> None:
    raw = '{"custom": {"porte": ' + _nested(2000) + "}}"
    r = http.post(
        "/api/clientes/contagem", content=raw, headers={**admin, "Content-Type": "application/json"}
    )
    assert_error_body(r, (400, 422))


@pytest.mark.parametrize(
    "body",
    [
        {"tenant": "a\u0000b", "email": "x@y.com", "password": "x"},
        {"tenant": None, "email": "x\u0000@y.com", "password": "x"},
        {"email": "x@y.com", "password": "p\u0000"},
    ],
)
def test_nul_bytes_on_the_public_login_are_a_422(http: httpx.Client, body: dict[str, Any]) -> None:
    body_ = assert_error_body(http.post("/api/auth/login", json=body), 422)
    assert body_["fields"]


def test_nul_byte_in_client_id_is_a_422(http: httpx.Client) -> None:
    r = http.post(
        "/api/auth/token",
        data={"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "s"},
    )
    assert assert_error_body(r, 422)["fields"] == {"client_id": "Texto com caractere inválido."}


def test_nul_byte_in_a_note_names_the_field(http: httpx.Client, admin: dict[str, str]) -> None:
    customer = http.post("/api/clientes", json={"name": "Nota"}, headers=admin).json()
    r = http.post(f"/api/clientes/{customer['id']}/notas", json={"body": "ok\u0000"}, headers=admin)
    assert assert_error_body(r, 422)["fields"] == {"body": "Texto com caractere inválido."}


def test_out_of_range_score_names_the_field(http: httpx.Client, admin: dict[str, str]) -> None:
    r = http.get(f"/api/clientes?score_min={TOO_BIG}", headers=admin)
    assert assert_error_body(r, 422)["fields"] == {"score_min": "Valor acima do máximo permitido."}


def test_simultaneous_tags_with_one_name_are_one_201_and_409s(live_url: str, admin: dict[str, str]) -> None:
    for round_ in range(5):
        name = f"corrida-{round_}-{uuid.uuid4().hex[:6]}"
        barrier = threading.Barrier(4)

        def create(_: int, name: str = name, barrier: threading.Barrier = barrier) -> httpx.Response:
            with httpx.Client(base_url=live_url, headers=admin, timeout=30) as c:
                barrier.wait()
                return c.post("/api/etiquetas", json={"name": name})

        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(create, range(4)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409, 409, 409], [r.text for r in responses]
        for r in responses:
            if r.status_code == 409:
                assert assert_error_body(r, 409)["fields"] == {"name": r.json()["detail"]}


def test_a_stored_bad_segment_filter_is_a_422_naming_the_field(
    http: httpx.Client, admin: dict[str, str], org: TenantHandle
) -> None:
    """Segments saved before the bounds existed: reading them names the broken field."""
    created = http.post("/api/segmentos", json={"name": "Velho", "filters": {"score_min": 10}}, headers=admin)
    assert created.status_code == 201, created.text
    segment_id = created.json()["id"]
    with session(org.schema) as db:
        db.execute(
            text(
                f'UPDATE "{org.schema}".segments SET filters = \'{{"score_min": {TOO_BIG}}}\' WHERE id = :id'
            ),
            {"id": segment_id},
        )
        db.commit()
    for path in (f"/api/segmentos/{segment_id}/clientes", f"/api/clientes?segment_id={segment_id}"):
        body = assert_error_body(http.get(path, headers=admin), 422)
        assert body["fields"] == {"filters.score_min": "Valor acima do máximo permitido."}
    # The list of segments still loads, so the team can fix or delete it.
    assert http.get("/api/segmentos", headers=admin).status_code == 200
    assert http.delete(f"/api/segmentos/{segment_id}", headers=admin).status_code == 204


def test_export_validates_before_streaming(http: httpx.Client, admin: dict[str, str]) -> None:
    r = http.post("/api/clientes/exportar", json={"filter": {"score_min": TOO_BIG}}, headers=admin)
    assert assert_error_body(r, 422)["fields"] == {"filter.score_min": "Valor acima do máximo permitido."}
    ok = http.post("/api/clientes/exportar", json={"filter": {"score_min": 0}}, headers=admin)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/csv")


def test_unknown_routes_and_methods_answer_the_error_body(http: httpx.Client) -> None:
    assert assert_error_body(http.get("/api/nada"), 404)["error"] == "not_found"
    assert assert_error_body(http.put("/api/health"), 405)["error"] == "method_not_allowed"


# ---------------------------------------------------------------- item 10: the OpenAPI document


@pytest.fixture(scope="module")
def spec(live_url: str) -> dict[str, Any]:
    return httpx.get(f"{live_url}/openapi.json", timeout=60).json()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _walk(spec: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]) -> Iterator[str]:
    """Request-side leaves without bounds: strings without maxLength, integers without min/max."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        seen = seen | {name}
    schema = _resolve(spec, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        subs = schema.get(key, [])
        if any(sub.get("type") == "number" for sub in subs):
            # A decimal: a number or its text form, both bounded by pydantic's max_digits.
            subs = [sub for sub in subs if sub.get("type") != "string"]
        for sub in subs:
            yield from _walk(spec, sub, where, seen)
    kind = schema.get("type")
    # A pattern is a format check (decimals as text): pydantic bounds those by digits.
    bounded = any(k in schema for k in ("maxLength", "enum", "const", "pattern"))
    if kind == "string" and not bounded and schema.get("format") not in ("date", "date-time"):
        yield f"{where}: string without maxLength"
    if kind == "integer" and ("maximum" not in schema or "minimum" not in schema):
        yield f"{where}: integer without minimum/maximum"
    for prop, sub in schema.get("properties", {}).items():
        yield from _walk(spec, sub, f"{where}.{prop}", seen)
    if isinstance(schema.get("items"), dict):
        yield from _walk(spec, schema["items"], f"{where}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(spec, schema["additionalProperties"], f"{where}{{}}", seen)
    if kind == "object" and isinstance(schema.get("propertyNames"), dict):
        yield from _walk(spec, schema["propertyNames"], f"{where}<key>", seen)


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


def test_openapi_declares_the_real_error_model(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(spec)
    error = spec["components"]["schemas"]["ErrorOut"]
    assert set(error["properties"]) == {"error", "detail", "fields"}
    for method, path, op in _operations(spec):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)


def test_openapi_declares_the_statuses(spec: dict[str, Any]) -> None:
    missing = []
    for method, path, op in _operations(spec):
        statuses = set(op["responses"])
        wanted = set()
        if op.get("security"):
            wanted |= {"401", "403"}
            if method != "GET":
                wanted.add("409")
        if "{" in path:
            wanted.add("404")
        if op.get("parameters") or op.get("requestBody"):
            wanted.add("422")
        if path in ("/api/auth/login", "/api/auth/token", "/api/auth/refresh", "/api/signup"):
            wanted.add("429")
        if wanted - statuses:
            missing.append((method, path, sorted(wanted - statuses)))
    assert missing == []


def test_every_route_has_a_response_model(spec: dict[str, Any]) -> None:
    untyped = []
    for method, path, op in _operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            content = response.get("content", {})
            if "text/csv" in content or "application/octet-stream" in content or "image/png" in content:
                continue  # files, declared as such
            schema = _resolve(spec, content.get("application/json", {}).get("schema", {}))
            if schema.get("type") == "array":
                schema = _resolve(spec, schema.get("items", {}))
            if not schema.get("properties"):
                untyped.append((method, path, status))
    assert untyped == []


def test_every_input_is_bounded(spec: dict[str, Any]) -> None:
    """Strings have a length limit and integers the column's range, in every parameter and body."""
    loose: list[str] = []
    for method, path, op in _operations(spec):
        for param in op.get("parameters", []):
            if param["in"] == "header" and param["name"].lower() == "authorization":
                continue
            loose += _walk(spec, param["schema"], f"{method} {path} {param['name']}", set())
        for content in op.get("requestBody", {}).get("content", {}).values():
            loose += _walk(spec, content["schema"], f"{method} {path} body", set())
    assert loose == []
