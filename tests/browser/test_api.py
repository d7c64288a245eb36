"""The JSON API in Chromium: its page (listing the operations) on a phone and a desktop, checked with axe-core;
and a script in the page signing in, reading and signing out through the API, with the browser's own cookies,
Origin header and CSRF token handling."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from hub.demo.school import STAFF_DOMAIN
from hub.testing.browser import assert_accessible


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_api_page(page: Page, viewport: str) -> None:
    page.goto("/api")
    expect(page.get_by_role("heading", level=1)).to_have_text("L’API de Carnet")
    expect(page.get_by_role("heading", name="Pour les parents")).to_be_visible()
    expect(page.get_by_role("cell", name="Répondre au talon pour un élève")).to_be_visible()
    assert_accessible(page, f"api-{viewport}")
    page.get_by_role("link", name="/api/openapi.json").click()
    expect(page.locator("body")).to_contain_text('"openapi":"3.1.0"')


def test_a_script_in_the_browser_uses_the_api(page: Page) -> None:
    page.goto("/api")
    statuses = page.evaluate(
        """async (email) => {
            const json = {"Content-Type": "application/json"};
            const signIn = await fetch("/api/v1/session", {
                method: "POST", headers: json, body: JSON.stringify({kind: "staff", email, password: "demo"}),
            });
            const {csrf_token, actor} = await signIn.json();
            const groups = await (await fetch("/api/v1/groups")).json();
            const withoutToken = await fetch("/api/v1/session", {method: "DELETE"});
            const signOut = await fetch("/api/v1/session", {method: "DELETE", headers: {"X-CSRF-Token": csrf_token}});
            const after = await fetch("/api/v1/me");
            return [signIn.status, actor.roles.join(), groups.items.length > 0, withoutToken.status, signOut.status,
                    after.status];
        }""",
        f"prof.demo@{STAFF_DOMAIN}",
    )
    assert statuses == [200, "teacher", True, 403, 204, 401]
