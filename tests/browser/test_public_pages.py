"""The pages anyone can open, in Chromium on a phone and a desktop, each checked with axe-core.

Each test also looks at what the page says, so a page that renders an error cannot pass as accessible.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from charter import default_charter
from hub.enums import Channel
from hub.messaging.models import Acknowledgement, Message, Notice
from hub.people.models import School
from hub.testing.browser import SCREENSHOTS, assert_accessible
from hub.testing.liveserver import LiveServer

both_viewports = pytest.mark.parametrize("viewport", ["phone", "desktop"])


async def _school_name() -> str:
    school = await School.first()
    assert school is not None, "the live server's database holds no school"
    return school.name


async def _unread_notice_to_acknowledge() -> tuple[str, str]:
    """The token and subject of a notice asking to be acknowledged that nobody has acknowledged yet.

    Each test takes its own, so the tests stay independent of one another on the shared server.
    """
    acknowledged = await Acknowledgement.all().values_list("notice_id", flat=True)
    notice = (
        await Notice.filter(message__needs_acknowledgement=True, first_read_at__isnull=True)
        .exclude(id__in=acknowledged)
        .order_by("id")
        .first()
    )
    assert notice is not None, "the demo school has no unread notice asking for acknowledgement"
    message = await Message.get(id=notice.message_id)
    return notice.token, message.subject


async def _acknowledgement_channels(token: str) -> list[str]:
    notice = await Notice.get(token=token)
    channels = await Acknowledgement.filter(notice_id=notice.id).values_list("channel", flat=True)
    return [str(channel) for channel in channels]


@both_viewports
def test_home(page: Page, live_server: LiveServer, viewport: str) -> None:
    response = page.goto("/")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", level=1)).to_have_text(live_server.run(_school_name))
    expect(page.get_by_role("link", name="Lire la charte")).to_be_visible()
    assert_accessible(page, f"home-{viewport}")


@both_viewports
def test_charter(page: Page, viewport: str) -> None:
    response = page.goto("/charter")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(default_charter().document.title)
    expect(page.get_by_role("navigation", name="Sommaire")).to_be_visible()
    assert_accessible(page, f"charter-{viewport}")


@both_viewports
def test_notice_read_and_acknowledged(page: Page, live_server: LiveServer, viewport: str) -> None:
    token, subject = live_server.run(_unread_notice_to_acknowledge)
    response = page.goto(f"/n/{token}")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(subject)
    assert_accessible(page, f"notice-{viewport}")

    page.get_by_role("button", name="J'ai lu ce message").click()
    expect(page.get_by_role("status")).to_contain_text("vous avez confirmé avoir lu ce message")
    expect(page.get_by_role("button", name="J'ai lu ce message")).to_have_count(0)
    assert page.url == f"{live_server.url}/n/{token}"
    assert live_server.run(lambda: _acknowledgement_channels(token)) == [str(Channel.PORTAL)]
    assert_accessible(page, f"notice-acknowledged-{viewport}")


@both_viewports
def test_unknown_link(page: Page, viewport: str) -> None:
    response = page.goto("/n/ce-lien-n-existe-pas")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Ce lien n'est pas valable")
    assert_accessible(page, f"unknown-link-{viewport}")


def test_assert_accessible_lists_what_is_wrong(page: Page) -> None:
    """The check itself: a page with an unlabelled image, no language and grey-on-white text fails, rule by rule."""
    (SCREENSHOTS / "self-check-broken-page.png").unlink(missing_ok=True)
    page.set_content('<img src="data:,"><p style="color:#ccc;background:#fff">gris</p>')
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, "self-check-broken-page")
    report = str(failure.value)
    assert "[critical] image-alt" in report and "    img" in report.splitlines()
    assert "[serious] html-has-lang" in report and "[serious] color-contrast" in report
    assert (SCREENSHOTS / "self-check-broken-page.png").is_file()
