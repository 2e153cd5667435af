"""The Content-Security-Policy and the other security headers on the Reflex port, in Chromium: the login
and sign-up pages and the main workspace screens render and work with no CSP violation (neither a
`securitypolicyviolation` event nor a console message), and the served HTML carries the headers."""

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login

# Recorded by every page before its own scripts run.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""

WORKSPACE = ["/inicio", "/clientes", "/agenda", "/importacoes", "/admin/usuarios", "/admin/etiquetas"]


def _violations(page: Page) -> list[str]:
    return list(page.evaluate("window.__cspViolations || []"))


def test_security_headers_on_the_reflex_port(app_url: str) -> None:
    for path in ["/", "/cadastro", "/ping"]:
        r = httpx.get(app_url + path, follow_redirects=True)
        assert r.status_code == 200, path
        assert "content-security-policy" in r.headers, path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"]
        assert "server" not in r.headers, (path, r.headers.get("server"))
        assert "strict-transport-security" not in r.headers  # plain http here


def test_no_csp_violation_on_login_and_workspace_pages(page: Page, make_tenant) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.add_init_script(COLLECT_VIOLATIONS)

    def check(path: str) -> None:
        violations = _violations(page)
        csp_console = [m for m in console if "Content Security Policy" in m or "Content-Security-Policy" in m]
        assert not violations, (path, violations)
        assert not csp_console, (path, csp_console)

    page.goto("/")
    page.wait_for_selector("#login-submit")
    check("/")
    page.goto("/cadastro")
    page.wait_for_selector("#signup-submit")
    check("/cadastro")

    t = make_tenant()
    login(page, t.slug, t.admin_email, t.password)
    page.wait_for_url("**/inicio")
    expect(page.locator("#sidebar")).to_be_visible()
    for path in WORKSPACE:
        page.goto(path)
        expect(page.locator("#sidebar")).to_be_visible()
        page.wait_for_load_state("networkidle")
        check(path)

    # An event that runs client script (rx.call_script, evaluated by Reflex's state.js): the import
    # page reads the chosen file through it.
    page.goto("/importacoes")
    page.click("#send-file")
    # Either the event ran (its pt-BR message shows) or the policy blocked it (a violation is reported).
    page.wait_for_function(
        "window.__cspViolations.length > 0 || !!document.getElementById('upload-error')", timeout=20_000
    )
    check("/importacoes (call_script)")
    expect(page.locator("#upload-error")).to_contain_text("Escolha um arquivo")
