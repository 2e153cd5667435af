"""The REST app served by a real uvicorn on a free loopback port, for the security tests: they send
parallel requests from threads, as an attacker would, so the in-process TestClient is not enough."""

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_url(database_url: str) -> Iterator[str]:
    """Base URL of `app.api:api` under uvicorn (same settings as the other tests)."""
    from app.api import api

    port = _free_port()
    # As served in production (app/serve.py, README): no `server` header, and uvicorn's own
    # X-Forwarded-For handling (which trusts 127.0.0.1 by default) off, so the app's TRUSTED_PROXIES
    # alone decides which hops to believe.
    config = uvicorn.Config(
        api,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        server_header=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        raise RuntimeError("uvicorn did not start")
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def http(live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url, timeout=30) as c:
        yield c
