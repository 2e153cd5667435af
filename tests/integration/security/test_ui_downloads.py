"""The web app's downloads (app.api.ui_downloads): a ticket alone opens nothing.

The browser downloads the Clientes export from a URL the page signed for its own UI session; the route
also wants that session's HttpOnly cookie, so a forged, expired, repurposed or leaked URL gets a 401.
(The download itself is exercised in Chromium: tests/e2e/test_workspace.py.)
"""

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
