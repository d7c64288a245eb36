"""The principal's delivery report in Chromium: a parent acknowledges through their personal link in another
browser, and the principal sees the count go up, on reload and through the page's own refresh; axe on each."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from hub.demo.school import STAFF_DOMAIN
from hub.messaging.models import Acknowledgement, Message, Notice
from hub.testing.browser import assert_accessible, new_context
from hub.testing.liveserver import LiveServer

TRIP = "Visite du musée Félicien Rops"


async def _trip_id() -> int:
    return (await Message.get(subject=TRIP)).id


async def _unacknowledged_trip_notice() -> str:
    acknowledged = await Acknowledgement.all().values_list("notice_id", flat=True)
    notice = await Notice.filter(message__subject=TRIP).exclude(id__in=list(acknowledged)).order_by("-id").first()
    assert notice is not None, "every notice of the demo trip is acknowledged"
    return notice.token


def _sign_in_as_principal(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(f"direction@{STAFF_DOMAIN}")
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def _acknowledged(page: Page) -> int:
    cell = page.locator('tr[data-stage="acknowledged"] td[data-field="count"]')
    return int((cell.text_content() or "").replace("\u202f", "").replace("\xa0", "").strip())


def _parent_acknowledges(browser: Browser, live_server: LiveServer) -> None:
    """A parent opens their personal link on their own phone (no sign-in) and says they have read it."""
    parent = new_context(browser, base_url=live_server.url)
    try:
        tab = parent.new_page()
        tab.goto(f"/n/{live_server.run(_unacknowledged_trip_notice)}")
        tab.get_by_role("button", name="J'ai lu ce message").click()
        expect(tab.get_by_role("status")).to_contain_text("vous avez confirmé avoir lu ce message")
    finally:
        parent.close()


def test_an_acknowledgement_shows_in_the_report(page: Page, browser: Browser, live_server: LiveServer) -> None:
    _sign_in_as_principal(page)
    page.clock.install()  # the page's 15-second refresh runs when the test says so
    page.goto(f"/staff/report?message={live_server.run(_trip_id)}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rapport de distribution")
    expect(page.get_by_role("img", name="Exemplaires à chaque étape")).to_be_visible()
    assert_accessible(page, "report-phone")
    before = _acknowledged(page)

    _parent_acknowledges(browser, live_server)
    page.reload()
    assert _acknowledged(page) == before + 1

    _parent_acknowledges(browser, live_server)
    page.clock.run_for(16_000)
    expect(page.locator('tr[data-stage="acknowledged"] td[data-field="count"]')).to_have_text(str(before + 2))
    expect(page.locator('#funnel-chart g[data-key="acknowledged"] text.value')).to_contain_text(f"{before + 2} sur")


def test_the_report_on_a_desktop_in_dutch(browser: Browser, live_server: LiveServer) -> None:
    context = new_context(browser, base_url=live_server.url, viewport="desktop")
    try:
        page = context.new_page()
        _sign_in_as_principal(page)
        page.goto("/staff/report?lang=nl")
        expect(page.get_by_role("heading", level=1)).to_have_text("Bezorgrapport")
        expect(page.get_by_role("heading", name="Per klas")).to_be_visible()
        assert_accessible(page, "report-desktop-nl")
    finally:
        context.close()
