"""A Meilisearch v1 HTTP simulator: the subset of the published API our adapter and
meilisearch-python-sdk use, served by uvicorn on 127.0.0.1 (no Meilisearch binary ships on the
registries this machine can reach).

Contract followed (https://www.meilisearch.com/docs/reference/api and /errors):
- Auth: with a master key every route but `GET /health` needs `Authorization: Bearer <key>`;
  missing header -> 401 `missing_authorization_header`, wrong key -> 403 `invalid_api_key`.
  Errors are `{message, code, type, link}` with `Content-Type: application/json`.
- Indexes: `POST /indexes`, `GET /indexes`, `GET|DELETE /indexes/{uid}`; unknown index -> 404
  `index_not_found`; a bad uid -> 400 `invalid_index_uid`.
- Documents: `POST` (add or replace) / `PUT` (add or update) `/indexes/{uid}/documents[?primaryKey=]`,
  `GET /indexes/{uid}/documents[/{id}]`, `DELETE /indexes/{uid}/documents[/{id}]`,
  `POST /indexes/{uid}/documents/delete-batch`. Writing documents or settings to a missing index
  creates it, as Meilisearch does. Primary key inference (single attribute ending in `id`),
  `missing_document_id`, `invalid_document_id`, `index_primary_key_*` failures.
- Settings: `GET|PATCH /indexes/{uid}/settings` and `GET|PUT|DELETE` of searchable-, filterable-,
  sortable-, displayed-attributes and typo-tolerance sub-routes.
- Tasks: every write answers 202 with a summarized task `{taskUid, indexUid, status: "enqueued",
  type, enqueuedAt}`; one worker thread processes tasks in order (optionally after `task_delay`
  seconds, to prove callers wait), and `GET /tasks/{uid}` reports `succeeded` or `failed` with an
  error object; `GET /tasks` lists them.
- Search: `POST /indexes/{uid}/search` with q, filter (string or array form; =, !=, >, >=, <, <=,
  TO, IN, NOT IN, EXISTS, IS NULL, AND, OR, NOT, parentheses), limit/offset, hitsPerPage/page,
  attributesToRetrieve, attributesToSearchOn, sort, matchingStrategy (all | last | frequency),
  showRankingScore. Unknown body fields -> 400 `bad_request`; a filter on a non-filterable
  attribute or a malformed filter -> 400 `invalid_search_filter`.
- Matching follows Meilisearch's defaults: case- and accent-insensitive; only the last query word is
  a prefix; typos allowed by word length (minWordSizeForTypos: 1 typo from 5 letters, 2 from 9), a
  different first letter counts as two typos; typoTolerance.enabled / disableOnAttributes /
  disableOnNumbers honoured. Ranking: words, typo, attribute, exactness, then insertion order; the
  ranking score is a lexicographic encoding of those rules (same order, not Meilisearch's numbers).

Faults, for tests of the callers' resilience (what a real deployment does when it is overloaded or
behind a failing proxy): `hang(seconds)` makes every route wait that long before answering (a hung
instance: the connection is accepted, nothing comes back), `fail(status)` makes every route answer
that status, 500 with Meilisearch's `internal` error body, anything else with a reverse proxy's
plain-text page; `heal()` ends both. Requests are recorded in `requests` before the fault applies.

Not implemented: API keys routes and per-key permissions (only the master key), tenant tokens,
facets, highlighting/cropping, proximity ranking, synonyms/stop words, geo, vectors, multi-search,
swaps, dumps/snapshots, task cancellation/deletion, payload size limits, gzip bodies, NDJSON/CSV.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import queue
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

ERRORS_LINK = "https://docs.meilisearch.com/errors#"
DEFAULT_RANKING_RULES = ["words", "typo", "proximity", "attribute", "sort", "exactness"]
_INDEX_UID = re.compile(r"^[A-Za-z0-9_-]{1,400}$")
_DOC_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")
_SETTING_ROUTES = {
    "searchable-attributes": "searchableAttributes",
    "filterable-attributes": "filterableAttributes",
    "sortable-attributes": "sortableAttributes",
    "displayed-attributes": "displayedAttributes",
    "typo-tolerance": "typoTolerance",
}
_SEARCH_FIELDS = {
    "q", "offset", "limit", "page", "hitsPerPage", "filter", "facets", "attributesToRetrieve",
    "attributesToCrop", "cropLength", "cropMarker", "attributesToHighlight", "highlightPreTag",
    "highlightPostTag", "showMatchesPosition", "sort", "matchingStrategy", "attributesToSearchOn",
    "showRankingScore", "showRankingScoreDetails", "rankingScoreThreshold", "distinct", "vector",
    "hybrid", "locales", "retrieveVectors", "media", "showPerformanceDetails", "personalize",
}  # fmt: skip


class MeiliError(Exception):
    """An API error in Meilisearch's shape; `kind` is the error `type` field."""

    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind

    def body(self) -> dict[str, str]:
        return {
            "message": self.message,
            "code": self.code,
            "type": self.kind,
            "link": ERRORS_LINK + self.code,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _default_typo_tolerance() -> dict[str, Any]:
    return {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": [],
        "disableOnNumbers": False,
    }


def _default_settings() -> dict[str, Any]:
    return {
        "displayedAttributes": ["*"],
        "searchableAttributes": ["*"],
        "filterableAttributes": [],
        "sortableAttributes": [],
        "rankingRules": list(DEFAULT_RANKING_RULES),
        "stopWords": [],
        "nonSeparatorTokens": [],
        "separatorTokens": [],
        "dictionary": [],
        "synonyms": {},
        "distinctAttribute": None,
        "proximityPrecision": "byWord",
        "typoTolerance": _default_typo_tolerance(),
        "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
        "pagination": {"maxTotalHits": 1000},
        "searchCutoffMs": None,
        "localizedAttributes": None,
        "facetSearch": True,
        "prefixSearch": "indexingTime",
    }


@dataclass
class IndexState:
    uid: str
    primary_key: str | None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    settings: dict[str, Any] = field(default_factory=_default_settings)
    # Insertion-ordered: Meilisearch's last tie-breaker is the internal document id (insertion order).
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "primaryKey": self.primary_key,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


# ---------------------------------------------------------------- text matching
def normalise(text: str) -> str:
    """Lower-case without diacritics, as Meilisearch's tokenizer (charabia) normalises Latin text."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Words of a text; punctuation, spaces, '@', '.', '-' and '_' are separators."""
    return _TOKEN.findall(normalise(text))


def _osa_distance(a: str, b: str, cap: int) -> int:
    """Edit distance with adjacent transpositions (a swap is one typo), stopping past `cap`."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def word_typos(query_word: str, word: str, *, prefix: bool, allowed: int) -> int | None:
    """Typos needed for `word` to match `query_word` (None when more than allowed).

    A prefix query word matches any word starting with it (zero typos) or whose beginning is within
    the allowed typos. As in Meilisearch, a typo on the first letter costs two.
    """
    if word == query_word or (prefix and word.startswith(query_word)):
        return 0
    if allowed == 0 or not word:
        return None
    if prefix:
        lo, hi = max(1, len(query_word) - allowed), min(len(word), len(query_word) + allowed)
        candidates = [word[:j] for j in range(lo, hi + 1)]
    else:
        candidates = [word]
    best: int | None = None
    for cand in candidates:
        d = _osa_distance(query_word, cand, allowed)
        if cand[:1] != query_word[:1]:
            d += 1
        if d <= allowed and (best is None or d < best):
            best = d
    return best


def _allowed_typos(word: str, typo: dict[str, Any]) -> int:
    if not typo.get("enabled", True) or word in (typo.get("disableOnWords") or []):
        return 0
    if typo.get("disableOnNumbers") and word.isdigit():
        return 0
    sizes = typo.get("minWordSizeForTypos") or {}
    if len(word) >= int(sizes.get("twoTypos", 9)):
        return 2
    if len(word) >= int(sizes.get("oneTypo", 5)):
        return 1
    return 0


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _flatten(v)
    elif value is not None and not isinstance(value, bool):
        yield value


def _attr_matches(pattern: str, name: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return name.endswith(pattern[1:])
    return pattern == name


# ---------------------------------------------------------------- filters
_FILTER_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|=|>|<|\(|\)|\[|\]|,)"""
    r"""|(?P<word>[^\s=!<>()\[\],'"]+))"""
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "TO", "EXISTS", "IS", "NULL", "EMPTY"}


@dataclass
class _Tok:
    kind: str  # str | op | word | kw
    text: str
    pos: int


def _lex_filter(expr: str) -> list[_Tok]:
    toks, pos = [], 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _FILTER_TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise _filter_error(
                f"Found unexpected characters at the end of the filter: `{expr[pos:]}`.", expr
            )
        if m.group("str") is not None:
            raw = m.group("str")
            toks.append(_Tok("str", re.sub(r"\\(.)", r"\1", raw[1:-1]), m.start("str")))
        elif m.group("op") is not None:
            toks.append(_Tok("op", m.group("op"), m.start("op")))
        else:
            word = m.group("word")
            kind = "kw" if word.upper() in _KEYWORDS else "word"
            toks.append(_Tok(kind, word.upper() if kind == "kw" else word, m.start("word")))
        pos = m.end()
    return toks


def _filter_error(message: str, expr: str) -> MeiliError:
    return MeiliError(400, "invalid_search_filter", f"{message}\n{expr}")


Predicate = Callable[[dict[str, Any]], bool]


class _FilterParser:
    """Recursive descent over Meilisearch's filter grammar; yields a predicate on a document."""

    def __init__(self, expr: str, filterable: list[str]) -> None:
        self.expr, self.filterable = expr, filterable
        self.toks = _lex_filter(expr)
        self.i = 0

    def parse(self) -> Predicate:
        if not self.toks:
            return lambda _doc: True
        pred = self._or()
        if self.i < len(self.toks):
            rest = self.expr[self.toks[self.i].pos :]
            raise _filter_error(f"Found unexpected characters at the end of the filter: `{rest}`.", self.expr)
        return pred

    def _peek(self, *texts: str) -> bool:
        return (
            self.i < len(self.toks)
            and self.toks[self.i].text in texts
            and self.toks[self.i].kind in ("op", "kw")
        )

    def _take(self) -> _Tok:
        if self.i >= len(self.toks):
            raise _filter_error("Was expecting a value but instead got nothing.", self.expr)
        self.i += 1
        return self.toks[self.i - 1]

    def _expect(self, text: str) -> None:
        tok = self._take()
        if tok.text != text:
            raise _filter_error(f"Expected `{text}` but instead got `{tok.text}`.", self.expr)

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek("OR"):
            self.i += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda d: any(p(d) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._peek("AND"):
            self.i += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda d: all(p(d) for p in parts))

    def _not(self) -> Predicate:
        if self._peek("NOT"):
            self.i += 1
            inner = self._not()
            return lambda d: not inner(d)
        if self._peek("("):
            self.i += 1
            inner = self._or()
            self._expect(")")
            return inner
        return self._condition()

    def _value(self) -> str:
        tok = self._take()
        if tok.kind not in ("str", "word"):
            raise _filter_error(f"Was expecting a value but instead got `{tok.text}`.", self.expr)
        return tok.text

    def _condition(self) -> Predicate:
        tok = self._take()
        if tok.kind not in ("str", "word"):
            raise _filter_error(
                "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, "
                "`EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, "
                f"`_geoRadius`, or `_geoBoundingBox` at `{self.expr[tok.pos :]}`.",
                self.expr,
            )
        attr = tok.text
        if not any(_attr_matches(p, attr) for p in self.filterable):
            if self.filterable:
                available = ", ".join(sorted(self.filterable))
                msg = (
                    f"Attribute `{attr}` is not filterable. "
                    f"Available filterable attributes are: `{available}`."
                )
            else:
                msg = (
                    f"Attribute `{attr}` is not filterable. "
                    "This index does not have configured filterable attributes."
                )
            raise _filter_error(msg, self.expr)
        get = _getter(attr)
        if self._peek("=", "!=", ">", ">=", "<", "<="):
            op = self._take().text
            value = self._value()
            if op == "=":
                return lambda d: any(_equal(v, value) for v in get(d))
            if op == "!=":
                return lambda d: not any(_equal(v, value) for v in get(d))
            return lambda d: any(_compare(v, op, value) for v in get(d))
        if self._peek("IN"):
            self.i += 1
            values = self._list()
            return lambda d: any(_equal(v, x) for v in get(d) for x in values)
        if self._peek("NOT"):
            self.i += 1
            if self._peek("IN"):
                self.i += 1
                values = self._list()
                return lambda d: not any(_equal(v, x) for v in get(d) for x in values)
            self._expect("EXISTS")
            return lambda d: attr not in d
        if self._peek("EXISTS"):
            self.i += 1
            return lambda d: attr in d
        if self._peek("IS"):
            self.i += 1
            negate = self._peek("NOT")
            if negate:
                self.i += 1
            what = self._take().text
            if what == "NULL":
                return lambda d: (d.get(attr) is None and attr in d) != negate
            if what == "EMPTY":
                return lambda d: (d.get(attr) in ("", [], {}) and attr in d) != negate
            raise _filter_error(f"Was expecting `NULL` or `EMPTY` but instead got `{what}`.", self.expr)
        low = self._value()
        if self._peek("TO"):
            self.i += 1
            high = self._value()
            return lambda d: any(_compare(v, ">=", low) and _compare(v, "<=", high) for v in get(d))
        raise _filter_error(f"Was expecting an operation at `{self.expr[tok.pos :]}`.", self.expr)

    def _list(self) -> list[str]:
        self._expect("[")
        values: list[str] = []
        while not self._peek("]"):
            values.append(self._value())
            if not self._peek("]"):
                self._expect(",")
        self._expect("]")
        return values


def _getter(attr: str) -> Callable[[dict[str, Any]], list[Any]]:
    def get(doc: dict[str, Any]) -> list[Any]:
        value: Any = doc
        for part in attr.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return list(_flatten(value))

    return get


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _equal(doc_value: Any, filter_value: str) -> bool:
    a, b = _as_number(doc_value), _as_number(filter_value)
    if a is not None and b is not None:
        return a == b
    return normalise(str(doc_value)) == normalise(filter_value)


def _compare(doc_value: Any, op: str, filter_value: str) -> bool:
    a, b = _as_number(doc_value), _as_number(filter_value)
    if a is None or b is None:
        return False  # Meilisearch only orders numbers (and dates given as numbers)
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _any_of(options: list[Predicate]) -> Predicate:
    return lambda d: any(p(d) for p in options)


def compile_filter(spec: Any, filterable: list[str]) -> Predicate:
    """A filter string, or an array of strings/arrays (outer AND, inner OR), as Meilisearch takes."""
    if spec is None:
        return lambda _d: True
    if isinstance(spec, str):
        return _FilterParser(spec, filterable).parse()
    if isinstance(spec, list):
        parts: list[Predicate] = []
        for item in spec:
            if isinstance(item, list):
                parts.append(_any_of([compile_filter(x, filterable) for x in item]))
            else:
                parts.append(compile_filter(item, filterable))
        return lambda d: all(p(d) for p in parts)
    raise MeiliError(
        400,
        "invalid_search_filter",
        f"Invalid syntax for the filter parameter: `expected String, Array, found: {type(spec).__name__}`.",
    )


# ---------------------------------------------------------------- the simulator
class MeiliSimulator:
    """In-memory Meilisearch served over HTTP on 127.0.0.1; `url` once started."""

    def __init__(self, master_key: str | None = "masterKey", task_delay: float = 0.0) -> None:
        self.master_key = master_key
        self.task_delay = task_delay
        self.indexes: dict[str, IndexState] = {}
        self.tasks: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path), for tests asserting the calls made
        self.searches: list[tuple[str, dict[str, Any]]] = []  # (index uid, body) of every search
        self.hang_s = 0.0  # faults: see the module docstring
        self.fail_status: int | None = None
        self._lock = threading.RLock()
        self._queue: queue.Queue[tuple[dict[str, Any], Callable[[], dict[str, Any] | None]] | None] = (
            queue.Queue()
        )
        self._uids = itertools.count()
        self._server: uvicorn.Server | None = None
        self._threads: list[threading.Thread] = []
        self.url = ""
        self.app = Starlette(routes=self._routes())

    # -------------------------------------------------------- lifecycle
    def start(self) -> MeiliSimulator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # the OS picks a free port; handing the socket over avoids races
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        server = self._server
        web = threading.Thread(target=lambda: server.run(sockets=[sock]), name="meili-sim-http", daemon=True)
        worker = threading.Thread(target=self._work, name="meili-sim-tasks", daemon=True)
        self._threads = [web, worker]
        web.start()
        worker.start()
        deadline = time.monotonic() + 5
        while not server.started:
            if time.monotonic() > deadline or not web.is_alive():
                raise RuntimeError("Meilisearch simulator did not start")
            time.sleep(0.01)
        return self

    def hang(self, seconds: float) -> None:
        self.hang_s = seconds

    def fail(self, status: int = 500) -> None:
        self.fail_status = status

    def heal(self) -> None:
        self.hang_s, self.fail_status = 0.0, None

    def stop(self) -> None:
        self.heal()  # hung handlers return, so the server can shut down
        if self._server is not None:
            self._server.should_exit = True
        self._queue.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._server = None

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until every enqueued task is processed (what a test does instead of polling tasks)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                busy = any(t["status"] in ("enqueued", "processing") for t in self.tasks)
            if not busy:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("Meilisearch simulator tasks still pending")
            time.sleep(0.01)

    # -------------------------------------------------------- tasks
    def _enqueue(
        self,
        index_uid: str | None,
        kind: str,
        apply: Callable[[], dict[str, Any] | None],
        details: dict[str, Any],
    ) -> JSONResponse:
        with self._lock:
            task = {
                "uid": next(self._uids),
                "batchUid": None,
                "indexUid": index_uid,
                "status": "enqueued",
                "type": kind,
                "canceledBy": None,
                "details": details,
                "error": None,
                "duration": None,
                "enqueuedAt": _now(),
                "startedAt": None,
                "finishedAt": None,
            }
            self.tasks.append(task)
        self._queue.put((task, apply))
        summary = {k: task[k] for k in ("indexUid", "status", "type", "enqueuedAt")}
        return JSONResponse({"taskUid": task["uid"], **summary}, status_code=202)

    def _work(self) -> None:
        # One worker, tasks in enqueue order: Meilisearch's scheduler is sequential per instance.
        while (item := self._queue.get()) is not None:
            task, apply = item
            started = time.monotonic()
            with self._lock:
                task.update(status="processing", startedAt=_now(), batchUid=task["uid"])
            if self.task_delay:
                time.sleep(self.task_delay)
            with self._lock:
                try:
                    extra = apply()
                    task["status"] = "succeeded"
                    if extra:
                        task["details"].update(extra)
                except MeiliError as exc:
                    task.update(status="failed", error=exc.body())
                task["finishedAt"] = _now()
                task["duration"] = f"PT{time.monotonic() - started:.6f}S"

    # -------------------------------------------------------- helpers
    def _index(self, uid: str) -> IndexState:
        index = self.indexes.get(uid)
        if index is None:
            raise MeiliError(404, "index_not_found", f"Index `{uid}` not found.")
        return index

    def _index_or_create(self, uid: str, primary_key: str | None = None) -> IndexState:
        # Document and settings writes create a missing index (documented Meilisearch behaviour).
        if uid not in self.indexes:
            self.indexes[uid] = IndexState(uid, primary_key)
        return self.indexes[uid]

    @staticmethod
    def _check_uid(uid: str) -> None:
        if not _INDEX_UID.match(uid):
            raise MeiliError(
                400,
                "invalid_index_uid",
                f"`{uid}` is not a valid index uid. Index uid can be an integer or a string containing "
                "only alphanumeric characters, hyphens (-) and underscores (_), and can not be more "
                "than 512 bytes.",
            )

    @staticmethod
    async def _json(request: Request, required: bool = True) -> Any:
        raw = await request.body()
        if not raw:
            if required:
                raise MeiliError(400, "missing_payload", "A json payload is missing.")
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise MeiliError(
                400, "malformed_payload", f"The json payload provided is malformed. `{exc}`."
            ) from exc

    def _authorise(self, request: Request) -> None:
        if self.master_key is None or request.url.path == "/health":
            return
        header = request.headers.get("authorization")
        if not header:
            raise MeiliError(
                401,
                "missing_authorization_header",
                "The Authorization header is missing. It must use the bearer authorization method.",
                "auth",
            )
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or token != self.master_key:
            raise MeiliError(403, "invalid_api_key", "The provided API key is invalid.", "auth")

    async def _fault(self) -> Response | None:
        deadline = time.monotonic() + self.hang_s
        # Sleeps in steps, so heal() (and stop()) release requests already hanging.
        while self.hang_s and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        status = self.fail_status
        if status is None:
            return None
        if status == 500:
            error = MeiliError(500, "internal", "An internal error has occurred.", "internal")
            return JSONResponse(error.body(), status_code=500)
        return PlainTextResponse(f"{status} {HTTPStatus(status).phrase}", status_code=status)

    def _routes(self) -> list[Route]:
        def route(path: str, handler: Callable[..., Any], methods: list[str]) -> Route:
            async def endpoint(request: Request) -> Response:
                self.requests.append((request.method, request.url.path))
                fault = await self._fault()
                if fault is not None:
                    return fault
                try:
                    self._authorise(request)
                    result = await handler(request, **request.path_params)
                except MeiliError as exc:
                    return JSONResponse(exc.body(), status_code=exc.status)
                except ClientDisconnect:  # the client gave up (timed out) while the server hung
                    return Response(status_code=499)
                return result if isinstance(result, Response) else JSONResponse(result)

            return Route(path, endpoint, methods=methods)

        return [
            route("/health", self.health, ["GET"]),
            route("/version", self.version, ["GET"]),
            route("/indexes", self.list_indexes, ["GET"]),
            route("/indexes", self.create_index, ["POST"]),
            route("/indexes/{uid}", self.get_index, ["GET"]),
            route("/indexes/{uid}", self.delete_index, ["DELETE"]),
            route("/indexes/{uid}/settings", self.get_settings, ["GET"]),
            route("/indexes/{uid}/settings", self.update_settings, ["PATCH"]),
            route("/indexes/{uid}/settings/{name}", self.setting, ["GET", "PUT", "DELETE"]),
            route("/indexes/{uid}/documents", self.add_documents, ["POST", "PUT"]),
            route("/indexes/{uid}/documents", self.list_documents, ["GET"]),
            route("/indexes/{uid}/documents", self.delete_all_documents, ["DELETE"]),
            route("/indexes/{uid}/documents/delete-batch", self.delete_batch, ["POST"]),
            route("/indexes/{uid}/documents/{doc_id}", self.get_document, ["GET"]),
            route("/indexes/{uid}/documents/{doc_id}", self.delete_document, ["DELETE"]),
            route("/indexes/{uid}/search", self.search, ["POST"]),
            route("/tasks", self.list_tasks, ["GET"]),
            route("/tasks/{task_uid}", self.get_task, ["GET"]),
        ]

    # -------------------------------------------------------- instance routes
    async def health(self, request: Request) -> dict[str, str]:
        return {"status": "available"}

    async def version(self, request: Request) -> dict[str, str]:
        return {"commitSha": "simulator", "commitDate": "2025-01-01T00:00:00Z", "pkgVersion": "1.12.0"}

    async def list_tasks(self, request: Request) -> dict[str, Any]:
        with self._lock:
            results = sorted(self.tasks, key=lambda t: -t["uid"])
        index_uids = request.query_params.get("indexUids")
        if index_uids:
            wanted = set(index_uids.split(","))
            results = [t for t in results if t["indexUid"] in wanted]
        limit = int(request.query_params.get("limit", 20))
        page = results[:limit]
        return {
            "results": page,
            "total": len(results),
            "limit": limit,
            "from": page[0]["uid"] if page else None,
            "next": results[limit]["uid"] if len(results) > limit else None,
        }

    async def get_task(self, request: Request, task_uid: str) -> dict[str, Any]:
        with self._lock:
            for task in self.tasks:
                if str(task["uid"]) == task_uid:
                    return dict(task)
        raise MeiliError(404, "task_not_found", f"Task `{task_uid}` not found.")

    # -------------------------------------------------------- indexes
    async def list_indexes(self, request: Request) -> dict[str, Any]:
        with self._lock:
            results = [i.info() for i in sorted(self.indexes.values(), key=lambda i: i.uid)]
        return {"results": results, "offset": 0, "limit": 20, "total": len(results)}

    async def create_index(self, request: Request) -> Response:
        body = await self._json(request)
        uid = body.get("uid") if isinstance(body, dict) else None
        if not isinstance(uid, str):
            raise MeiliError(400, "missing_index_uid", "Missing field `uid`.")
        self._check_uid(uid)
        primary_key = body.get("primaryKey")

        def apply() -> None:
            if uid in self.indexes:
                raise MeiliError(409, "index_already_exists", f"Index `{uid}` already exists.")
            self.indexes[uid] = IndexState(uid, primary_key)

        return self._enqueue(uid, "indexCreation", apply, {"primaryKey": primary_key})

    async def get_index(self, request: Request, uid: str) -> dict[str, Any]:
        with self._lock:
            return self._index(uid).info()

    async def delete_index(self, request: Request, uid: str) -> Response:
        def apply() -> dict[str, Any]:
            index = self._index(uid)
            del self.indexes[uid]
            return {"deletedDocuments": len(index.documents)}

        return self._enqueue(uid, "indexDeletion", apply, {"deletedDocuments": None})

    # -------------------------------------------------------- settings
    async def get_settings(self, request: Request, uid: str) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._index(uid).settings))

    def _validated_settings(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise MeiliError(400, "bad_request", "Invalid value type: expected an object.")
        defaults = _default_settings()
        for key, value in body.items():
            if key not in defaults:
                raise MeiliError(
                    400,
                    "bad_request",
                    f"Unknown field `{key}`: expected one of {', '.join(f'`{k}`' for k in defaults)}",
                )
            if key.endswith("Attributes") and value is not None and not isinstance(value, list):
                code = "invalid_settings_" + re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
                raise MeiliError(400, code, f"Invalid value type at `.{key}`: expected an array.")
        return body

    def _settings_update(self, uid: str, changes: dict[str, Any]) -> Response:
        self._check_uid(uid)

        def apply() -> None:
            index = self._index_or_create(uid)
            defaults = _default_settings()
            for key, value in changes.items():
                if value is None:
                    index.settings[key] = defaults[key]
                elif key == "typoTolerance":
                    merged = {**index.settings[key], **value}
                    if "minWordSizeForTypos" in value:
                        merged["minWordSizeForTypos"] = {
                            **index.settings[key]["minWordSizeForTypos"],
                            **value["minWordSizeForTypos"],
                        }
                    index.settings[key] = merged
                else:
                    index.settings[key] = value
            index.updated_at = _now()

        return self._enqueue(uid, "settingsUpdate", apply, dict(changes))

    async def update_settings(self, request: Request, uid: str) -> Response:
        return self._settings_update(uid, self._validated_settings(await self._json(request)))

    async def setting(self, request: Request, uid: str, name: str) -> Any:
        key = _SETTING_ROUTES.get(name)
        if key is None:
            raise MeiliError(404, "not_found", "Not found.")  # Meilisearch answers unknown routes so
        if request.method == "GET":
            with self._lock:
                return self._index(uid).settings[key]
        if request.method == "DELETE":
            return self._settings_update(uid, {key: None})
        value = await self._json(request)
        if key == "filterableAttributes" and isinstance(value, list):
            # v1.14 also takes {attributePatterns, features} objects; we only need the patterns.
            value = [
                p for v in value for p in (v.get("attributePatterns", []) if isinstance(v, dict) else [v])
            ]
        return self._settings_update(uid, self._validated_settings({key: value}))

    # -------------------------------------------------------- documents
    async def add_documents(self, request: Request, uid: str) -> Response:
        self._check_uid(uid)
        if "application/json" not in request.headers.get("content-type", ""):
            raise MeiliError(
                415,
                "invalid_content_type",
                "The Content-Type `{}` is invalid. Accepted values for the Content-Type header are: "
                "`application/json`, `application/x-ndjson`, `text/csv`".format(
                    request.headers.get("content-type", "")
                ),
            )
        body = await self._json(request)
        docs = body if isinstance(body, list) else [body]
        if not all(isinstance(d, dict) for d in docs):
            raise MeiliError(400, "malformed_payload", "The json payload provided is malformed.")
        wanted_pk = request.query_params.get("primaryKey")
        replace = request.method == "POST"

        def apply() -> dict[str, Any]:
            existing = self.indexes.get(uid)
            pk = existing.primary_key if existing else None
            if pk and wanted_pk and wanted_pk != pk:
                raise MeiliError(
                    400, "index_primary_key_already_exists", "Index already has a primary key: `" + pk + "`."
                )
            pk = pk or wanted_pk or _infer_primary_key(docs)
            ids = [_document_id(d, pk) for d in docs]  # validate the whole batch before touching anything
            index = self._index_or_create(uid)
            index.primary_key = pk
            for doc_id, doc in zip(ids, docs, strict=True):
                if replace or doc_id not in index.documents:
                    index.documents[doc_id] = doc
                else:
                    index.documents[doc_id] = {**index.documents[doc_id], **doc}
            index.updated_at = _now()
            return {"indexedDocuments": len(docs)}

        return self._enqueue(
            uid,
            "documentAdditionOrUpdate",
            apply,
            {"receivedDocuments": len(docs), "indexedDocuments": None},
        )

    async def list_documents(self, request: Request, uid: str) -> dict[str, Any]:
        offset = int(request.query_params.get("offset", 0))
        limit = int(request.query_params.get("limit", 20))
        with self._lock:
            docs = list(self._index(uid).documents.values())
        return {
            "results": docs[offset : offset + limit],
            "offset": offset,
            "limit": limit,
            "total": len(docs),
        }

    async def get_document(self, request: Request, uid: str, doc_id: str) -> dict[str, Any]:
        with self._lock:
            doc = self._index(uid).documents.get(doc_id)
        if doc is None:
            raise MeiliError(404, "document_not_found", f"Document `{doc_id}` not found.")
        return doc

    def _deletion(self, uid: str, ids: list[str] | None) -> Response:
        def apply() -> dict[str, Any]:
            index = self._index(uid)  # deleting from a missing index fails the task
            targets = list(index.documents) if ids is None else ids
            deleted = sum(1 for i in targets if index.documents.pop(i, None) is not None)
            return {"deletedDocuments": deleted}

        details: dict[str, Any] = {"deletedDocuments": None}
        if ids is not None:
            details["providedIds"] = len(ids)
        return self._enqueue(uid, "documentDeletion", apply, details)

    async def delete_document(self, request: Request, uid: str, doc_id: str) -> Response:
        return self._deletion(uid, [doc_id])

    async def delete_all_documents(self, request: Request, uid: str) -> Response:
        return self._deletion(uid, None)

    async def delete_batch(self, request: Request, uid: str) -> Response:
        body = await self._json(request)
        if not isinstance(body, list) or not all(isinstance(i, str | int) for i in body):
            raise MeiliError(
                400, "invalid_document_ids", "Invalid value type: expected an array of document ids."
            )
        return self._deletion(uid, [str(i) for i in body])

    # -------------------------------------------------------- search
    async def search(self, request: Request, uid: str) -> dict[str, Any]:
        started = time.monotonic()
        body = await self._json(request, required=False) or {}
        if not isinstance(body, dict):
            raise MeiliError(400, "bad_request", "Invalid value type: expected an object.")
        self.searches.append((uid, body))
        for key in body:
            if key not in _SEARCH_FIELDS:
                raise MeiliError(400, "bad_request", f"Unknown field `{key}`")
        with self._lock:
            index = self._index(uid)
            settings = json.loads(json.dumps(index.settings))
            docs = list(index.documents.values())
        q = body.get("q") or ""
        if not isinstance(q, str):
            raise MeiliError(400, "invalid_search_q", "Invalid value type at `.q`: expected a string.")
        limit, offset = _int_param(body, "limit", 20), _int_param(body, "offset", 0)
        hits_per_page, page = body.get("hitsPerPage"), body.get("page")
        keep = compile_filter(body.get("filter"), settings["filterableAttributes"])
        docs = [d for d in docs if keep(d)]
        ranked = _rank(docs, q, settings, body)
        sort = body.get("sort")
        if sort:
            ranked = _sort(ranked, sort, settings["sortableAttributes"])
        max_total = settings["pagination"]["maxTotalHits"]
        ranked = ranked[:max_total]
        if hits_per_page is not None or page is not None:
            per_page = _int_param(body, "hitsPerPage", 20)
            page_no = _int_param(body, "page", 1)
            window = ranked[(page_no - 1) * per_page : page_no * per_page] if page_no > 0 else []
        else:
            window = ranked[offset : offset + limit]
        retrieve = body.get("attributesToRetrieve") or ["*"]
        displayed = settings["displayedAttributes"]
        hits = []
        for doc, score in window:
            hit = {
                k: v
                for k, v in doc.items()
                if any(_attr_matches(p, k) for p in retrieve) and any(_attr_matches(p, k) for p in displayed)
            }
            if body.get("showRankingScore"):
                hit["_rankingScore"] = score
            hits.append(hit)
        out: dict[str, Any] = {
            "hits": hits,
            "query": q,
            "processingTimeMs": int((time.monotonic() - started) * 1000),
        }
        if hits_per_page is not None or page is not None:
            per_page = _int_param(body, "hitsPerPage", 20)
            out.update(
                hitsPerPage=per_page,
                page=_int_param(body, "page", 1),
                totalHits=len(ranked),
                totalPages=-(-len(ranked) // per_page) if per_page else 0,
            )
        else:
            out.update(limit=limit, offset=offset, estimatedTotalHits=len(ranked))
        return out


def _int_param(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        code = "invalid_search_" + re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        raise MeiliError(400, code, f"Invalid value type at `.{name}`: expected a positive integer.")
    return value


def _infer_primary_key(docs: list[dict[str, Any]]) -> str:
    candidates = sorted({k for d in docs[:1] for k in d if k.lower().endswith("id")})
    if not candidates:
        raise MeiliError(
            400,
            "index_primary_key_no_candidate_found",
            "The primary key inference failed as the engine did not find any field ending with `id` "
            "in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
        )
    if len(candidates) > 1:
        raise MeiliError(
            400,
            "index_primary_key_multiple_candidates_found",
            "The primary key inference failed as the engine found "
            f"{len(candidates)} fields ending with `id` in their names: "
            + ", ".join(f"'{c}'" for c in candidates)
            + ". Please specify the primary key manually using the `primaryKey` query parameter.",
        )
    return candidates[0]


def _document_id(doc: dict[str, Any], pk: str) -> str:
    if pk not in doc:
        raise MeiliError(
            400,
            "missing_document_id",
            f"Document doesn't have a `{pk}` attribute: `{json.dumps(doc)[:200]}`.",
        )
    value = doc[pk]
    if isinstance(value, bool) or not isinstance(value, int | str) or not _DOC_ID.match(str(value)):
        raise MeiliError(
            400,
            "invalid_document_id",
            f"Document identifier `{json.dumps(value)}` is invalid. A document identifier can be of type "
            "integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) "
            "and underscores (_), and can not be more than 511 bytes.",
        )
    return str(value)


def _searchable(doc: dict[str, Any], settings: dict[str, Any], on: list[str] | None) -> list[tuple[str, str]]:
    """(attribute, value) pairs in searchableAttributes order (the `attribute` ranking rule's order)."""
    patterns = settings["searchableAttributes"]
    names = list(doc) if patterns == ["*"] else [n for p in patterns for n in doc if _attr_matches(p, n)]
    if on:
        names = [n for n in names if any(_attr_matches(p, n) for p in on)]
    out = []
    for name in dict.fromkeys(names):
        for value in _flatten(doc[name]):
            out.append((name, str(value)))
    return out


def _lexi_score(parts: list[tuple[int, int]]) -> float:
    """Encode (value, max) per rule, earlier rules dominating, into [0, 1]."""
    score, best, scale = 0.0, 0.0, 1.0
    for value, maximum in parts:
        scale /= maximum + 1
        score += value * scale
        best += maximum * scale
    return round(score / best, 6) if best else 1.0


def _rank(
    docs: list[dict[str, Any]], q: str, settings: dict[str, Any], body: dict[str, Any]
) -> list[tuple[dict[str, Any], float]]:
    words = tokenize(q)[:10]  # Meilisearch keeps the first 10 query words
    if not words:
        return [(d, 1.0) for d in docs]  # placeholder search: every document, insertion order
    last_is_prefix = bool(q) and not q[-1].isspace() and bool(_TOKEN.search(normalise(q[-1])))
    strategy = body.get("matchingStrategy") or "last"
    if strategy not in ("all", "last", "frequency"):
        raise MeiliError(
            400,
            "invalid_search_matching_strategy",
            "Unknown value `"
            + str(strategy)
            + "` at `.matchingStrategy`: expected one of `last`, `all`, `frequency`.",
        )
    typo = settings["typoTolerance"]
    disabled = typo.get("disableOnAttributes") or []
    n_attrs = max(
        1, len(settings["searchableAttributes"]) if settings["searchableAttributes"] != ["*"] else 16
    )
    scored = []
    for doc in docs:
        pairs = _searchable(doc, settings, body.get("attributesToSearchOn"))
        per_word: list[tuple[int, int, bool] | None] = []  # (typos, attribute position, exact)
        attr_order = list(dict.fromkeys(a for a, _ in pairs))
        for i, qw in enumerate(words):
            prefix = last_is_prefix and i == len(words) - 1
            best: tuple[int, int, bool] | None = None
            for attr, value in pairs:
                allowed = 0 if attr in disabled else _allowed_typos(qw, typo)
                for w in tokenize(value):
                    t = word_typos(qw, w, prefix=prefix, allowed=allowed)
                    if t is None:
                        continue
                    cand = (t, attr_order.index(attr), w == qw)
                    if best is None or (cand[0], cand[1], not cand[2]) < (best[0], best[1], not best[2]):
                        best = cand
            per_word.append(best)
        if strategy == "all":
            if any(m is None for m in per_word):
                continue
            matched = per_word
        elif strategy == "last":
            # Words are dropped from the end: only the leading run of matched words counts.
            run = next((i for i, m in enumerate(per_word) if m is None), len(per_word))
            if run == 0:
                continue
            matched = per_word[:run]
        else:
            matched = [m for m in per_word if m is not None]
            if not matched:
                continue
        present = [m for m in matched if m is not None]
        typos = sum(m[0] for m in present)
        attr_pos = min(m[1] for m in present)
        exact = sum(1 for m in present if m[2])
        max_typos = 2 * len(words)
        parts = [
            (len(present), len(words)),
            (max_typos - typos, max_typos),
            (n_attrs - 1 - min(attr_pos, n_attrs - 1), n_attrs - 1),
            (exact, len(words)),
        ]
        scored.append((doc, _lexi_score(parts)))
    # Stable sort: equal scores keep insertion order, Meilisearch's final tie-breaker.
    return sorted(scored, key=lambda item: -item[1])


def _sort(
    ranked: list[tuple[dict[str, Any], float]], sort: Any, sortable: list[str]
) -> list[tuple[dict[str, Any], float]]:
    if not isinstance(sort, list):
        raise MeiliError(400, "invalid_search_sort", "Invalid value type at `.sort`: expected an array.")
    for rule in reversed(sort):
        attr, _, direction = str(rule).partition(":")
        if direction not in ("asc", "desc"):
            raise MeiliError(400, "invalid_search_sort", f"Invalid syntax for the sort parameter: `{rule}`.")
        if not any(_attr_matches(p, attr) for p in sortable):
            raise MeiliError(
                400,
                "invalid_search_sort",
                f"Attribute `{attr}` is not sortable. "
                f"Available sortable attributes are: `{', '.join(sortable)}`.",
            )
        present = [r for r in ranked if r[0].get(attr) is not None]
        missing = [r for r in ranked if r[0].get(attr) is None]  # documents without the field go last
        present.sort(key=lambda r: r[0][attr], reverse=direction == "desc")
        ranked = present + missing
    # The default ranking rules put `sort` after the relevance rules: it only orders equal scores.
    return sorted(ranked, key=lambda r: -r[1])


@contextlib.contextmanager
def running(master_key: str | None = "masterKey", task_delay: float = 0.0) -> Iterator[MeiliSimulator]:
    """A started simulator, stopped on exit."""
    sim = MeiliSimulator(master_key, task_delay).start()
    try:
        yield sim
    finally:
        sim.stop()
