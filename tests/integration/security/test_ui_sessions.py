"""Issue 12, items 12-14: web UI sessions (binding, expiry, Origin), the user directory, handlers that
fail closed.

Page states are driven as Reflex runs them: a root state per browser tab whose router carries the
websocket handshake's headers (cookies, Origin) and the tab's client token.
"""

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from reflex.istate.data import RouterData
from reflex.state import State
from sqlalchemy import update
from sqlmodel import select
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

import app.pages.agenda
import app.pages.customer
import app.pages.home
import app.pages.segments
import app.pages.tags
import app.pages.users  # noqa: F401  (registers the pages' rules and loads)
from app.auth.tokens import token_hash
from app.pages import login as login_page
from app.pages.agenda import AgendaState
from app.pages.base import UNEXPECTED_ERROR, BellState, SessionState, handle_exception
from app.pages.customer import CustomerState
from app.pages.login import LoginState
from app.pages.segments import SegmentsState
from app.pages.users import UsersState
from app.security.ui_socket import SocketGuard
from app.settings import get_settings
from models.platform import RefreshToken, UiSession, User
from tenants.database import platform_session
from tests.conftest import TenantHandle, api_login

pytestmark = pytest.mark.usefixtures("database_url")


class Tab:
    """One browser tab: a Reflex client token, and the cookies its websocket handshake carried."""

    def __init__(self, token: str | None = None, cookies: dict[str, str] | None = None) -> None:
        self.token = token or str(uuid.uuid4())
        self.root = State(_reflex_internal_init=True)
        self.handshake(cookies or {})

    def handshake(self, cookies: dict[str, str], origin: str | None = None) -> None:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        headers["origin"] = origin or get_settings().public_origin
        data: dict[str, Any] = {
            "headers": headers,
            "ip": "127.0.0.1",
            "token": self.token,
            "pathname": "/",
            "query": {},
        }
        self.root.router_data = data
        self.root.router = RouterData.from_router_data(data)

    def state(self, cls: type[SessionState]) -> Any:
        return self.root.get_substate(cls.get_full_name().split("."))

    def copy_into_another_browser(self, cookies: dict[str, str] | None = None) -> "Tab":
        """The same client token (and server-side state) reached from another browser's handshake."""
        other = Tab.__new__(Tab)
        other.token, other.root = self.token, self.root
        other.handshake(cookies or {})
        return other


def _names(events: Any) -> list[str]:
    """Handler names of what an event returned (EventHandlers, EventSpecs, lists of them)."""
    items = events if isinstance(events, list) else [events]
    out = []
    for e in items:
        if e is None:
            continue
        handler = getattr(e, "handler", e)
        fn = getattr(handler, "fn", None)
        out.append(getattr(fn, "__qualname__", repr(e)))
    return out


def _is_login_redirect(events: Any) -> bool:
    return any("_redirect" in n for n in _names(events)) and '"/"' in repr(events)


def capture_secrets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The one-shot secrets the login page hands to its bind script (the browser would post them)."""
    secrets: list[str] = []
    original = login_page.bind_script

    def spy(secret: str) -> str:
        secrets.append(secret)
        return original(secret)

    monkeypatch.setattr(login_page, "bind_script", spy)
    return secrets


def ui_login(
    tenant: TenantHandle, email: str, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> tuple[Tab, dict[str, str]]:
    """Log in through the login page's event and trade the secret for the cookie over real HTTP."""
    secrets = capture_secrets(monkeypatch)
    tab = Tab()
    result = tab.state(LoginState).submit(
        {"tenant": tenant.slug, "email": email, "password": tenant.password}
    )
    assert tab.state(LoginState).error == "", tab.state(LoginState).error
    assert secrets and secrets[0] in repr(result)  # the page posts it to /api/auth/sessao-web
    r = http.post("/api/auth/sessao-web", json={"secret": secrets[0]})
    assert r.status_code == 204, r.text
    set_cookie = r.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # PUBLIC_URL is http here; https makes it Secure
    name, value = set_cookie.split(";")[0].split("=", 1)
    cookies = {name: value}
    tab.handshake(cookies)  # the page navigates: a new websocket, now with the cookie
    return tab, cookies


def _row(tab: Tab) -> UiSession:
    with platform_session() as db:
        row = db.exec(
            select(UiSession)
            .where(UiSession.client_token_hash == token_hash(tab.token))
            .order_by(UiSession.id.desc())
        ).first()
        assert row is not None
        return row


def _backdate(tab: Tab, *, idle: timedelta | None = None, age: timedelta | None = None) -> None:
    row = _row(tab)
    with platform_session() as db:
        if idle is not None:
            db.exec(
                update(UiSession).where(UiSession.id == row.id).values(last_seen_at=datetime.now(UTC) - idle)
            )
        if age is not None:
            db.exec(
                update(RefreshToken)
                .where(RefreshToken.family == row.family)
                .values(created_at=datetime.now(UTC) - age, expires_at=datetime.now(UTC) + timedelta(days=1))
            )
        db.commit()


@pytest.fixture
def agent_email(tenant: TenantHandle) -> str:
    return tenant.actor("agent").email


# ---- item 12: expiry ----------------------------------------------------------------------------


def test_api_tokens_stop_when_their_family_is_past_its_absolute_lifetime(client, tenant) -> None:
    headers = api_login(client, tenant)
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    with platform_session() as db:
        db.exec(
            update(RefreshToken)
            .where(RefreshToken.user_id == tenant.actor().user_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=get_settings().refresh_token_days + 10))
        )
        db.commit()
    r = client.get("/api/auth/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["detail"] == "Sessão encerrada. Entre novamente."


def test_ui_session_past_its_absolute_lifetime_goes_to_the_login(tenant, http, monkeypatch) -> None:
    tab, _ = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    assert "SessionState.show" in " ".join(_names(tab.state(SessionState).guard("/inicio")))  # let in
    _backdate(tab, age=timedelta(days=get_settings().refresh_token_days + 40))
    result = tab.state(SessionState).guard("/inicio")
    assert _is_login_redirect(result)
    assert tab.state(SessionState)._user_id is None


def test_ui_session_idle_past_session_idle_minutes_ends(tenant, http, monkeypatch) -> None:
    tab, _ = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    idle = get_settings().session_idle_minutes
    _backdate(tab, idle=timedelta(minutes=idle - 1))
    assert "SessionState.show" in " ".join(_names(tab.state(SessionState).guard("/inicio")))
    _backdate(tab, idle=timedelta(minutes=idle + 1))
    result = tab.state(SessionState).guard("/inicio")
    assert _is_login_redirect(result)
    assert "inatividade" in repr(result)
    assert tab.state(SessionState).ended_notice == "Sua sessão expirou por inatividade. Entre novamente."
    row = _row(tab)
    assert row.ended_at is not None
    with platform_session() as db:  # the refresh family ends with it
        revoked = db.exec(select(RefreshToken.revoked_at).where(RefreshToken.family == row.family)).all()
    assert revoked and all(r is not None for r in revoked)


# ---- item 12: binding --------------------------------------------------------------------------


def test_copied_client_token_without_the_cookie_is_not_the_session(tenant, http, monkeypatch) -> None:
    tab, cookies = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    assert tab.state(SessionState).actor().user_id is not None

    thief = tab.copy_into_another_browser({"crm_ui_other": "x"})
    result = thief.state(SessionState).guard("/admin/usuarios")
    assert _is_login_redirect(result)
    assert "UsersState.load" not in " ".join(_names(result))
    # Theft detected: the session is over for the victim's tab too.
    tab.handshake(cookies)
    assert _is_login_redirect(tab.state(SessionState).guard("/inicio"))


def test_a_login_binds_a_new_secret_and_ends_the_tabs_previous_session(tenant, http, monkeypatch) -> None:
    tab, first = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    first_row = _row(tab)
    # A second tab (its own client token) gets its own session and leaves the first alone.
    _, second = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    assert first != second
    with platform_session() as db:
        assert db.get(UiSession, first_row.id).ended_at is None  # another tab: untouched
    # Logging in again in the first tab (same client token): new key and secret, old session ended.
    secrets = capture_secrets(monkeypatch)
    tab.state(LoginState).submit(
        {"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.password}
    )
    with platform_session() as db:
        assert db.get(UiSession, first_row.id).ended_at is not None
    assert _row(tab).binding_hash == token_hash(secrets[-1])


def test_the_cookie_exchange_is_single_use(tenant, http, monkeypatch) -> None:
    secrets = capture_secrets(monkeypatch)
    tab = Tab()
    tab.state(LoginState).submit(
        {"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.password}
    )
    assert http.post("/api/auth/sessao-web", json={"secret": secrets[0]}).status_code == 204
    replay = http.post("/api/auth/sessao-web", json={"secret": secrets[0]})
    assert replay.status_code == 401
    assert "set-cookie" not in replay.headers
    assert http.post("/api/auth/sessao-web", json={"secret": "adivinhado"}).status_code == 401


def test_a_role_change_ends_the_ui_session(tenant, http, monkeypatch, agent_email) -> None:
    tab, _ = ui_login(tenant, agent_email, http, monkeypatch)
    assert tab.state(SessionState).guard("/inicio") is not None
    with platform_session() as db:
        db.exec(update(User).where(User.email == agent_email).values(role="manager"))
        db.commit()
    result = tab.state(SessionState).guard("/admin/etiquetas")
    assert _is_login_redirect(result)
    assert "permissões mudaram" in repr(result)


def test_stale_session_cookies_are_deleted_at_the_next_login(tenant, http, monkeypatch) -> None:
    tab, cookies = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    tab.state(SessionState).logout()
    secrets = capture_secrets(monkeypatch)
    Tab().state(LoginState).submit(
        {"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.password}
    )
    http.cookies.clear()
    r = http.post(
        "/api/auth/sessao-web",
        json={"secret": secrets[0]},
        headers={"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
    )
    assert r.status_code == 204
    deleted = [c for c in r.headers.get_list("set-cookie") if c.startswith(next(iter(cookies)) + "=")]
    assert deleted and ("Max-Age=0" in deleted[0] or "expires=" in deleted[0].lower())


# ---- item 12: the websocket handshake (Origin + binding) --------------------------------------


@pytest.fixture
def socket_client() -> Iterator[TestClient]:
    async def events(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("state")
        await ws.close()

    inner = Starlette(routes=[WebSocketRoute("/_event/", events)])
    with TestClient(SocketGuard(inner), base_url="http://localhost") as c:
        yield c


def _connect(client: TestClient, token: str, origin: str | None, cookies: dict[str, str]) -> str:
    headers = {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    if origin is not None:
        headers["origin"] = origin
    with client.websocket_connect(f"/_event/?EIO=4&transport=websocket&token={token}", headers=headers) as ws:
        return ws.receive_text()


def test_websocket_handshake_checks_origin_and_binding(tenant, http, monkeypatch, socket_client) -> None:
    tab, cookies = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    origin = get_settings().public_origin
    assert _connect(socket_client, tab.token, origin, cookies) == "state"
    assert _connect(socket_client, str(uuid.uuid4()), origin, {}) == "state"  # a tab that never logged in
    with pytest.raises(WebSocketDisconnect):  # the copied token, from a browser without the cookie
        _connect(socket_client, tab.token, origin, {})
    with pytest.raises(WebSocketDisconnect):
        _connect(socket_client, tab.token, origin, {next(iter(cookies)): "forjado"})
    with pytest.raises(WebSocketDisconnect):  # cross-site page
        _connect(socket_client, str(uuid.uuid4()), "https://evil.example", {})


def test_reflex_socketio_is_configured_with_the_public_origin() -> None:
    from rxconfig import config

    assert list(config.cors_allowed_origins) == [get_settings().public_origin]


# ---- item 13: the user directory ---------------------------------------------------------------


def test_agents_get_403_on_the_user_directory_but_an_assignable_list(client, tenant, auth_headers) -> None:
    agent = auth_headers(tenant, "agent")
    r = client.get("/api/users", headers=agent)
    assert r.status_code == 403
    assert r.json()["detail"] == "Você não tem permissão para esta ação."
    assert client.get("/api/users", headers=auth_headers(tenant, "manager")).status_code == 200
    assert client.get("/api/users", headers=auth_headers(tenant, "admin")).status_code == 200
    mine = client.get("/api/users/assignable", headers=agent).json()
    assert len(mine) == 1 and set(mine[0]) == {"id", "name"}
    everyone = client.get("/api/users/assignable", headers=auth_headers(tenant, "admin")).json()
    assert len(everyone) >= 3


def test_a_page_load_runs_only_after_its_guard_lets_the_user_in(
    tenant, http, monkeypatch, agent_email
) -> None:
    tab, _ = ui_login(tenant, agent_email, http, monkeypatch)
    result = tab.state(SessionState).guard("/admin/usuarios")
    names = " ".join(_names(result))
    assert "UsersState.load" not in names and "_redirect" in names
    assert not tab.state(SessionState).ready
    # Even called directly (a crafted event), the loader gets nothing from the service.
    tab.state(UsersState).load()
    assert tab.state(UsersState).rows == []

    admin_tab, _ = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    names = _names(admin_tab.state(SessionState).guard("/admin/usuarios"))
    assert any("UsersState.load" in n for n in names)
    assert any(n.endswith("BellState.refresh") for n in names)
    admin_tab.state(UsersState).load()
    assert {r.email for r in admin_tab.state(UsersState).rows} >= {agent_email, tenant.admin_email}
    assert BellState.refresh  # the bell is one of the page's loads, after the guard


# ---- item 14: handlers fail closed -------------------------------------------------------------


def test_customer_load_when_logged_out_redirects_instead_of_raising() -> None:
    tab = Tab()
    result = tab.state(CustomerState).load()
    assert isinstance(result, list) and None not in result
    assert _is_login_redirect(result)


def test_agenda_set_owner_before_the_agenda_loaded(tenant, http, monkeypatch) -> None:
    tab, _ = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    agenda = tab.state(AgendaState)
    assert agenda.day == ""
    assert agenda.set_owner(str(tenant.actor().user_id)) is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", agenda.day)
    assert agenda.title
    agenda.day = "não é data"
    assert agenda.shift(1) is None


def test_segments_save_of_a_missing_segment_is_a_toast(tenant, http, monkeypatch) -> None:
    tab, _ = ui_login(tenant, tenant.admin_email, http, monkeypatch)
    segments_state = tab.state(SegmentsState)
    segments_state.editing = "987654"
    result = segments_state.submit({"name": "X"})
    assert "Segmento não encontrado." in repr(result)


def test_any_other_exception_becomes_a_pt_br_toast() -> None:
    result = handle_exception(ValueError("Invalid isoformat string: ''"))
    assert UNEXPECTED_ERROR in repr(result)
    assert "isoformat" not in repr(result)
