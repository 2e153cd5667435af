"""Issue 12 in Chromium: a UI session belongs to the browser that logged in, ends when expired, the
websocket refuses other origins, and an agent's browser never receives the user directory."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import select

from tests.e2e.conftest import login

COPY_STORAGE = """() => JSON.stringify({
    session: Object.fromEntries(Object.entries(sessionStorage)),
    local: Object.fromEntries(Object.entries(localStorage)),
})"""


def _restore_storage(dump: str) -> str:
    """An init script that puts another browser's storage in place before the app's scripts run."""
    return f"""(() => {{
        const d = {dump};
        for (const [k, v] of Object.entries(d.session)) sessionStorage.setItem(k, v);
        for (const [k, v] of Object.entries(d.local)) localStorage.setItem(k, v);
    }})();"""


def _session_ends(user_id: int | None) -> list[dict[str, str]]:
    """Why this user's UI sessions ended (the platform audit log)."""
    from models.platform import PlatformAudit
    from tenants.database import platform_session

    with platform_session() as db:
        return list(
            db.exec(
                select(PlatformAudit.after).where(
                    PlatformAudit.action == "auth.ui_session_end", PlatformAudit.entity_id == str(user_id)
                )
            ).all()
        )


def _ws_opens(page, url: str) -> bool:
    return bool(
        page.evaluate(
            """(url) => new Promise((done) => {
                const ws = new WebSocket(url);
                ws.onopen = () => { ws.close(); done(true); };
                ws.onerror = () => done(false);
                ws.onclose = () => done(false);
            })""",
            url,
        )
    )


def test_copied_storage_is_not_the_session_and_expired_sessions_go_to_login(
    page, browser, app_url, make_tenant
) -> None:
    from models.platform import RefreshToken, UiSession
    from tenants.database import platform_session

    t = make_tenant()
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/admin/usuarios")
    expect(page.locator("#users-table")).to_contain_text(t.admin_email)

    # The session cookie: HttpOnly, SameSite=Strict, not readable by the page.
    cookies = [c for c in page.context.cookies() if c["name"].startswith("crm_ui_")]
    assert len(cookies) == 1
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert "crm_ui_" not in page.evaluate("document.cookie")
    dump = page.evaluate(COPY_STORAGE)
    assert json.loads(dump)["session"].get("token")

    # Another browser with a copy of the tab's storage (the client token): refused at the handshake,
    # it never receives the victim's state.
    thief = browser.new_context(base_url=app_url, locale="pt-BR")
    frames: list[str] = []
    try:
        thief.add_init_script(_restore_storage(dump))
        stolen = thief.new_page()
        stolen.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
        stolen.goto("/admin/usuarios")
        stolen.wait_for_timeout(4000)
        assert stolen.evaluate("sessionStorage.getItem('token')") == json.loads(dump)["session"]["token"]
        expect(stolen.locator("body")).not_to_contain_text(t.admin_email)
        expect(stolen.locator("body")).not_to_contain_text(f"Org {t.slug}")
        assert not any(t.admin_email in f for f in frames)
    finally:
        thief.close()

    # The victim's own tab is unaffected.
    page.goto("/admin/usuarios")
    expect(page.locator("#users-table")).to_contain_text(t.admin_email)

    # Idle past SESSION_IDLE_MINUTES: the next page sends the browser to the login.
    with platform_session() as db:
        db.exec(
            update(UiSession)
            .where(UiSession.user_id == t.actor().user_id)
            .values(last_seen_at=datetime.now(UTC) - timedelta(hours=3))
        )
        db.commit()
    page.goto("/admin/usuarios")
    page.wait_for_selector("#login-submit")
    expect(page.locator("#ended-notice")).to_have_text("Sua sessão expirou por inatividade. Entre novamente.")
    assert {"reason": "idle"} in _session_ends(t.actor().user_id)

    # Past the absolute lifetime (the login's refresh family is older than REFRESH_TOKEN_DAYS).
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    expect(page.locator("#sidebar")).to_contain_text(f"Org {t.slug}")
    with platform_session() as db:
        family = db.exec(
            select(UiSession.family)
            .where(UiSession.user_id == t.actor().user_id, UiSession.ended_at.is_(None))
            .order_by(UiSession.id.desc())
        ).first()
        db.exec(
            update(RefreshToken)
            .where(RefreshToken.family == family)
            .values(created_at=datetime.now(UTC) - timedelta(days=70))
        )
        db.commit()
    page.goto("/admin/usuarios")
    page.wait_for_selector("#login-submit")
    expect(page.locator("#ended-notice")).to_contain_text("Entre novamente.")
    # The page that noticed may be /admin/usuarios or a load still running on /inicio; either way the
    # session ended because its family is past its lifetime, and the browser is at the login.
    assert {"reason": "invalid"} in _session_ends(t.actor().user_id)


def test_websocket_refuses_other_origins(page, app_url) -> None:
    port = urlsplit(app_url).port
    socket = f"ws://127.0.0.1:{port}/_event/?EIO=4&transport=websocket&token=e2e-origin-check"
    page.goto("/")
    assert _ws_opens(page, socket)  # from the public origin
    page.goto(f"http://localhost:{port}/")  # same app, another origin
    assert not _ws_opens(page, socket)


def test_agent_browser_never_receives_the_user_directory(page, make_tenant) -> None:
    t = make_tenant()
    agent = t.actor("agent")
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    login(page, t.slug, agent.email, t.password)
    page.wait_for_url("**/inicio")
    page.goto("/admin/usuarios")
    page.wait_for_url("**/inicio")
    expect(page.get_by_text("Você não tem acesso a esta página.")).to_be_visible()
    page.wait_for_timeout(1000)
    assert frames, "no websocket traffic was observed"
    assert not any(t.admin_email in f for f in frames)
