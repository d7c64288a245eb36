"""Daily use on a 360 px phone, in Chromium: a parent's child page (its tables as stacked cards), the inbox, and the
composer's pupil picker (search as one types, choose and remove with the keyboard), each with axe at "moderate" and
above and a screenshot in artifacts/screenshots/; the personal link's page records a read only once shown; the
keyboard focus is plain to see; the favicon and the web app manifest answer."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from playwright.sync_api import Page, expect

from hub import clock
from hub.demo.guide import demo_guide
from hub.demo.school import STAFF_DOMAIN
from hub.enums import GroupKind, JournalKind
from hub.messaging.models import Message, Notice
from hub.people import security
from hub.people.models import Membership, Pupil
from hub.records.models import JournalEntry
from hub.testing.browser import MODERATE_AND_ABOVE, assert_accessible
from hub.testing.liveserver import LiveServer

narrow = pytest.mark.parametrize("viewport", ["narrow"])


def _sign_in_guardian(page: Page, live_server: LiveServer, guardian_id: int) -> None:
    token = live_server.run(lambda: security.create_sign_in_link(guardian_id, clock.now()))
    page.goto(f"/s/{token}")
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes messages")


def _sign_in_teacher(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(f"prof.demo@{STAFF_DOMAIN}")
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def _fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling of the page."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"  # type: ignore[index]


async def _parent_with_homework() -> tuple[int, int, str]:
    """A separated parent of the demo, their child, and the child's class code; the child gets a homework with a
    long text (the column that went off-screen)."""
    guide = await demo_guide()
    assert guide is not None and guide.separated_parents
    guardian_id = guide.separated_parents[0].guardian_id
    name = guide.separated_pupil.rsplit(" (", 1)[0]
    pupils = await Pupil.all().values_list("id", "first_name", "last_name")
    pupil_id = next(pid for pid, first, last in pupils if f"{first} {last}" == name)
    membership = await Membership.get(pupil_id=pupil_id, group__kind=GroupKind.CLASS).prefetch_related("group")
    group = membership.group
    await JournalEntry.create(
        group=group,
        subject="Français",
        kind=JournalKind.HOMEWORK,
        on_date=clock.now().date(),
        due_on=clock.now().date() + dt.timedelta(days=3),
        text="Lire les chapitres 3 et 4 du roman et préparer trois questions pour la discussion en classe.",
        author_id=None,
    )
    return guardian_id, pupil_id, group.code


@narrow
def test_a_childs_page_reads_well_at_360px(page: Page, live_server: LiveServer) -> None:
    guardian_id, pupil_id, code = live_server.run(_parent_with_homework)
    _sign_in_guardian(page, live_server, guardian_id)
    page.goto(f"/portal/children/{pupil_id}")
    expect(page.get_by_text(f"Classe {code}")).to_be_visible()  # the class's code, as everywhere
    homework = page.locator("#journal table.stack tbody tr").filter(has_text="préparer trois questions").first
    expect(homework).to_be_visible()
    what = homework.locator("td[data-label='Quoi']")
    box = what.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    # The date on one line or two, never four.
    date_cell = homework.locator("td").first
    date_box = date_cell.bounding_box()
    line = float(date_cell.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert date_box is not None and date_box["height"] <= 3 * line, (date_box, line)
    assert page.locator("#journal table.stack thead").first.evaluate("e => e.getBoundingClientRect().height") <= 1
    _fits(page)
    assert_accessible(page, "daily-child-360", impacts=MODERATE_AND_ABOVE)


@narrow
def test_the_inbox_reads_well_at_360px_and_shows_the_focus(page: Page, live_server: LiveServer) -> None:
    guardian_id, _pupil_id, _code = live_server.run(_parent_with_homework)
    _sign_in_guardian(page, live_server, guardian_id)
    expect(page.get_by_role("heading", name="Tous les messages")).to_be_visible()
    todo = page.locator("#todo-title + ul li").first.inner_text()
    assert "\u202f:" in todo and " :" not in todo.replace("\u202f:", ""), todo  # French spacing, never glued
    _fits(page)
    page.keyboard.press("Tab")  # the skip link, then the first link of the header
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert ring[0] == "solid" and ring[1] >= 3, ring
    assert_accessible(page, "daily-inbox-360", impacts=MODERATE_AND_ABOVE)


async def _class_3a() -> tuple[set[str], str]:
    """The names of class 3A's pupils as the picker shows them ("Last First"), and one of them."""
    rows = await Membership.filter(group__kind=GroupKind.CLASS, group__code="3A").values_list(
        "pupil__last_name", "pupil__first_name"
    )
    names = {f"{last} {first}" for last, first in rows}
    return names, sorted(names)[-1]


@narrow
def test_the_pupil_picker_by_keyboard_at_360px(page: Page, live_server: LiveServer) -> None:
    names, one_name = live_server.run(_class_3a)
    _sign_in_teacher(page)
    page.goto("/staff/compose")
    search = page.get_by_label("Trouver un élève par son nom ou sa classe")
    results = page.locator("#pupil-results li:not([hidden])")
    chips = page.locator("#pupil-chosen li.chip")
    expect(page.get_by_role("button", name="Chercher")).to_be_hidden()  # the list filters as one types

    search.click()
    page.keyboard.type("3a")
    expect(results).to_have_count(len(names))
    shown = {text.split(" (")[0].strip() for text in results.locator("label").all_inner_texts()}
    assert shown == names
    expect(page.get_by_role("status").filter(has_text="élèves trouvés")).to_be_visible()

    # Down goes to the first pupil shown, Space ticks it: a chip.
    page.keyboard.press("ArrowDown")
    first = results.first.locator("input")
    expect(first).to_be_focused()
    page.keyboard.press("Space")
    expect(chips).to_have_count(1)
    expect(page.locator("[data-picker-count]")).to_have_text("1")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    expect(chips).to_have_count(2)
    _fits(page)
    assert_accessible(page, "daily-picker-360", impacts=MODERATE_AND_ABOVE)

    # Remove the first chip with its button, by keyboard: focus moves to the next chip, the pupil is unticked.
    remove = chips.first.get_by_role("button")
    remove.focus()
    page.keyboard.press("Enter")
    expect(chips).to_have_count(1)
    expect(first).not_to_be_checked()
    expect(chips.first.get_by_role("button")).to_be_focused()
    page.keyboard.press("Delete")  # Delete on a chip removes it too
    expect(chips).to_have_count(0)
    expect(search).to_be_focused()

    # A search with one match: Enter chooses it, and never previews the message.
    search.fill("")
    search.press_sequentially(f"{one_name} 3a")
    expect(results).to_have_count(1)
    page.keyboard.press("Enter")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text(one_name)
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouveau message")


async def _news_notice() -> tuple[str, int]:
    message = await Message.filter(subject__startswith="Réunion des parents").order_by("id").first()
    assert message is not None
    notice = await Notice.filter(message_id=message.id, first_read_at__isnull=True).order_by("-id").first()
    assert notice is not None
    return notice.token, notice.id


async def _read_at(notice_id: int) -> tuple[dt.datetime | None, dt.datetime | None]:
    notice = await Notice.get(id=notice_id)
    return notice.opened_at, notice.first_read_at


@narrow
def test_the_link_page_records_its_read_once_shown(page: Page, live_server: LiveServer) -> None:
    token, notice_id = live_server.run(_news_notice)
    # A scanner's fetch (no page, no script): an opening only.
    fetched = page.request.get(f"/n/{token}")
    assert fetched.status == 200
    opened, read = live_server.run(lambda: _read_at(notice_id))
    assert opened is not None and read is None
    # A person's browser shows the page: its script sends the signal.
    page.goto(f"/n/{token}")
    deadline = time.monotonic() + 15
    while live_server.run(lambda: _read_at(notice_id))[1] is None:
        assert time.monotonic() < deadline, "the page never signalled its read"
        page.wait_for_timeout(100)
    assert_accessible(page, "daily-link-360", impacts=MODERATE_AND_ABOVE)


def test_the_favicon_and_the_manifest(page: Page) -> None:
    icon = page.request.get("/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon" and icon.body()[:4] == b"\0\0\1\0"
    manifest = page.request.get("/manifest.webmanifest")
    assert manifest.status == 200 and manifest.headers["content-type"].startswith("application/manifest+json")
    data = json.loads(manifest.body())
    assert data["start_url"] == "/portal" and data["display"] == "standalone"
    for entry in data["icons"]:
        assert page.request.get(entry["src"]).status == 200, entry["src"]
    assert {e["sizes"] for e in data["icons"]} >= {"192x192", "512x512"}
    page.goto("/")
    assert page.locator('link[rel="manifest"]').get_attribute("href") == "/manifest.webmanifest"
