"""Serve the real app (reflex run --env prod: frontend + backend + REST on one port) for Chromium."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import serve_app

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def app_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_app(database_url, tmp_path_factory.mktemp("app") / "reflex.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url: str):
    context = browser.new_context(base_url=app_url, locale="pt-BR", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(20_000)
    pg = context.new_page()
    yield pg
    context.close()


def wait_hydrated(page, selector: str, timeout: float = 60_000) -> None:
    """The production build prerenders every page: `selector` is on screen before React has hydrated it,
    and typing or clicking then reaches no handler (seen in CI on a loaded machine: a click lost, a blur
    that never suggested the slug). Hydrated elements carry React's props; polled on a timer, not on
    animation frames (a background page may not paint)."""
    page.wait_for_selector(selector)
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel);"
        " return !!el && Object.keys(el).some((k) => k.startsWith('__reactProps$')); }",
        arg=selector,
        polling=100,
        timeout=timeout,
    )


def login(page, tenant: str, email: str, password: str) -> None:
    page.goto("/")
    wait_hydrated(page, "#login-submit")
    page.fill("input[name=tenant]", tenant)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("#login-submit")


def login_home(page, tenant: str, email: str, password: str) -> None:
    """A login that must succeed, landing on /inicio. A fresh browser context on a loaded machine can take
    the first click before its websocket is up and lose the submit (seen once in CI): a person would click
    again, and so does this, once."""
    login(page, tenant, email, password)
    try:
        page.wait_for_url("**/inicio", timeout=15_000)
    except Exception:
        page.click("#login-submit")
        page.wait_for_url("**/inicio")
