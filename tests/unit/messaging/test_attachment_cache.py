"""The outbox's file cache (app.messaging.attachments.SendCache): bounded by bytes, least recently used
out first, large files never kept, re-read after MAX_AGE_SECONDS, one read per key under concurrency,
encodings kept beside the very bytes they came from."""

import threading
import time

import pytest

from app.messaging.attachments import SendCache

MB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _reader(data: bytes, calls: list[str], key: str = "k"):  # type: ignore[no-untyped-def]
    def read() -> bytes:
        calls.append(key)
        return data

    return read


def test_a_file_is_read_once_and_the_same_bytes_come_back() -> None:
    cache, calls = SendCache(8 * MB), []
    data = b"x" * 1000
    first = cache.get("a", _reader(data, calls))
    again = cache.get("a", _reader(b"never read", calls))
    assert first is data and again is data and calls == ["k"] and cache.reads == 1
    assert cache.total == 1000


def test_least_recently_used_files_leave_first_and_the_budget_holds() -> None:
    cache, calls = SendCache(8 * MB), []
    for key in "abcd":  # 2 MB each: the quarter of the budget is the largest file kept
        cache.get(key, _reader(bytes(2 * MB), calls, key))
    cache.get("a", _reader(b"", calls, "a"))  # used again: now the newest
    cache.get("e", _reader(bytes(2 * MB), calls, "e"))
    assert cache.total <= 8 * MB
    calls.clear()
    for key in "acde":
        cache.get(key, _reader(bytes(2 * MB), calls, key))
    assert calls == []  # kept
    cache.get("b", _reader(bytes(2 * MB), calls, "b"))
    assert calls == ["b"]  # the least recently used went


def test_files_over_a_quarter_of_the_budget_are_read_every_time() -> None:
    cache, calls = SendCache(8 * MB), []
    big = bytes(2 * MB + 1)
    for _ in range(3):
        assert cache.get("big", _reader(big, calls)) is big
    assert len(calls) == 3 and cache.total == 0


def test_budget_zero_turns_the_cache_off() -> None:
    cache, calls = SendCache(0), []
    cache.get("a", _reader(b"abc", calls))
    cache.get("a", _reader(b"abc", calls))
    assert len(calls) == 2 and cache.total == 0


def test_a_kept_file_is_read_again_after_max_age() -> None:
    clock, calls = Clock(), []
    cache = SendCache(8 * MB, clock=clock)
    cache.get("a", _reader(b"v1", calls))
    clock.now += SendCache.MAX_AGE_SECONDS - 1
    assert cache.get("a", _reader(b"v2", calls)) == b"v1"
    clock.now += 2
    assert cache.get("a", _reader(b"v2", calls)) == b"v2" and len(calls) == 2


def test_a_missing_file_is_not_remembered() -> None:
    cache = SendCache(8 * MB)

    def gone() -> bytes:
        raise FileNotFoundError("gone")

    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            cache.get("a", gone)
    assert cache.total == 0 and cache.reads == 0


def test_concurrent_readers_of_one_key_wait_for_a_single_read() -> None:
    cache, calls = SendCache(8 * MB), []
    started = threading.Event()

    def slow() -> bytes:
        calls.append("read")
        started.set()
        time.sleep(0.2)
        return b"file"

    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("a", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["read"] and results == [b"file"] * 8


def test_encodings_are_kept_beside_the_bytes_they_came_from() -> None:
    cache, calls = SendCache(8 * MB), []
    data = cache.get("a", _reader(b"abc" * 100, calls))
    encoded: list[bytes] = []

    def encode(raw: bytes) -> str:
        encoded.append(raw)
        return raw.hex()

    assert cache.derived("a", data, "hex", encode) == data.hex()
    assert cache.derived("a", data, "hex", encode) == data.hex()
    assert len(encoded) == 1 and cache.total == 300 + 600
    # Equal bytes that are not the object handed out for the key: encoded, never served from the cache
    # (an Attachment whose key and bytes disagree cannot pick up another file's encoding).
    other = bytes(bytearray(data))
    assert cache.derived("a", other, "hex", encode) == other.hex() and len(encoded) == 2
    assert cache.derived("a", b"not this file", "hex", encode) == b"not this file".hex()
    assert cache.derived("unknown", data, "hex", encode) == data.hex() and len(encoded) == 4
    cache.forget("a")
    assert cache.total == 0


def test_an_encoding_that_would_pass_the_budget_is_not_kept() -> None:
    cache, calls = SendCache(4 * MB), []
    data = cache.get("a", _reader(bytes(MB), calls))
    assert len(cache.derived("a", data, "big", lambda raw: raw * 4)) == 4 * MB
    assert cache.total == MB
