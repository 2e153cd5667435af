"""The web app's downloads (app.api.ui_downloads): a ticket alone opens nothing.

The browser downloads the Clientes export from a URL the page signed for its own UI session; the route
also wants that session's HttpOnly cookie, so a forged, expired, repurposed or leaked URL gets a 401.
(The download itself is exercised in Chromium: tests/e2e/test_workspace.py.)
"""

import httpx
import pytest

from app.auth import ui_tickets

pytestmark = pytest.mark.usefixtures("database_url")

URL = "/api/ui/clientes/exportar/{}"


def test_garbage_ticket_is_refused(client) -> None:
    response = client.get(URL.format("not-a-ticket"))
    assert response.status_code == 401


def test_expired_ticket_is_refused(client) -> None:
    ticket = ui_tickets.issue("key", 1, ui_tickets.CUSTOMERS_EXPORT, {}, ttl_s=-10)
    assert client.get(URL.format(ticket)).status_code == 401


def test_ticket_for_another_purpose_is_refused(client) -> None:
    ticket = ui_tickets.issue("key", 1, "something-else", {})
    assert client.get(URL.format(ticket)).status_code == 401


def test_ticket_without_its_session_cookie_is_refused(client) -> None:
    # A genuine ticket whose UI session this client does not hold (a leaked URL in another browser).
    ticket = ui_tickets.issue("no-such-session", 1, ui_tickets.CUSTOMERS_EXPORT, {})
    response = client.get(URL.format(ticket))
    assert response.status_code == 401
    assert "text/csv" not in response.headers.get("content-type", "")


# ---- attachment previews (the profile's chat and timeline) ------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_attachment_preview_needs_its_session_and_stays_in_its_tenant(
    tenant, make_tenant, http, monkeypatch
) -> None:
    from app.messaging import attachments
    from tests.integration.security.test_ui_sessions import _row, ui_login

    tab, _ = ui_login(tenant, tenant.admin_email, http, monkeypatch)  # the client keeps the cookie
    row = _row(tab)
    own = attachments.store(tenant.schema, "foto.png", PNG)
    other = attachments.store(make_tenant().schema, "alheia.png", PNG)

    def url(key: str) -> str:
        ticket = ui_tickets.issue(row.key, row.user_id, ui_tickets.ATTACHMENT, {"key": key})
        return f"/api/ui/anexos/{ticket}"

    shown = http.get(url(own["key"]))
    assert shown.status_code == 200 and shown.content == PNG
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline")
    # Another organisation's file, even under a genuine ticket of this session: 404, nothing leaks.
    foreign = http.get(url(other["key"]))
    assert foreign.status_code == 404 and PNG not in foreign.content
    # Without the session's cookie (a copied link), or with a ticket for another purpose: 401.
    assert httpx.get(str(http.base_url) + url(own["key"])).status_code == 401
    export_ticket = ui_tickets.issue(row.key, row.user_id, ui_tickets.CUSTOMERS_EXPORT, {"key": own["key"]})
    assert http.get(f"/api/ui/anexos/{export_ticket}").status_code == 401
