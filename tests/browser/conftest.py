"""Fixtures of the real-browser tests: one live server and one Chromium for them all, a fresh profile per test.

Both live as long as this package's tests (scope "package": once per run, like a session fixture, since only tests
under ``tests/browser`` see them) and stop when the last of them is done. That matters: Playwright's sync API keeps
its event loop marked as running in this thread while it is open, so ``asyncio.run`` here (the ``db`` fixture,
any async test) fails until it is closed. Browser tests are therefore plain ``def`` tests, and reach the database
through ``live_server.run``, which runs in a thread of its own.

- ``live_server``: the app running on a demo school (``hub.testing.liveserver.LiveServer``): ``.url``,
  ``.settings``, and ``.run(async_fn)`` to read or change its database from the test.
- ``browser``: headless ``/usr/bin/chromium``. Without it (or without axe-core) the tests are skipped with the
  reason, except in CI (``CI=true``), where they fail: nothing is skipped there.
- ``page``: a new page in a new browser context (no cookies), locale fr-BE, on the live server (``page.goto("/")``),
  on a phone (390x844). ``@pytest.mark.parametrize("viewport", ["phone", "desktop"])`` overrides the ``viewport``
  fixture to run a test on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from hub.testing import times
from hub.testing.browser import browser_unavailable, launch_chromium, new_context
from hub.testing.liveserver import LiveServer, serve

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The journeys these tests follow need the charter open: the server runs from a Tuesday 10:00 in term.
    with serve(tmp_path_factory.mktemp("live_server"), at=times.school_hours()) as server:
        yield server


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    reason = browser_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def viewport() -> str:
    """``phone`` or ``desktop`` (see ``hub.testing.browser.VIEWPORTS``)."""
    return "phone"


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, viewport: str) -> Iterator[Page]:
    context = new_context(browser, base_url=live_server.url, viewport=viewport)
    try:
        yield context.new_page()
    finally:
        context.close()
