"""WPPConnect sessions: pair a phone by QR code, follow its status, disconnect it.

Services take a Session and never commit. They call the WPPConnect server (short timeouts, the
adapter's HTTP client) and record what it answered on the channel: `Channel.status` (active |
connecting | qrcode | disconnected), `state["qrcode"]` (the current QR image as a data URL, while
pairing), the encrypted bearer token `state["token"]` and the channel's webhook secret
`state["webhook_secret"]` (encrypted). The server then reports changes by webhook
(`apply_session_event`), so the screen only reads the channel.

The webhook URL handed to the server is `{PUBLIC_URL}/api/webhooks/wppconnect/{tenant}-{channel}
?token=<secret>`: WPPConnect posts to a bare URL and cannot add headers, so the secret rides in the
query string (compared in constant time; the URL is never logged or returned).
"""

import asyncio
import hmac
import secrets
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from cryptography.fernet import InvalidToken
from pydantic import BaseModel
from sqlmodel import Session

from app.audit.log import record
from app.auth.actor import Actor, system_actor
from app.auth.permissions import Perm
from app.errors import DomainError, Forbidden, NotFound
from app.messaging import alerts, channel_state, channels
from app.messaging import webhook_routes as routes
from app.messaging.adapters.wppconnect import TokenError, WppConnectAdapter
from app.messaging.kinds import WppConnectConfig
from app.security.keys import decrypt, encrypt
from models.base import utcnow
from models.tenant import Channel

T = TypeVar("T")
C = TypeVar("C", bound=BaseModel)
TIMEOUT = httpx.Timeout(10.0, connect=3.0)  # an admin is waiting on the screen

STATUS_LABELS = {
    "active": "Conectado",
    "connecting": "Conectando",
    "qrcode": "Aguardando leitura do QR code",
    "disconnected": "Desconectado",
    "paused": "Pausado",
    "error": "Com erro",
}
# The server's session status (status-session, start-session) onto the channel's.
SERVER_STATUS = {
    "CONNECTED": "active",
    "QRCODE": "qrcode",
    "INITIALIZING": "connecting",
    "STARTING": "connecting",
    "OPENING": "connecting",
    "CLOSED": "disconnected",
    "DISCONNECTED": "disconnected",
}
# `status-find` webhook values (WPPConnect's StatusFind) onto the channel's.
STATUS_FIND = {
    "isLogged": "active",
    "inChat": "active",
    "qrReadSuccess": "active",
    "chatsAvailable": "active",
    "notLogged": "qrcode",
    "qrReadError": "qrcode",
    "qrReadFail": "disconnected",
    "browserClose": "disconnected",
    "desconnectedMobile": "disconnected",
    "disconnectedMobile": "disconnected",
    "serverClose": "disconnected",
    "deleteToken": "disconnected",
    "autocloseCalled": "disconnected",
    "phoneNotConnected": "disconnected",
}


class ProviderUnavailable(DomainError):
    """The WPPConnect server refused or did not answer (503: try again; nothing was changed here)."""

    code = "provider_unavailable"
    status = 503


@dataclass(frozen=True)
class SessionView:
    channel_id: int
    status: str
    status_label: str
    qrcode: str | None  # data:image/png;base64,... while waiting for the phone
    detail: str | None


def view(channel: Channel) -> SessionView:
    state = channel.state or {}
    # A channel whose session was never started is not connected, whatever its creation status says.
    status = channel.status if "webhook_secret" in state else "disconnected"
    qrcode = state.get("qrcode") if status == "qrcode" else None
    return SessionView(
        channel_id=channel.id or 0,
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        qrcode=qrcode if isinstance(qrcode, str) else None,
        detail=channel.status_detail,
    )


# ---------------------------------------------------------------- webhook secret


def _webhook_secret(state: dict[str, Any]) -> str:
    stored = state.get("webhook_secret")
    if isinstance(stored, str) and stored:
        try:
            return decrypt(stored)
        except (InvalidToken, ValueError):
            pass
    secret = secrets.token_urlsafe(32)
    state["webhook_secret"] = encrypt(secret)
    return secret


def webhook_token_ok(channel: Channel, token: str) -> bool:
    stored = (channel.state or {}).get("webhook_secret")
    if not token or not isinstance(stored, str) or not stored:
        return False
    try:
        expected = decrypt(stored)
    except (InvalidToken, ValueError):
        return False
    return hmac.compare_digest(token.encode(), expected.encode())


def webhook_url(tenant_id: int, channel_id: int, secret: str) -> str:
    return f"{routes.webhook_url('wppconnect', tenant_id, channel_id)}?token={secret}"


# ---------------------------------------------------------------- channel and server


def decrypted_config(channel: Channel, model: type[C]) -> C:
    """The channel's configuration with its secrets decrypted, as `model` (for provider calls only)."""
    config = channels.config_model(channel)
    if not isinstance(config, model):
        raise ValueError(f"channel {channel.id} is not a {model.__name__}")
    return config


def _config(channel: Channel) -> WppConnectConfig:
    return decrypted_config(channel, WppConnectConfig)


def _channel(db: Session, actor: Actor, channel_id: int) -> Channel:
    channel = db.get(Channel, channel_id)
    if channel is None or channel.deleted_at is not None or channel.kind != "wppconnect":
        raise NotFound("Canal WPPConnect não encontrado.")
    check_access(actor, channel)
    return channel


def check_access(actor: Actor, channel: Channel) -> None:
    """Admins manage every session; an agent manages the session that is their own."""
    if actor.can(Perm.CHANNELS_MANAGE):
        return
    if actor.user_id is None or channel.owner_user_id != actor.user_id:
        raise Forbidden("Você não pode gerenciar a sessão deste canal.")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run the adapter's coroutine from synchronous code (REST routes in the thread pool, tasks); from
    inside an event loop (a Reflex handler) it runs on a helper thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _call(
    channel: Channel, state: dict[str, Any], method: str, path: str, body: Any = None
) -> httpx.Response:
    async def go() -> httpx.Response:
        adapter = WppConnectAdapter(_config(channel), state, timeout=TIMEOUT)
        try:
            return await adapter.request(method, path, body)
        finally:
            await adapter.aclose()

    try:
        return _run(go())
    except TokenError as exc:
        raise ProviderUnavailable("O servidor WPPConnect recusou a chave secreta do canal.") from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            "O servidor WPPConnect não respondeu. Tente novamente em instantes."
        ) from exc


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _set_status(
    db: Session, channel: Channel, status: str, detail: str | None = None, qrcode: str | None = None
) -> bool:
    """Record a status (and the QR image while pairing); True when the status changed."""
    if status == "qrcode" and qrcode:
        channel_state.merge(db, channel, {"qrcode": qrcode})
    elif status != "qrcode" and "qrcode" in (channel.state or {}):
        channel_state.merge(db, channel, {}, ["qrcode"])
    changed = channel.status != status
    channel.status, channel.status_detail = status, detail
    if changed:
        channel.status_at = utcnow()
    channel.updated_at = utcnow()
    return changed


# ---------------------------------------------------------------- services


def start(db: Session, actor: Actor, channel_id: int) -> SessionView:
    """Start (or reconnect) the session: a fresh token, then start-session with our webhook URL. A paired
    phone reconnects at once; otherwise the QR code arrives by webhook and `status` shows it."""
    channel = _channel(db, actor, channel_id)
    state = dict(channel.state or {})
    url = webhook_url(actor.tenant_id or 0, channel.id or 0, _webhook_secret(state))

    async def go() -> httpx.Response:
        adapter = WppConnectAdapter(_config(channel), state, timeout=TIMEOUT)
        try:
            await adapter.generate_token()
            return await adapter.request("POST", "start-session", {"webhook": url, "waitQrCode": False})
        finally:
            await adapter.aclose()

    try:
        response = _run(go())
    except TokenError as exc:
        raise ProviderUnavailable("O servidor WPPConnect recusou a chave secreta do canal.") from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(
            "O servidor WPPConnect não respondeu. Tente novamente em instantes."
        ) from exc
    if response.status_code >= 400:
        raise ProviderUnavailable(
            f"O servidor WPPConnect recusou iniciar a sessão (HTTP {response.status_code})."
        )
    body = _json(response)
    before = channel.status
    channel_state.save(db, channel, channel.state, state)
    server = str(body.get("status") or "INITIALIZING").upper()
    _set_status(db, channel, SERVER_STATUS.get(server, "connecting"), None, body.get("qrcode") or None)
    db.add(channel)
    record(
        db,
        actor,
        "channel.session_start",
        "channel",
        channel.id,
        {"status": before},
        {"status": channel.status},
    )
    return view(channel)


def status(db: Session, actor: Actor, channel_id: int) -> SessionView:
    """Ask the server (status-session) and record its answer; the QR code comes with it while pairing."""
    channel = _channel(db, actor, channel_id)
    state = dict(channel.state or {})
    response = _call(channel, state, "GET", "status-session")
    channel_state.save(db, channel, channel.state, state)  # a regenerated token is kept
    if response.status_code >= 400:
        raise ProviderUnavailable(
            f"O servidor WPPConnect não informou o status (HTTP {response.status_code})."
        )
    body = _json(response)
    server = str(body.get("status") or "CLOSED").upper()
    before = channel.status
    if _set_status(db, channel, SERVER_STATUS.get(server, "disconnected"), None, body.get("qrcode") or None):
        record(
            db,
            actor,
            "channel.session_status",
            "channel",
            channel.id,
            {"status": before},
            {"status": channel.status},
        )
    db.add(channel)
    return view(channel)


def qrcode_png(db: Session, actor: Actor, channel_id: int) -> bytes | None:
    """The QR image straight from the server (qrcode-session), None when there is none to scan."""
    channel = _channel(db, actor, channel_id)
    state = dict(channel.state or {})
    response = _call(channel, state, "GET", "qrcode-session")
    channel_state.save(db, channel, channel.state, state)
    db.add(channel)
    if response.status_code == 200 and response.headers.get("content-type", "").startswith("image/png"):
        return response.content
    return None


def logout(db: Session, actor: Actor, channel_id: int) -> SessionView:
    """Unpair the phone (logout-session): the next start needs a new QR code."""
    return _end(db, actor, channel_id, "logout-session", "channel.session_logout")


def close(db: Session, actor: Actor, channel_id: int) -> SessionView:
    """Stop the session but keep the phone paired (close-session): start reconnects without a QR code."""
    return _end(db, actor, channel_id, "close-session", "channel.session_close")


def _end(db: Session, actor: Actor, channel_id: int, path: str, action: str) -> SessionView:
    channel = _channel(db, actor, channel_id)
    state = dict(channel.state or {})
    response = _call(channel, state, "POST", path)
    channel_state.save(db, channel, channel.state, state)
    if response.status_code >= 400:
        raise ProviderUnavailable(
            f"O servidor WPPConnect recusou encerrar a sessão (HTTP {response.status_code})."
        )
    before = channel.status
    _set_status(db, channel, "disconnected")
    db.add(channel)
    record(db, actor, action, "channel", channel.id, {"status": before}, {"status": channel.status})
    return view(channel)


def reconnect(db: Session, actor: Actor, channel_id: int) -> SessionView:
    return start(db, actor, channel_id)


def apply_session_event(db: Session, channel: Channel, status_find: str | None, qrcode: str | None) -> None:
    """A `status-find` or `qrcode` webhook: record the session's state (audited when it changes; QR
    rotations every ~20 s are not)."""
    before = channel.status
    if qrcode is not None:
        changed = _set_status(db, channel, "qrcode", None, qrcode)
    elif status_find:
        mapped = STATUS_FIND.get(status_find)
        if mapped is None:
            channel.status_detail = status_find[:500]
            db.add(channel)
            return
        changed = _set_status(db, channel, mapped, status_find[:500])
    else:
        return
    db.add(channel)
    if changed:
        actor = system_actor(None, str(db.info.get("schema", "")))
        record(
            db,
            actor,
            "channel.session_status",
            "channel",
            channel.id,
            {"status": before},
            {"status": channel.status},
        )
        if before == "active" and channel.status == "disconnected":
            # The outbox sends through live sessions only, so sending already stopped; someone must
            # reconnect (or find out why WhatsApp dropped the number) before it resumes.
            alerts.alert_admins(
                db,
                title=f"WhatsApp desconectado: {channel.name}",
                body="A sessão caiu e os envios deste número pararam. "
                "Reconecte-a (leia o QR code) para retomar.",
                link=f"/canais/{channel.id}/sessao",
                channel_id=channel.id or 0,
            )
