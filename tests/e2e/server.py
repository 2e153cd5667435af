"""Serving the real app for a browser: `reflex run --env prod` (frontend + backend + REST on one port)
on a free port, until the block ends. Shared by the e2e fixtures and the browser benchmark."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(database_url: str, log_path: Path, timeout_s: float = 300, **env_extra: str) -> Iterator[str]:
    from app.cli import frontend_env

    port = free_port()
    # The browser opens the app at 127.0.0.1: that is the public origin the websocket must come from.
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "APP_PORT": str(port),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        **frontend_env(),
        **env_extra,
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.serve", "run", "--env", "prod", "--backend-port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app exited early:\n{log_path.read_text()[-4000:]}")
                try:
                    if (
                        httpx.get(f"{url}/ping", timeout=2).status_code == 200
                        and httpx.get(url, timeout=5).status_code == 200
                    ):
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"app did not start in time:\n{log_path.read_text()[-4000:]}")
                time.sleep(1)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
