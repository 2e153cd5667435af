"""The Cloud API simulator in processes of its own, several on one port (SO_REUSEPORT: the kernel spreads
the connections), so a benchmark measures the outbox and not a simulator sharing a Python process (and
its GIL) with the benchmark itself.

Each process serves its own `CloudApiSimulator` with the same identifiers and token (uvicorn with its
fastest loop and parser: uvloop and httptools when installed); `stop()` returns how many messages the
processes accepted together.
"""

from __future__ import annotations

import multiprocessing as mp
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

# Longer than the adapter keeps an idle connection (it closes first: no request is written to a
# connection the server is closing).
KEEP_ALIVE_SECONDS = 30


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _serve(
    port: int,
    kwargs: dict[str, Any],
    windows: list[str],
    ready: Any,
    stop: Any,
    out: mp.Queue[tuple[int, int]],
) -> None:
    import uvicorn

    from tests.simulators.whatsapp_cloud import CloudApiSimulator

    sim = CloudApiSimulator(**kwargs)
    for to in windows:
        sim.open_window(to)
    config = uvicorn.Config(
        sim._server.app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = uvicorn.Server(config)

    def watch() -> None:
        while not server.started:
            time.sleep(0.01)
        ready.set()
        stop.wait()
        server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()
    server.run(sockets=[_listener(port)])
    out.put((len(sim.sent), len(getattr(sim, "uploads", []))))


class CloudSimProcesses:
    def __init__(self, processes: int = 2, *, windows: list[str] | None = None, **kwargs: Any) -> None:
        self.phone_number_id = str(
            kwargs.setdefault("phone_number_id", str(10**14 + uuid.uuid4().int % 10**14))
        )
        self.waba_id = str(kwargs.setdefault("waba_id", "102290129340398"))
        self.access_token = str(kwargs.setdefault("access_token", "EAAG-" + uuid.uuid4().hex))
        self.app_secret = str(kwargs.setdefault("app_secret", uuid.uuid4().hex))
        self._kwargs, self._windows, self._n = kwargs, list(windows or []), processes
        self._procs: list[Any] = []
        self.url = ""
        self.uploads = 0

    def start(self) -> CloudSimProcesses:
        ctx = mp.get_context("spawn")
        # Media uploaded to one process must be known to the others (a message with its id may land there).
        self._kwargs.setdefault("media_dir", Path(tempfile.mkdtemp(prefix="cloud-sim-media-")))
        holder = _listener(0)  # reserves the port until every process listens on it
        port = holder.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._stop = ctx.Event()
        self._out: mp.Queue[tuple[int, int]] = ctx.Queue()
        readies = []
        for _ in range(self._n):
            ready = ctx.Event()
            p = ctx.Process(
                target=_serve,
                args=(port, self._kwargs, self._windows, ready, self._stop, self._out),
                daemon=True,
            )
            p.start()
            self._procs.append(p)
            readies.append(ready)
        for ready in readies:
            if not ready.wait(30):
                raise RuntimeError("the Cloud API simulator processes did not start")
        holder.close()
        return self

    def stop(self) -> int:
        """Stop the processes; how many messages they accepted (and in `uploads`, media uploads)."""
        self._stop.set()
        counts = [self._out.get(timeout=30) for _ in self._procs]
        for p in self._procs:
            p.join(timeout=10)
        self.uploads = sum(c[1] for c in counts)
        return sum(c[0] for c in counts)
