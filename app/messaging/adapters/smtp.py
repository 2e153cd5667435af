"""E-mail over SMTP (a tenant's own mail server): the fallback when Resend fails or is not configured.

smtplib is blocking, so every call runs in a worker thread (`asyncio.to_thread`) and a slow server
never blocks the event loop. Connections are kept open across sends: the outbox keeps one adapter per
channel (sending identity) and worker process (`pooled`, app.messaging.adapters.pool), across chunks and
deliveries, closed on worker shutdown or after five idle minutes; a connection idle for more than
IDLE_PROBE_SECONDS is probed with NOOP first, and one that broke is opened again on the next send.
Connecting, STARTTLS and AUTH cost several round trips per message otherwise. Each message is four round
trips (MAIL, RCPT, DATA, content: servers rarely offer PIPELINING), so one connection is bound by the
server's reply time: the adapter keeps up to CONNECTIONS of them ("lanes") and the outbox sends that many
of a chunk's messages at once (`max_in_flight`); each lane carries one transaction at a time.
The message is written with the email package's compat32 classes
(`mime_bytes`): the policy-based EmailMessage cost four times the CPU, most of an SMTP send's.

Outcomes, by where the conversation stopped:
- before DATA (connect, TLS, AUTH, MAIL, RCPT): nothing was accepted, so a 4xx, a timeout or a dropped
  connection is RETRY; a 5xx on RCPT is FAILED (`smtp-550`...), a refused login AUTH.
- while waiting for the reply to the message content: the server may have queued the message and the
  reply was lost, so a dropped connection or timeout there is UNCERTAIN (the outbox never resends it).
- after the 250 to DATA: the server owns the message. A later delivery failure comes back as a bounce
  e-mail to the envelope sender, which this adapter cannot see: an SMTP message stays "sent", never
  "delivered" (Resend's webhooks give those).

TLS is verified against the system trust store (`ssl.create_default_context`); a server with a private
CA is trusted by pointing SSL_CERT_FILE at a bundle that includes it (the tests do exactly that).
"""

import asyncio
import contextlib
import html as html_lib
import queue
import re
import secrets
import smtplib
import ssl
import threading
import time
from email import charset as email_charset
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP as SMTP_POLICY
from email.policy import compat32
from email.utils import formataddr, formatdate, make_msgid
from typing import Any

from app.messaging import attachments as attachment_files
from app.messaging.kinds import SmtpConfig
from app.messaging.protocol import Medium, OutboundMessage, Outcome, SendResult

# Seconds for the TCP connect and for each SMTP reply; a server slower than this is treated as down.
TIMEOUT = 20.0
# A kept connection idle for longer than this is probed with NOOP before use: servers drop idle
# clients after 30-300 s, and a probe is cheaper than a failed MAIL plus a reconnect.
IDLE_PROBE_SECONDS = 10.0
# Connections per channel and worker process: enough to hide the reply time of a local relay, few enough
# that a provider's per-client connection limit (commonly 5-10) is not reached by two workers.
CONNECTIONS = 3

# Headers the adapter writes itself; a caller's `headers` cannot override them.
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to", "mime-version", "content-type"}
)
_TAG_RE = re.compile(r"<[^>]+>")
_BLOCK_RE = re.compile(r"</?(?:p|div|br|tr|li|h[1-6])\b[^>]*>", re.IGNORECASE)


class _Uncertain(Exception):
    """The connection broke after the message content was sent: it may have been accepted."""


def build_mime(message: OutboundMessage, *, from_email: str, from_name: str, message_id: str) -> EmailMessage:
    """The RFC 5322 message: text and html as alternatives, attachments, our Message-ID and headers.

    Header values with CR/LF raise ValueError (email.policy refuses them): no header injection.
    """
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = formataddr((from_name, from_email)) if from_name else from_email
    msg["To"] = message.to
    msg["Subject"] = message.subject or ""
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    if message.reply_to:
        msg["Reply-To"] = message.reply_to
    for name, value in message.headers.items():
        if name.lower() in _OWN_HEADERS:
            continue
        msg[name] = value
    text = message.text or (html_to_text(message.html) if message.html else "")
    msg.set_content(text, subtype="plain", charset="utf-8")
    if message.html:
        msg.add_alternative(message.html, subtype="html", charset="utf-8")
    for att in message.attachments:
        maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
        msg.add_attachment(
            att.data, maintype=maintype, subtype=subtype or "octet-stream", filename=att.filename
        )
    return msg


# Text parts that are not plain short-lined ASCII go quoted-printable (readable, what spam filters expect).
_UTF8_QP = email_charset.Charset("utf-8")
_UTF8_QP.body_encoding = email_charset.QP
_MAX_7BIT_LINE = 998  # RFC 5322's line limit: a longer line cannot go as 7bit
_WIRE = compat32.clone(linesep="\r\n")


def mime_bytes(message: OutboundMessage, *, from_email: str, from_name: str, message_id: str) -> bytes:
    """The message as sent on the wire: `build_mime`'s structure, built with the email package's
    compat32 classes, which cost a quarter of the EmailMessage/policy path's CPU per message (its header
    parsing was most of an SMTP send's worker CPU, docs/benchmarks.md). Addresses that are not ASCII
    (SMTPUTF8) keep the policy path, which writes them as RFC 6532 wants.

    Header values with CR/LF raise ValueError, as the policy path does: no header injection."""
    skeleton, bodies = _compose(message, from_email=from_email, from_name=from_name, message_id=message_id)
    return _splice(skeleton, bodies)


def wire_data(
    message: OutboundMessage, *, from_email: str, from_name: str, message_id: str
) -> tuple[bytes, int]:
    """(what follows DATA: `mime_bytes` dot-stuffed and ended by "."; the message's size for SIZE=).

    The attachments' encoded bodies are spliced in after the rest is dot-stuffed: base64 lines never start
    with a dot and already end in CRLF, so stuffing them would change nothing, and skipping it saves most
    of a large file's cost per message (with the encoding itself, kept per file: `_wire_body`)."""
    skeleton, bodies = _compose(message, from_email=from_email, from_name=from_name, message_id=message_id)
    size = len(skeleton) + sum(len(body) - len(mark) for mark, body in bodies)
    return _splice(_dot_stuffed(skeleton), bodies), size


# Stands for an attachment's encoded body while the rest of the message is generated; random per
# process, so no text of a message can contain it by chance (checked all the same: `_compose`).
_BODY_MARK = "crm-attachment-body-" + secrets.token_hex(16)


def _compose(
    message: OutboundMessage, *, from_email: str, from_name: str, message_id: str, marks: bool = True
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The message with each attachment's encoded body left as a mark, and (mark, body) pairs to splice
    in: generating a large base64 body line by line cost 45 ms per MB and message (docs/benchmarks.md).
    `marks=False`: the bodies generated in place, as the email package writes them (tests compare)."""
    addresses = (from_email, message.to, message.reply_to or "")
    if not all(a.isascii() for a in addresses):
        mime = build_mime(message, from_email=from_email, from_name=from_name, message_id=message_id)
        return mime.as_bytes(policy=SMTP_POLICY), []
    text = message.text or (html_to_text(message.html) if message.html else "")
    root: Any = _text_part(text, "plain")  # its headers take str or Header (typeshed says str)
    if message.html:
        alternative = MIMEMultipart("alternative")
        alternative.attach(root)
        alternative.attach(_text_part(message.html, "html"))
        root = alternative
    bodies: list[tuple[bytes, bytes]] = []
    if message.attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(root)
        for i, att in enumerate(message.attachments):
            mark = None
            if marks:
                mark = f"{_BODY_MARK}-{i}"
                body = attachment_files.encoded(att.key, att.data, "smtp-base64", _wire_body)
                bodies.append((mark.encode("ascii"), body))
            mixed.attach(_attachment_part(att.data, att.content_type, att.filename, mark))
        root = mixed
    root["From"] = formataddr((from_name, from_email), charset="utf-8") if from_name else from_email
    root["To"] = message.to
    root["Subject"] = _header_value(message.subject or "")
    root["Date"] = formatdate(localtime=False, usegmt=True)
    root["Message-ID"] = message_id
    if message.reply_to:
        root["Reply-To"] = _header_value(message.reply_to)
    for name, value in message.headers.items():
        if name.lower() in _OWN_HEADERS:
            continue
        if not name.isascii() or any(c in name for c in "\r\n: "):
            raise ValueError(f"invalid header name {name!r}")
        root[name] = _header_value(value)
    skeleton = bytes(root.as_bytes(policy=_WIRE))
    if any(skeleton.count(mark) != 1 for mark, _ in bodies):
        # A text carrying a mark (never by chance): the whole message generated the ordinary way.
        return _compose(message, from_email=from_email, from_name=from_name, message_id=message_id,
                        marks=False)  # fmt: skip
    return skeleton, bodies


def _splice(skeleton: bytes, bodies: list[tuple[bytes, bytes]]) -> bytes:
    for mark, body in bodies:
        head, _, tail = skeleton.partition(mark)
        skeleton = b"".join((head, body, tail))
    return skeleton


def _wire_body(data: bytes) -> bytes:
    """An attachment's body as the generator writes it: the email package's own base64 (76-character
    lines), line ends made CRLF as `_write_lines` makes them."""
    payload = MIMEApplication(data).get_payload()
    assert isinstance(payload, str)
    return payload.replace("\n", "\r\n").encode("ascii")


def _header_value(value: str) -> str | Header:
    if "\r" in value or "\n" in value:
        raise ValueError("header value with a line break")
    # Non-ASCII text goes as RFC 2047 encoded words, folded by the generator.
    return value if value.isascii() else Header(value, "utf-8")


def _text_part(text: str, subtype: str) -> MIMEText:
    if not text.endswith("\n"):
        text += "\n"  # as EmailMessage.set_content writes it
    if text.isascii() and all(len(line) <= _MAX_7BIT_LINE for line in text.splitlines()):
        return MIMEText(text, subtype, "us-ascii")
    return MIMEText(text, subtype, _UTF8_QP)  # type: ignore[arg-type]


def _attachment_part(data: bytes, content_type: str, filename: str, mark: str | None = None) -> MIMEBase:
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    if mark is None:
        part = MIMEApplication(data, subtype or "octet-stream")  # base64
    else:
        # The headers encode_base64 writes, in its order; the body is spliced in later.
        part = MIMEApplication(b"", subtype or "octet-stream", _encoder=lambda m: _encoded_as(m, mark))
    if maintype != "application":
        part.replace_header("Content-Type", f"{maintype}/{subtype or 'octet-stream'}")
    name: str | tuple[str, str, str] = filename if filename.isascii() else ("utf-8", "", filename)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def _encoded_as(part: MIMEBase, mark: str) -> None:
    part.set_payload(mark)
    part["Content-Transfer-Encoding"] = "base64"


def html_to_text(html: str) -> str:
    """A readable plain-text part for an html-only message (spam filters penalise html without one)."""
    text = _BLOCK_RE.sub("\n", html)
    text = html_lib.unescape(_TAG_RE.sub("", text))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip() + "\n"


def new_message_id(message_id: int, from_email: str) -> str:
    """`<crm.<id>.<random>@<sender's domain>>`: unique, and it names our row when a reply quotes it."""
    domain = from_email.rpartition("@")[2] or "localhost"
    return make_msgid(idstring=f"crm.{message_id}", domain=domain)


class SmtpAdapter:
    kind = "smtp"
    medium = Medium.EMAIL
    # One adapter (up to CONNECTIONS kept connections) per channel and worker process, across chunks and
    # deliveries.
    pooled = True
    max_in_flight = CONNECTIONS

    def __init__(self, config: SmtpConfig, state: dict[str, Any], *, timeout: float = TIMEOUT) -> None:
        self.config = config
        self.state = state
        self.timeout = timeout
        self._lanes: list[_Lane] = []
        self._idle: queue.SimpleQueue[_Lane] = queue.SimpleQueue()
        self._lock = threading.Lock()

    @property
    def open_connections(self) -> int:
        return sum(1 for lane in self._lanes if lane.connected)

    async def send(self, message: OutboundMessage) -> SendResult:
        return await asyncio.to_thread(self._send_on_a_lane, message)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close_all)

    # ------------------------------------------------------------------ worker thread from here on

    def _send_on_a_lane(self, message: OutboundMessage) -> SendResult:
        lane = self._take()
        try:
            return lane.send(message)
        finally:
            self._idle.put(lane)

    def _take(self) -> "_Lane":
        """An idle lane, a new one while fewer than max_in_flight exist, or the next one to come back."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._lanes) < max(1, self.max_in_flight):
                lane = _Lane(self.config, self.timeout)
                self._lanes.append(lane)
                return lane
        return self._idle.get()

    def _close_all(self) -> None:
        for lane in list(self._lanes):
            lane.close()


class _Lane:
    """One SMTP connection, opened on first use, carrying one transaction at a time."""

    def __init__(self, config: SmtpConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self._smtp is not None

    def send(self, message: OutboundMessage) -> SendResult:
        with self._lock:
            return self._send(message)

    def close(self) -> None:
        with self._lock:
            self._close(quit_=True)

    def _send(self, message: OutboundMessage) -> SendResult:
        cfg = self.config
        message_id = new_message_id(message.message_id, cfg.from_email)
        try:
            data, size = wire_data(
                message, from_email=cfg.from_email, from_name=cfg.from_name, message_id=message_id
            )
        except (ValueError, TypeError) as exc:
            return SendResult(Outcome.FAILED, error_code="invalid-message", error=f"message not built: {exc}")
        needs_utf8 = not (cfg.from_email.isascii() and message.to.isascii())
        try:
            try:
                self._transaction(message.to, data, size, needs_utf8)
            except smtplib.SMTPServerDisconnected:
                # A kept connection the server closed while idle fails on its first command (MAIL):
                # nothing was accepted, so one fresh connection is tried at once.
                self._close(quit_=False)
                self._transaction(message.to, data, size, needs_utf8)
        except _Uncertain as exc:
            self._close(quit_=False)
            return SendResult(
                Outcome.UNCERTAIN, provider_message_id=message_id, error_code="smtp-no-reply", error=str(exc)
            )
        except smtplib.SMTPAuthenticationError as exc:
            self._close(quit_=False)
            return SendResult(Outcome.AUTH, error_code=f"smtp-{exc.smtp_code}", error="SMTP login refused")
        except smtplib.SMTPNotSupportedError as exc:
            self._close(quit_=False)
            return SendResult(Outcome.AUTH, error_code="smtp-unsupported", error=f"server lacks: {exc}")
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (550, b""))
            return self._refused(code, reply, "recipient refused")
        except smtplib.SMTPSenderRefused as exc:
            # A 5xx on MAIL FROM (sender not allowed for this login, domain not ours) refuses every
            # message of the channel alike: the channel needs attention, not this message.
            return self._refused(exc.smtp_code, exc.smtp_error, "sender refused", channel_wide=True)
        except smtplib.SMTPDataError as exc:
            return self._refused(exc.smtp_code, exc.smtp_error, "message refused")
        except smtplib.SMTPResponseException as exc:
            # Greeting, EHLO or STARTTLS refused: the server, not the message.
            self._close(quit_=False)
            return self._refused(exc.smtp_code, exc.smtp_error, "server refused", channel_wide=True)
        except ssl.SSLCertVerificationError as exc:
            # A certificate that does not verify will not fix itself: the channel needs attention.
            self._close(quit_=False)
            return SendResult(
                Outcome.AUTH, error_code="smtp-tls", error=f"TLS certificate: {exc.verify_message}"
            )
        except (OSError, smtplib.SMTPException) as exc:
            # Refused or timed-out connect, TLS handshake, a dropped connection before DATA.
            self._close(quit_=False)
            return SendResult(Outcome.RETRY, error_code="smtp-connect", error=f"{type(exc).__name__}: {exc}")
        self._last_used = time.monotonic()
        return SendResult(Outcome.SENT, provider_message_id=message_id)

    def _refused(self, code: int, reply: bytes | str, what: str, *, channel_wide: bool = False) -> SendResult:
        self._reset()
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        error = f"{what}: {code} {text}"[:500]
        if 400 <= code < 500:
            return SendResult(Outcome.RETRY, error_code=f"smtp-{code}", error=error)
        outcome = Outcome.AUTH if channel_wide else Outcome.FAILED
        return SendResult(outcome, error_code=f"smtp-{code}", error=error)

    def _transaction(self, to: str, data: bytes, size: int, needs_utf8: bool) -> None:
        """MAIL, RCPT, DATA on the kept connection (opened on first use), phase by phase; `data` is the
        content already dot-stuffed (`wire_data`), `size` the message's own.

        smtplib's sendmail would hide which phase failed; here a break after the content was sent is
        told apart (UNCERTAIN) from one before it (safe to retry)."""
        smtp = self._connection()
        options: list[str] = []
        if needs_utf8:
            if not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 (non-ASCII address)")
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        if smtp.has_extn("size"):
            options.append(f"SIZE={size}")
        code, reply = smtp.mail(self.config.from_email, options)
        if code == 421:
            raise smtplib.SMTPServerDisconnected("421 on MAIL")
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, self.config.from_email)
        code, reply = smtp.rcpt(to)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        try:
            smtp.send(data)
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _Uncertain(f"no reply after the message content: {type(exc).__name__}") from exc
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None and time.monotonic() - self._last_used > IDLE_PROBE_SECONDS:
            try:
                if self._smtp.noop()[0] != 250:
                    self._close(quit_=False)
            except (OSError, smtplib.SMTPException):
                self._close(quit_=False)
        if self._smtp is None:
            self._smtp = self._connect()
            self._last_used = time.monotonic()
        return self._smtp

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if cfg.security == "ssl":
            smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if cfg.security == "starttls":
                # starttls() raises SMTPNotSupportedError when the server does not offer it: never fall
                # back to plain text with the password.
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.username:
                smtp.login(cfg.username, cfg.password)
        except BaseException:
            _abandon(smtp)
            raise
        return smtp

    def _reset(self) -> None:
        # After a refused MAIL/RCPT/DATA the transaction is aborted so the connection can carry the next.
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._close(quit_=False)

    def _close(self, *, quit_: bool) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if quit_:
            try:
                smtp.quit()
                return
            except (OSError, smtplib.SMTPException):
                pass
        _abandon(smtp)


def _abandon(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


_EOL_RE = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT_RE = re.compile(rb"(?m)^\.")


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload as smtplib.SMTP.data sends it: CRLF line ends, leading dots doubled, "." end."""
    q = _LEADING_DOT_RE.sub(b"..", _EOL_RE.sub(b"\r\n", data))
    if not q.endswith(b"\r\n"):
        q += b"\r\n"
    return q + b".\r\n"
