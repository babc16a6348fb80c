"""Headless Debian chromium driven by Playwright against pytest-django's live server.

Chromium comes from the system (``apt-get install chromium``); Playwright's own browser
download is never used. Without chromium the browser tests skip, unless
``JEWELREC_REQUIRE_BROWSER=1`` (CI), where they fail instead.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make in
# the same thread are still plain synchronous code, so Django's async guard is switched off.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
STAFF_USERNAME = "merch"
STAFF_PASSWORD = "pw-merch-123"


def _chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(autouse=True)
def _clear_dashboard_cache():
    # The live server runs in this process: cached dashboard aggregates, the catalog snapshot
    # and loaded models would leak between tests (a snapshot younger than its refresh interval
    # is served as it is, with the previous test's items).
    from django.core.cache import cache

    from recommender.serving.catalog import serving_catalog_invalidate
    from recommender.serving.model_store import model_store_reset

    def clear() -> None:
        cache.clear()
        serving_catalog_invalidate()
        model_store_reset()

    clear()
    yield
    clear()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator:
    executable = _chromium_path()
    if executable is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("JEWELREC_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and JEWELREC_REQUIRE_BROWSER=1")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def staff_account(transactional_db, django_user_model):
    return django_user_model.objects.create_user(username=STAFF_USERNAME, password=STAFF_PASSWORD, is_staff=True)


@pytest.fixture
def page(chromium_browser, live_server) -> Iterator:
    """A fresh browser context per test; JavaScript errors on any page fail the test."""
    context = chromium_browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.js_errors = errors
    try:
        yield pg
    finally:
        context.close()
    assert not errors, errors


@pytest.fixture
def logged_in_page(page, staff_account):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(STAFF_USERNAME)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
    return page


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` saves docs/screenshots/<name>.png when JEWELREC_SCREENSHOTS=1."""
    enabled = os.environ.get("JEWELREC_SCREENSHOTS") == "1"

    def take(pg, name: str) -> Path | None:
        if not enabled:
            return None
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        pg.screenshot(path=str(path), full_page=False)
        return path

    return take


@pytest.fixture
def serve_media(settings):
    """Serve uploaded photos from the live server (thumbnails in screenshots)."""
    import importlib

    from django.urls import clear_url_caches

    import jewelrec_site.urls

    settings.JEWELREC_SERVE_MEDIA = True
    importlib.reload(jewelrec_site.urls)
    clear_url_caches()
    yield
    settings.JEWELREC_SERVE_MEDIA = False
    importlib.reload(jewelrec_site.urls)
    clear_url_caches()
