"""A real SMTP server on 127.0.0.1 (aiosmtpd) with STARTTLS or implicit TLS and AUTH, for adapter tests.

The certificate is self-signed, generated per run with `cryptography` for 127.0.0.1/localhost; a client
trusts it through SSL_CERT_FILE (see `SmtpServer.cert_file`), as a server with a private CA would be.
"""

import datetime
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for CN=localhost with SANs localhost and 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    session_id: int  # the same for every message carried by one connection
    authenticated_as: str | None

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data, policy=default_policy)


@dataclass
class _Handler:
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> full reply ("550 5.1.1 ...")
    refuse_senders: dict[str, str] = field(default_factory=dict)  # MAIL FROM address -> full reply
    drop_after_data: bool = False  # close the connection instead of answering the message content
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ):
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, mail_options: list):
        if address in self.refuse_senders:
            return self.refuse_senders[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop_after_data:
            server.transport.close()
            return "250 OK"  # never reaches the client
        login = session.auth_data
        with self.lock:
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=envelope.original_content or envelope.content,
                    session_id=id(session),
                    authenticated_as=login if isinstance(login, str) else None,
                )
            )
        return "250 2.0.0 queued"


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    """aiosmtpd in its own thread. mode: starttls (required before AUTH) | ssl (implicit TLS) | none."""

    def __init__(
        self, directory: Path, *, mode: str = "starttls", users: dict[str, str] | None = None, port: int = 0
    ) -> None:
        self.cert_file, self.key_file = self_signed_cert(directory)
        self.mode = mode
        self.port = port or free_port()
        self.handler = _Handler()
        self.users = users or {}
        self.controller: Controller | None = None

    def _tls(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def start(self) -> "SmtpServer":
        kwargs: dict[str, Any] = {}
        if self.users:
            kwargs["authenticator"] = _Authenticator(self.users)
            # aiosmtpd counts only STARTTLS as TLS; on the implicit-TLS port every byte is encrypted anyway.
            kwargs["auth_require_tls"] = self.mode == "starttls"
        if self.mode == "starttls":
            kwargs["tls_context"] = self._tls()
            kwargs["require_starttls"] = True
        if self.mode == "ssl":
            kwargs["ssl_context"] = self._tls()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received
