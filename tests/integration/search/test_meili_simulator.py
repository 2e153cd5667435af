"""The Meilisearch simulator keeps the published contract the adapter relies on (raw HTTP, no SDK):
if it drifted from Meilisearch, the backend tests would prove nothing."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.simulators.meilisearch import MeiliSimulator, running, word_typos

KEY = "contract-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def sim() -> Iterator[MeiliSimulator]:
    with running(KEY) as s:
        yield s


@pytest.fixture(scope="module")
def http(sim: MeiliSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=AUTH, timeout=5) as c:
        yield c


def _done(http: httpx.Client, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    summary = answer.json()
    assert set(summary) == {"taskUid", "indexUid", "status", "type", "enqueuedAt"}
    assert summary["status"] == "enqueued"
    for _ in range(200):
        task = http.get(f"/tasks/{summary['taskUid']}").json()
        if task["status"] in ("succeeded", "failed"):
            return task
        time.sleep(0.005)
    raise AssertionError("task never finished")


def _error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"message", "code", "type", "link"} and body["code"] == code
    assert body["link"] == f"https://docs.meilisearch.com/errors#{code}"


def test_auth_errors_follow_meilisearch(sim: MeiliSimulator) -> None:
    with httpx.Client(base_url=sim.url) as anonymous:
        assert anonymous.get("/health").json() == {"status": "available"}  # health needs no key
        _error(anonymous.get("/indexes"), 401, "missing_authorization_header")
        r = anonymous.get("/indexes", headers={"Authorization": "Bearer nope"})
        _error(r, 403, "invalid_api_key")
        assert r.json()["type"] == "auth"


def test_index_lifecycle_tasks_and_errors(http: httpx.Client) -> None:
    task = _done(http, http.post("/indexes", json={"uid": "films", "primaryKey": "id"}))
    assert task["status"] == "succeeded" and task["type"] == "indexCreation" and task["error"] is None
    assert http.get("/indexes/films").json()["primaryKey"] == "id"
    again = _done(http, http.post("/indexes", json={"uid": "films"}))
    assert again["status"] == "failed" and again["error"]["code"] == "index_already_exists"
    _error(http.get("/indexes/missing"), 404, "index_not_found")
    _error(http.post("/indexes/missing/search", json={"q": "x"}), 404, "index_not_found")
    gone = _done(http, http.post("/indexes/missing/documents/delete-batch", json=["1"]))
    assert gone["status"] == "failed" and gone["error"]["code"] == "index_not_found"
    _error(http.post("/indexes", json={"uid": "bad uid!"}), 400, "invalid_index_uid")
    _error(http.get("/tasks/999999"), 404, "task_not_found")


def test_documents_replace_update_delete_and_primary_key(http: httpx.Client) -> None:
    # Writing to a missing index creates it and infers the primary key from the `...id` field.
    done = _done(http, http.post("/indexes/books/documents", json=[{"book_id": 1, "title": "A", "year": 1}]))
    assert done["details"] == {"receivedDocuments": 1, "indexedDocuments": 1}
    assert http.get("/indexes/books").json()["primaryKey"] == "book_id"
    _done(http, http.put("/indexes/books/documents", json=[{"book_id": 1, "title": "B"}]))
    assert http.get("/indexes/books/documents/1").json() == {"book_id": 1, "title": "B", "year": 1}
    _done(http, http.post("/indexes/books/documents", json=[{"book_id": "1", "title": "C"}]))
    assert http.get("/indexes/books/documents/1").json() == {"book_id": "1", "title": "C"}
    bad = _done(http, http.post("/indexes/books/documents", json=[{"title": "no id"}]))
    assert bad["status"] == "failed" and bad["error"]["code"] == "missing_document_id"
    bad = _done(http, http.post("/indexes/books/documents", json=[{"book_id": "a b"}]))
    assert bad["error"]["code"] == "invalid_document_id"
    pk = _done(http, http.post("/indexes/books/documents?primaryKey=title", json=[{"book_id": 2}]))
    assert pk["error"]["code"] == "index_primary_key_already_exists"
    deleted = _done(http, http.post("/indexes/books/documents/delete-batch", json=["1", "404"]))
    assert deleted["details"] == {"providedIds": 2, "deletedDocuments": 1}
    _error(http.get("/indexes/books/documents/1"), 404, "document_not_found")
    r = http.post("/indexes/books/documents", content=b"[]", headers={"Content-Type": "text/plain"})
    _error(r, 415, "invalid_content_type")


@pytest.fixture(scope="module")
def people(http: httpx.Client) -> str:
    docs = [
        {"id": 1, "name": "João Conceição", "owner_id": 7, "tags": ["vip"]},
        {"id": 2, "name": "Joana Silveira", "owner_id": 8, "tags": []},
        {"id": 3, "name": "Bernardo Pereira", "owner_id": 7, "tags": ["vip", "novo"]},
        {"id": 4, "name": "Conceição Bernardes", "owner_id": 9},
    ]
    settings = {"filterableAttributes": ["owner_id", "tags"], "searchableAttributes": ["name"]}
    assert _done(http, http.patch("/indexes/people/settings", json=settings))["status"] == "succeeded"
    # `id` and `owner_id` both end in "id": inference refuses to guess, so the key must be given
    # (as the adapter does).
    guess = _done(http, http.post("/indexes/people/documents", json=docs))
    assert guess["error"]["code"] == "index_primary_key_multiple_candidates_found"
    assert (
        _done(http, http.post("/indexes/people/documents?primaryKey=id", json=docs))["status"] == "succeeded"
    )
    return "/indexes/people/search"


def _ids(http: httpx.Client, path: str, **body: Any) -> list[int]:
    r = http.post(path, json=body)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["hits"]]


def test_matching_follows_meilisearch_defaults(http: httpx.Client, people: str) -> None:
    assert _ids(http, people, q="CONCEICAO") == [1, 4]  # accents and case folded
    assert _ids(http, people, q="conc") == [1, 4]  # the last word is a prefix
    assert _ids(http, people, q="conc joao", matchingStrategy="all") == []  # earlier words are not
    assert _ids(http, people, q="pereria") == [3]  # 7 letters: one typo (a swap)
    assert _ids(http, people, q="vereira") == []  # a different first letter costs two typos
    assert _ids(http, people, q="bernardu") == [3, 4]  # prefix within one typo
    assert _ids(http, people, q="joao xyz", matchingStrategy="all") == []
    assert _ids(http, people, q="joao xyz") == [1]  # default "last": trailing words may be dropped
    assert word_typos("concecaoo", "conceicao", prefix=False, allowed=2) == 2  # 9 letters: two typos
    assert _ids(http, people, q="") == [1, 2, 3, 4]  # placeholder search


def test_filters_limits_and_fields(http: httpx.Client, people: str) -> None:
    assert _ids(http, people, q="", filter="owner_id IN [7, 9]") == [1, 3, 4]
    assert _ids(http, people, q="", filter="owner_id = 8 OR (tags = vip AND NOT owner_id != 3)") == [2]
    assert _ids(http, people, q="", filter=["tags = novo", ["owner_id = 7", "owner_id = 8"]]) == [3]
    assert _ids(http, people, q="", filter="owner_id NOT IN [7]", limit=1, offset=1) == [4]
    r = http.post(people, json={"q": "joao", "attributesToRetrieve": ["id"], "showRankingScore": True})
    hit = r.json()["hits"][0]
    assert set(hit) == {"id", "_rankingScore"} and 0 < hit["_rankingScore"] <= 1
    assert r.json()["estimatedTotalHits"] == 1 and r.json()["query"] == "joao"
    _error(http.post(people, json={"q": "", "filter": "status = 1"}), 400, "invalid_search_filter")
    _error(http.post(people, json={"q": "", "filter": "owner_id IN [7"}), 400, "invalid_search_filter")
    _error(http.post(people, json={"q": "", "bogus": 1}), 400, "bad_request")
