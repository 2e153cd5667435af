"""The Meilisearch backend over real HTTP (meilisearch-python-sdk -> the local Meilisearch simulator)
and real PostgreSQL: per-tenant indexes, RBAC filter, matching, sync after service writes, failures."""

import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.auth.actor import Actor
from app.crm.customers import CustomerIn, CustomerUpdate, create_customer, delete_customer, update_customer
from app.search.meili import CircuitBreaker, MeiliSearch, index_uid
from app.search.postgres import PostgresSearch
from app.search.protocol import SearchUnavailable
from tenants.database import session
from tests.conftest import api_login
from tests.integration.crm.test_search import TYPED_PHONES as PG_TYPED_PHONES
from tests.integration.search.conftest import MEILI_KEY, Org, make_org, meili_configured
from tests.simulators.meilisearch import MeiliSimulator, running

A_PEOPLE: dict[str, tuple[str, dict[str, Any]]] = {
    "joao": (
        "agent",
        {
            "name": "João Conceição Silva",
            "document": "529.982.247-25",
            "contacts": [
                {"kind": "phone", "value": "(11) 98765-4321"},
                {"kind": "email", "value": "joao.silva@exemplo.com.br"},
            ],
        },
    ),
    "joana": ("agent", {"name": "Joana Silveira"}),
    "pedro": ("agent2", {"name": "Pedro Silva"}),
    "ana": ("agent2", {"name": "Ana Silvana"}),
    "maria": (
        "outsider",
        {"name": "Maria João Pereira", "contacts": [{"kind": "phone", "value": "21 3344-5566"}]},
    ),
}
B_PEOPLE: dict[str, tuple[str, dict[str, Any]]] = {
    "joao": ("agent", {"name": "João Conceição Silva"}),  # same name as in A, other tenant
    "secret": ("admin", {"name": "Segredo Conceição Exclusivo"}),
}


def _populate(org: Org, people: dict[str, tuple[str, dict[str, Any]]]) -> None:
    with session(org.schema) as db:
        for key, (owner, data) in people.items():
            org.ids[key] = create_customer(db, getattr(org, owner), CustomerIn.model_validate(data)).id or 0
            db.flush()
        db.commit()


@pytest.fixture(scope="module")
def orgs(meili: MeiliSimulator, database_url: str) -> tuple[Org, Org]:
    """Tenant A indexed through the sync task's code path (first write creates the index), tenant B
    by a full reindex; B's ids start at 500000 so one of them showing up in A is recognisable."""
    from tasks.crm import sync_search_sync

    a, b = make_org(), make_org(id_start=500_000)
    _populate(a, A_PEOPLE)
    _populate(b, B_PEOPLE)
    with meili_configured(meili.url):
        assert sync_search_sync(a.schema, list(a.ids.values())) == len(A_PEOPLE)
        with session(b.schema) as db:
            assert MeiliSearch(meili.url, MEILI_KEY).reindex_all(db, b.schema) == len(B_PEOPLE)
    return a, b


@pytest.fixture(scope="module")
def backend(meili: MeiliSimulator) -> MeiliSearch:
    return MeiliSearch(meili.url, MEILI_KEY)


@pytest.fixture
def db_a(orgs: tuple[Org, Org]) -> Iterator[Session]:
    with session(orgs[0].schema) as s:
        yield s
        s.rollback()


def ids(backend: MeiliSearch | PostgresSearch, db: Session, actor: Actor, text: str) -> list[int]:
    return [h.id for h in backend.search(db, actor, text)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- tenancy
def test_each_tenant_gets_its_own_configured_index(meili: MeiliSimulator, orgs: tuple[Org, Org]) -> None:
    a, b = orgs
    for org, people in ((a, A_PEOPLE), (b, B_PEOPLE)):
        index = meili.indexes[index_uid(org.schema)]
        assert index.primary_key == "id"
        assert sorted(int(i) for i in index.documents) == sorted(org.ids.values()) and len(people)
        # Created by the first sync, the index still got the owner filter the agents' searches need.
        assert index.settings["filterableAttributes"] == ["owner_id", "status"]
        assert index.settings["typoTolerance"]["disableOnAttributes"] == ["document", "phones"]


@pytest.mark.parametrize(
    "crafted",
    [
        "conceicao",
        'conceicao" OR owner_id > 0',
        "conceicao) OR (owner_id EXISTS",
        "segredo",
        f"crm_{'x'}_customers segredo",
        "500000",
    ],
)
def test_search_never_returns_another_tenants_customers(
    backend: MeiliSearch, meili: MeiliSimulator, orgs: tuple[Org, Org], db_a: Session, crafted: str
) -> None:
    a, b = orgs
    for actor in (a.admin, a.agent):
        found = ids(backend, db_a, actor, crafted)
        assert not set(found) & set(b.ids.values())
        uid, body = meili.searches[-1]
        # The index comes from the session's schema and the filter from the actor, never from the text.
        assert uid == index_uid(a.schema)
        assert body["filter"] == (None if actor is a.admin else f"owner_id IN [{a.agent.user_id}]")
    assert ids(backend, db_a, a.admin, "segredo") == []


def test_actor_of_another_tenant_is_refused(
    backend: MeiliSearch, orgs: tuple[Org, Org], db_a: Session
) -> None:
    with pytest.raises(RuntimeError):
        backend.search(db_a, orgs[1].admin, "joao")


# ---------------------------------------------------------------- RBAC
def test_results_respect_the_owner_filter(backend: MeiliSearch, orgs: tuple[Org, Org], db_a: Session) -> None:
    a = orgs[0]
    # "silva" also reaches "Silveira" (prefix "silve", one typo), as Meilisearch does.
    assert set(ids(backend, db_a, a.agent, "silva")) == {a.ids["joao"], a.ids["joana"]}
    assert set(ids(backend, db_a, a.agent2, "silva")) == {a.ids["pedro"], a.ids["ana"]}
    assert set(ids(backend, db_a, a.manager, "silva")) == {
        a.ids[k] for k in ("joao", "joana", "pedro", "ana")
    }
    assert ids(backend, db_a, a.outsider, "joao") == [a.ids["maria"]]
    assert ids(backend, db_a, a.agent, "maria") == []
    assert ids(backend, db_a, a.outsider, "(21) 3344-5566") == [a.ids["maria"]]
    assert ids(backend, db_a, a.agent, "(21) 3344-5566") == []


# ---------------------------------------------------------------- matching
def test_accent_and_case_insensitive_in_meilisearch_order(
    backend: MeiliSearch, orgs: tuple[Org, Org], db_a: Session
) -> None:
    a = orgs[0]
    assert ids(backend, db_a, a.admin, "CONCEICAO") == [a.ids["joao"]]
    assert ids(backend, db_a, a.admin, "joão silva") == [a.ids["joao"]]  # every word must match
    assert set(ids(backend, db_a, a.admin, "joao")) == {a.ids["joao"], a.ids["maria"]}
    # Meilisearch's ranking is kept: exact words, then prefix, then one typo ("silve"ira).
    assert ids(backend, db_a, a.admin, "silva") == [a.ids[k] for k in ("joao", "pedro", "ana", "joana")]


def test_one_typo_from_five_letters(backend: MeiliSearch, orgs: tuple[Org, Org], db_a: Session) -> None:
    a = orgs[0]
    assert ids(backend, db_a, a.admin, "joao conceicao silvx") == [a.ids["joao"]]
    assert ids(backend, db_a, a.admin, "joana silvera") == [a.ids["joana"]]
    assert ids(backend, db_a, a.admin, "pedor") == [a.ids["pedro"]]  # swapped letters: one typo
    assert ids(backend, db_a, a.admin, "jaoo") == []  # four letters: no typo allowed
    assert ids(backend, db_a, a.admin, "xyzqwk") == []


# The list of tests/integration/crm/test_search.py::test_phone_in_any_format (PostgreSQL backend), plus
# the last four digits alone.
TYPED_PHONES = [*PG_TYPED_PHONES, "4321"]


@pytest.mark.parametrize("typed", TYPED_PHONES)
def test_phone_in_any_format_as_in_postgres(
    backend: MeiliSearch, meili: MeiliSimulator, orgs: tuple[Org, Org], db_a: Session, typed: str
) -> None:
    a = orgs[0]
    hits = backend.search(db_a, a.admin, typed)
    assert meili.searches[-1][0] == index_uid(a.schema)  # answered by Meilisearch, not the fallback
    assert [h.id for h in hits] == [a.ids["joao"]] and hits[0].matched == "telefone"
    assert [h.id for h in hits] == ids(PostgresSearch(), db_a, a.admin, typed)
    # Digits never reach names or e-mails (where typo tolerance could turn them into somebody else).
    assert meili.searches[-1][1]["attributesToSearchOn"] == ["document", "phones"]
    # RBAC is unchanged: the phone of an agent's customer is invisible to another team's agent.
    assert ids(backend, db_a, a.outsider, typed) == []


def test_digits_allow_no_typo_and_documents_and_emails_match(
    backend: MeiliSearch, orgs: tuple[Org, Org], db_a: Session
) -> None:
    a = orgs[0]
    assert ids(backend, db_a, a.admin, "(11) 98765-4322") == []  # one digit off is another customer
    hits = backend.search(db_a, a.admin, "529.982.247-25")
    assert [h.id for h in hits] == [a.ids["joao"]] and hits[0].matched == "documento"
    assert ids(backend, db_a, a.admin, "43") == []  # too short to mean anything (as in PostgreSQL)
    assert ids(backend, db_a, a.admin, "529982") == [a.ids["joao"]]
    assert ids(backend, db_a, a.admin, "JOAO.SILVA@exemplo.com.br") == [a.ids["joao"]]


# ---------------------------------------------------------------- sync
async def test_sync_task_follows_create_update_and_soft_delete(
    meili: MeiliSimulator, backend: MeiliSearch, orgs: tuple[Org, Org]
) -> None:
    from tasks.crm import sync_search

    a = orgs[0]
    uid = index_uid(a.schema)
    with session(a.schema) as db:
        c = create_customer(db, a.agent, CustomerIn(name="Teresinha Gonçalves"))
        db.commit()
        cid = c.id or 0
    with meili_configured(meili.url):
        assert await sync_search(a.schema, [cid]) == 1
        with session(a.schema) as db:
            # The task waited for Meilisearch's asynchronous task: searchable right away.
            assert ids(backend, db, a.agent, "teresinha goncalves") == [cid]
            update_customer(db, a.agent, cid, CustomerUpdate(name="Teresa Gonçalves Lima"))
            db.commit()
        await sync_search(a.schema, [cid])
        with session(a.schema) as db:
            assert ids(backend, db, a.agent, "teresinha") == []
            assert ids(backend, db, a.agent, "teresa lima") == [cid]
            delete_customer(db, a.admin, cid)
            db.commit()
        assert await sync_search(a.schema, [cid]) == 0
    assert str(cid) not in meili.indexes[uid].documents
    with session(a.schema) as db:
        assert ids(backend, db, a.admin, "teresa") == []


def test_api_writes_queue_the_sync(meili: MeiliSimulator, orgs: tuple[Org, Org], client: TestClient) -> None:
    """API writes reach the index after their commit (app.search.sync after_commit hook, in-process)."""
    a = orgs[0]
    uid = index_uid(a.schema)
    headers = api_login(client, _handle(a), a.admin.email)
    with meili_configured(meili.url):
        r = client.post("/api/clientes", json={"name": "Valdirene Araújo"}, headers=headers)
        assert r.status_code == 201, r.text
        cid = str(r.json()["id"])
        _eventually(lambda: meili.indexes[uid].documents.get(cid, {}).get("name") == "Valdirene Araújo")
        r = client.put(f"/api/clientes/{cid}", json={"name": "Valdirene Araújo Neves"}, headers=headers)
        assert r.status_code == 200, r.text
        _eventually(lambda: meili.indexes[uid].documents[cid]["name"] == "Valdirene Araújo Neves")
        assert client.delete(f"/api/clientes/{cid}", headers=headers).status_code == 204
        _eventually(lambda: cid not in meili.indexes[uid].documents)


def _handle(org: Org) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(slug=org.slug, admin_email=org.admin.email, password="Senha-forte-123")


def _eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the index did not follow the write"
        time.sleep(0.02)


# ---------------------------------------------------------------- failures
def test_bad_key_logs_english_and_tells_users_in_portuguese(
    meili: MeiliSimulator, orgs: tuple[Org, Org], db_a: Session, caplog: pytest.LogCaptureFixture
) -> None:
    a = orgs[0]
    wrong = MeiliSearch(meili.url, "not-the-key-7d1e")
    caplog.set_level(logging.WARNING, logger="app.search.meili")
    with pytest.raises(SearchUnavailable) as exc:
        wrong.search(db_a, a.admin, "joao")
    assert exc.value.status == 503 and "busca está indisponível" in exc.value.message
    with pytest.raises(SearchUnavailable):
        wrong.index_customers(db_a, a.schema, [a.ids["joao"]])
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("HTTP 403 invalid_api_key" in m for m in errors)
    assert "failed while searching index" in errors[0] and "failed while preparing index" in errors[1]
    assert not any(
        "not-the-key-7d1e" in r.getMessage() or MEILI_KEY in r.getMessage() for r in caplog.records
    )
    assert "not-the-key-7d1e" not in str(exc.value)


def test_missing_key_is_a_clear_error_too(
    meili: MeiliSimulator, orgs: tuple[Org, Org], db_a: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="app.search.meili")
    with pytest.raises(SearchUnavailable):
        MeiliSearch(meili.url, None).search(db_a, orgs[0].admin, "joao")
    assert "HTTP 401 missing_authorization_header" in caplog.records[-1].getMessage()


def test_down_falls_back_to_postgres(
    orgs: tuple[Org, Org], db_a: Session, caplog: pytest.LogCaptureFixture
) -> None:
    a = orgs[0]
    down = MeiliSearch(f"http://127.0.0.1:{_free_port()}", MEILI_KEY)
    caplog.set_level(logging.WARNING, logger="app.search.meili")
    for actor, text in ((a.admin, "joao"), (a.agent, "silva"), (a.outsider, "(21) 3344-5566")):
        assert ids(down, db_a, actor, text) == ids(PostgresSearch(), db_a, actor, text)
    assert ids(down, db_a, a.agent, "joao") == [a.ids["joao"]]
    assert "searching PostgreSQL instead" in caplog.records[-1].getMessage()
    # Writes cannot fall back: the sync task fails (and is retried) with a clear error.
    with pytest.raises(SearchUnavailable):
        down.index_customers(db_a, a.schema, [a.ids["joao"]])


def test_hung_server_times_out_then_falls_back(orgs: tuple[Org, Org], db_a: Session) -> None:
    # Accepts connections (the kernel backlog) but never answers: without a client timeout every
    # search would hang with it.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        slow = MeiliSearch(f"http://127.0.0.1:{hung.getsockname()[1]}", MEILI_KEY, search_timeout_s=1)
        started = time.monotonic()
        assert ids(slow, db_a, orgs[0].admin, "pedro") == [orgs[0].ids["pedro"]]
        assert time.monotonic() - started < 3


def test_index_not_built_yet_falls_back_to_postgres(orgs: tuple[Org, Org], db_a: Session) -> None:
    with running(MEILI_KEY) as empty:
        fresh = MeiliSearch(empty.url, MEILI_KEY)
        assert ids(fresh, db_a, orgs[0].admin, "pedro silva") == [orgs[0].ids["pedro"]]
        assert ("POST", f"/indexes/{index_uid(orgs[0].schema)}/search") in empty.requests


def test_search_route_answers_in_portuguese_when_meilisearch_is_misconfigured(
    meili: MeiliSimulator, orgs: tuple[Org, Org], client: TestClient
) -> None:
    a = orgs[0]
    headers = api_login(client, _handle(a), a.admin.email)
    with meili_configured(meili.url):
        r = client.get("/api/clientes/busca", params={"q": "pedro silva"}, headers=headers)
        assert r.status_code == 200 and [h["id"] for h in r.json()] == [a.ids["pedro"]]
    with meili_configured(meili.url, key="wrong-key-93ab"):
        r = client.get("/api/clientes/busca", params={"q": "pedro"}, headers=headers)
        assert r.status_code == 503
        assert r.json()["error"] == "search_unavailable" and "indisponível" in r.json()["detail"]
        assert "wrong-key-93ab" not in r.text
    with meili_configured(f"http://127.0.0.1:{_free_port()}"):
        r = client.get("/api/clientes/busca", params={"q": "pedro"}, headers=headers)
        assert r.status_code == 200 and [h["id"] for h in r.json()] == [a.ids["pedro"]]


# ---------------------------------------------------------------- outages: timeouts and the breaker
@pytest.fixture
def healed(meili: MeiliSimulator) -> Iterator[MeiliSimulator]:
    """The shared simulator, its faults cleared whatever the test does."""
    yield meili
    meili.heal()


def test_search_answers_from_postgres_within_the_timeout_while_meilisearch_hangs(
    healed: MeiliSimulator, orgs: tuple[Org, Org], db_a: Session
) -> None:
    a = orgs[0]
    quick = MeiliSearch(healed.url, MEILI_KEY, search_timeout_s=0.3)
    healed.hang(5)
    for actor, typed in ((a.admin, "pedro silva"), (a.agent, "98765-4321"), (a.agent, "silva")):
        started = time.monotonic()
        hits = quick.search(db_a, actor, typed)
        assert time.monotonic() - started < 1.0  # 0.3 s budget + the PostgreSQL search
        assert hits == PostgresSearch().search(db_a, actor, typed)  # same SearchHit shape and rows
        assert hits
    assert healed.requests[-1] == ("POST", f"/indexes/{index_uid(a.schema)}/search")


@pytest.mark.parametrize("fault", ["hang", 500, 502, 503])
def test_breaker_opens_after_n_failures_and_closes_when_meilisearch_is_back(
    healed: MeiliSimulator,
    orgs: tuple[Org, Org],
    db_a: Session,
    caplog: pytest.LogCaptureFixture,
    fault: str | int,
) -> None:
    a = orgs[0]
    now = [1000.0]
    breaker = CircuitBreaker(healed.url, failures=3, cooldown_s=30, clock=lambda: now[0])
    flaky = MeiliSearch(healed.url, MEILI_KEY, search_timeout_s=0.3, write_timeout_s=0.3, breaker=breaker)
    caplog.set_level(logging.WARNING, logger="app.search.meili")
    if fault == "hang":
        healed.hang(5)
    else:
        healed.fail(int(fault))
    expected = ids(PostgresSearch(), db_a, a.agent, "silva")
    for _ in range(3):
        assert ids(flaky, db_a, a.agent, "silva") == expected
    assert breaker.is_open
    opened = [r.getMessage() for r in caplog.records if "circuit open" in r.getMessage()]
    assert len(opened) == 1 and "failed 3 times in a row" in opened[0]
    # Open: nothing reaches Meilisearch during the cool-down; searches answer at PostgreSQL's speed
    # and index writes fail at once (their ids stay pending, see below).
    calls = len(healed.requests)
    started = time.monotonic()
    for _ in range(5):
        assert ids(flaky, db_a, a.agent, "silva") == expected
    with pytest.raises(SearchUnavailable):
        flaky.index_customers(db_a, a.schema, [a.ids["joao"]])
    assert time.monotonic() - started < 1.0
    now[0] += 29
    assert ids(flaky, db_a, a.agent, "silva") == expected
    assert len(healed.requests) == calls
    # After the cool-down one trial goes through; still failing, it re-opens for another cool-down.
    now[0] += 1
    assert ids(flaky, db_a, a.agent, "silva") == expected
    assert len(healed.requests) == calls + 1 and breaker.is_open
    assert ids(flaky, db_a, a.agent, "silva") == expected
    assert len(healed.requests) == calls + 1
    # Back: the next trial closes it and searches are Meilisearch's again.
    healed.heal()
    now[0] += 30
    assert ids(flaky, db_a, a.agent, "silva") == [a.ids["joao"], a.ids["joana"]]  # Meilisearch's answer
    assert not breaker.is_open
    assert healed.searches[-1][0] == index_uid(a.schema)
    assert ids(flaky, db_a, a.agent, "joao conceicao") == [a.ids["joao"]]
    assert len(healed.requests) == calls + 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("circuit closed" in m for m in messages)
    assert not any(MEILI_KEY in m for m in messages)


def test_refused_key_or_missing_index_never_open_the_breaker(
    meili: MeiliSimulator, orgs: tuple[Org, Org], db_a: Session
) -> None:
    a = orgs[0]
    wrong = MeiliSearch(meili.url, "not-the-key-7d1e")
    for _ in range(5):
        with pytest.raises(SearchUnavailable):
            wrong.search(db_a, a.admin, "joao")
    assert not wrong.breaker.is_open
    with running(MEILI_KEY) as empty:
        fresh = MeiliSearch(empty.url, MEILI_KEY)
        for _ in range(5):
            assert ids(fresh, db_a, a.admin, "pedro silva") == [a.ids["pedro"]]
        assert not fresh.breaker.is_open


def test_sync_fails_fast_while_meilisearch_hangs_and_the_ids_follow_later(
    healed: MeiliSimulator, orgs: tuple[Org, Org], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.search.sync import pending
    from tasks.crm import sync_pending_search_sync, sync_search_sync

    a = orgs[0]
    with session(a.schema) as db:  # written with no MEILI_URL: nothing is dispatched
        cid = create_customer(db, a.agent, CustomerIn(name="Rosilene Bastos")).id or 0
        other = create_customer(db, a.agent, CustomerIn(name="Gercina Bastos")).id or 0
        db.commit()
    monkeypatch.setenv("MEILI_WRITE_TIMEOUT_S", "0.3")
    with meili_configured(healed.url):
        healed.hang(5)
        started = time.monotonic()
        with pytest.raises(SearchUnavailable):
            sync_search_sync(a.schema, [cid])
        assert time.monotonic() - started < 2  # a worker is not held for the whole outage
        assert pending(a.schema) == {str(cid)}
        healed.heal()
        # The tenant's next sync takes the pending id along.
        assert sync_search_sync(a.schema, [other]) == 2
        assert pending(a.schema) == set()
        documents = healed.indexes[index_uid(a.schema)].documents
        assert str(cid) in documents and str(other) in documents
        # A failed rebuild stays pending as a whole, and the scheduled sweep retries it.
        healed.fail(503)
        from tasks.crm import reindex_search_sync

        with pytest.raises(SearchUnavailable):
            reindex_search_sync(a.schema)
        assert pending(a.schema) == {"all"}
        assert sync_pending_search_sync() == 0  # still down: stays pending
        healed.heal()
        assert sync_pending_search_sync() == len(documents)
        assert pending(a.schema) == set()


def test_pending_ids_live_in_redis_when_configured(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from app.search import sync
    from app.settings import get_settings

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    schema = f"t_pending{uuid.uuid4().hex[:8]}"
    try:
        sync.defer(schema, [3, 1])
        sync.defer(schema, [2])
        assert sync.pending(schema) == {"1", "2", "3"} and schema in sync.pending_schemas()
        sync._forget(schema, {"1", "3"})
        assert sync.pending(schema) == {"2"}
        sync._forget(schema, {"2"})
        assert schema not in sync.pending_schemas()
    finally:
        get_settings.cache_clear()


# ---------------------------------------------------------------- operations
def test_cli_rebuilds_a_tenants_index(meili: MeiliSimulator, orgs: tuple[Org, Org]) -> None:
    """`crm search-reindex --tenant SLUG` rebuilds one index from PostgreSQL (after the document shape
    changes, or to repair one); an unknown slug is a pt-BR error."""
    from sqlmodel import col, select
    from typer.testing import CliRunner

    from app.cli import cli
    from models.tenant import Customer

    a, _ = orgs
    with session(a.schema) as db:  # earlier tests of the module add customers to A
        live = sorted(db.exec(select(Customer.id).where(col(Customer.deleted_at).is_(None))).all())
    index = meili.indexes[index_uid(a.schema)]
    index.documents.clear()
    with meili_configured(meili.url):
        out = CliRunner().invoke(cli, ["search-reindex", "--tenant", a.slug])
        assert out.exit_code == 0, out.output
        assert json.loads(out.output.strip().splitlines()[-1]) == {a.slug: len(live)}
        assert sorted(int(i) for i in index.documents) == live
        bad = CliRunner().invoke(cli, ["search-reindex", "--tenant", "nao-existe"])
        assert bad.exit_code == 1 and "Organização não encontrada" in bad.output
