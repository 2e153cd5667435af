"""E-mail adapters' throughput on loopback: what the kept SMTP connection buys, and what the Resend SDK's
process-wide lock costs.

    .venv/bin/python -m tests.bench.bench_email [--messages 300]

- SMTP: aiosmtpd on 127.0.0.1 with STARTTLS and AUTH (tests/simulators/smtp_server.py), a 2 KB text+html
  message; one adapter for the whole batch (one connection) against a new adapter per message (connect,
  EHLO, STARTTLS, EHLO, AUTH, QUIT every time).
- Resend: the SDK over HTTP against tests/simulators/resend.py; sequential sends, then 8 at a time
  (asyncio.gather): the lock serialises the HTTP requests only, so building the params and the thread
  hand-offs overlap, and nothing else does.
Loopback numbers: the provider's real latency (tens to hundreds of ms) divides them further.
"""

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from app.messaging.adapters.resend_email import ResendAdapter
from app.messaging.adapters.smtp import SmtpAdapter
from app.messaging.kinds import ResendConfig, SmtpConfig
from app.messaging.protocol import OutboundMessage, Outcome
from tests.simulators.resend import ResendSimulator
from tests.simulators.smtp_server import SmtpServer

HTML = "<p>" + "Olá, sua fatura de dezembro está disponível. " * 20 + "</p>"


def _message(i: int) -> OutboundMessage:
    return OutboundMessage(
        message_id=i,
        to=f"c{i}@cliente.example",
        subject="Fatura",
        text="Olá! " * 200,
        html=HTML,
        idempotency_key=uuid.uuid4().hex,
    )


async def _smtp(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        srv = SmtpServer(Path(tmp), users={"u@loja.example": "senha"}).start()
        os.environ["SSL_CERT_FILE"] = str(srv.cert_file)
        config = SmtpConfig(
            host="127.0.0.1",
            port=srv.port,
            username="u@loja.example",
            password="senha",
            from_email="a@loja.example",
        )
        try:
            adapter = SmtpAdapter(config, {})
            started = time.perf_counter()
            results = [await adapter.send(_message(i)) for i in range(n)]
            await adapter.aclose()
            kept = time.perf_counter() - started
            assert all(r.outcome is Outcome.SENT for r in results)
            started = time.perf_counter()
            for i in range(n // 3):
                one = SmtpAdapter(config, {})
                assert (await one.send(_message(i))).outcome is Outcome.SENT
                await one.aclose()
            fresh = time.perf_counter() - started
        finally:
            srv.stop()
    print(f"smtp kept connection: {n} msgs in {kept:.2f} s = {n / kept:.0f} msg/s")
    print(f"smtp new connection per message: {n // 3} msgs in {fresh:.2f} s = {(n // 3) / fresh:.0f} msg/s")


async def _resend(n: int) -> None:
    sim = ResendSimulator(api_keys={"re_k"}).start()
    try:
        adapter = ResendAdapter(
            ResendConfig(api_key="re_k", from_email="a@loja.example", api_base_url=sim.url), {}
        )
        started = time.perf_counter()
        for i in range(n):
            assert (await adapter.send(_message(i))).outcome is Outcome.SENT
        seq = time.perf_counter() - started
        started = time.perf_counter()
        for start in range(0, n, 8):
            results = await asyncio.gather(
                *(adapter.send(_message(i)) for i in range(start, min(n, start + 8)))
            )
            assert all(r.outcome is Outcome.SENT for r in results)
        par = time.perf_counter() - started
    finally:
        sim.stop()
    print(f"resend sequential: {n} msgs in {seq:.2f} s = {n / seq:.0f} msg/s")
    print(f"resend 8 concurrent (one lock): {n} msgs in {par:.2f} s = {n / par:.0f} msg/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}")
    asyncio.run(_smtp(args.messages))
    asyncio.run(_resend(args.messages))


if __name__ == "__main__":
    main()
