"""The guardians' portal in Chromium: both parents of the demo's separated household open their own personal link to
the trip's reply slip; one acknowledges and answers, the other then sees that answer on their own copy. The
portal's inbox, message page, child page and data page are each checked with axe-core (screenshots saved)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from hub import clock
from hub.demo.guide import demo_guide
from hub.enums import Channel
from hub.messaging.models import Acknowledgement, Message, Notice, NoticePupil, ReplySlip, SlipResponse
from hub.people import security
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer

both_viewports = pytest.mark.parametrize("viewport", ["phone", "desktop"])


@dataclass(frozen=True)
class Parent:
    guardian_id: int
    name: str
    token: str  #: the personal link of their copy of the trip


@dataclass(frozen=True)
class Household:
    trip: str
    pupil_id: int
    first: Parent
    second: Parent


async def _separated_parents() -> Household:
    """The separated parents the demo's landing page names, and their copies of the trip (one answer per pupil)."""
    guide = await demo_guide()
    assert guide is not None and len(guide.separated_parents) == 2
    slip = await ReplySlip.filter(message__subject__startswith="Visite du musée").first()
    assert slip is not None
    trip = await Message.get(id=slip.message_id)  # type: ignore[attr-defined]
    parents = []
    for person in guide.separated_parents:
        notice = await Notice.get(message_id=trip.id, guardian_id=person.guardian_id)
        assert not await Acknowledgement.filter(notice_id=notice.id).exists(), "another test used this notice"
        parents.append(Parent(person.guardian_id, person.name, notice.token))
    first_notice = await Notice.get(token=parents[0].token)
    pupil_id = await NoticePupil.filter(notice_id=first_notice.id).first().values_list("pupil_id", flat=True)
    return Household(trip.subject, pupil_id, parents[0], parents[1])  # type: ignore[arg-type]


async def _answers(trip: str) -> list[tuple[int, dict[str, object], str, str]]:
    rows = await SlipResponse.filter(slip__message__subject=trip).order_by("id")
    return [(r.guardian_id, r.answers, r.signed_name, str(r.channel)) for r in rows]  # type: ignore[attr-defined]


def _sign_in(page: Page, live_server: LiveServer, guardian_id: int) -> None:
    """Sign in as this guardian through a real personal sign-in link."""
    token = live_server.run(lambda: security.create_sign_in_link(guardian_id, clock.now()))
    page.goto(f"/s/{token}")
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes messages")


def test_separated_parents_each_open_their_own_link(page: Page, live_server: LiveServer) -> None:
    household = live_server.run(_separated_parents)
    first, second = household.first, household.second

    # The first parent opens their link (from an email, an SMS, a letter's QR code: no sign-in).
    response = page.goto(f"/n/{first.token}")
    assert response is not None and response.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(household.trip)
    expect(page.get_by_text(f"pour {first.name}")).to_be_visible()
    assert_accessible(page, "portal-link-message")

    page.get_by_role("button", name="J'ai lu ce message").click()
    expect(page.get_by_role("status")).to_contain_text("vous avez confirmé avoir lu ce message")

    slip = page.locator("#slip")
    slip.get_by_role("button", name="Envoyer mes réponses").click()  # nothing filled in: refused, nothing stored
    expect(page.get_by_role("alert")).to_contain_text("rien n'a encore été enregistré")
    assert_accessible(page, "portal-link-slip-errors")
    assert live_server.run(lambda: _answers(household.trip)) == []

    slip.get_by_role("group", name="J'autorise mon enfant à participer.").get_by_label("Oui").check()
    slip.get_by_label("Entrée : 3 € par élève.").fill("2")
    expect(slip.get_by_text("Total : 6,00 €")).to_be_visible()  # portal.js, as the count is typed
    slip.get_by_label("Entrée : 3 € par élève.").fill("1")
    expect(slip.get_by_text("Total : 3,00 €")).to_be_visible()
    slip.get_by_label("Vos nom et prénom, en guise de signature").fill(first.name)
    slip.get_by_role("button", name="Envoyer mes réponses").click()
    expect(page.get_by_text("vos réponses sont enregistrées")).to_be_visible()
    expect(slip.get_by_text("1 × 3,00 € = 3,00 €")).to_be_visible()
    expect(slip.get_by_role("button", name="Modifier mes réponses")).to_be_visible()
    assert live_server.run(lambda: _answers(household.trip)) == [
        (first.guardian_id, {"1": "yes", "2": 1}, first.name, str(Channel.PORTAL))
    ]

    # The other parent, in another browser profile, on their own copy: who answered, when and what; no form.
    page.context.clear_cookies()
    page.goto(f"/n/{second.token}")
    expect(page.get_by_text(f"pour {second.name}")).to_be_visible()
    expect(page.locator("#slip")).to_contain_text(f"{first.name} a répondu le")
    expect(page.locator("#slip")).to_contain_text("1 × 3,00 € = 3,00 €")
    expect(page.locator("#slip").get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("button", name="J'ai lu ce message")).to_be_visible()  # their own acknowledgement
    assert_accessible(page, "portal-link-answered-by-other-parent")


@both_viewports
def test_portal_pages(page: Page, live_server: LiveServer, viewport: str) -> None:
    household = live_server.run(_separated_parents_any)
    _sign_in(page, live_server, household[0])
    expect(page.get_by_role("heading", name="Tous les messages")).to_be_visible()
    assert_accessible(page, f"portal-inbox-{viewport}")

    page.get_by_role("link", name="Réunion des parents du premier trimestre").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Réunion des parents du premier trimestre")
    assert_accessible(page, f"portal-message-{viewport}")

    page.goto("/portal/children")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes enfants")
    page.get_by_role("link", name=household[1]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(household[1])
    expect(page.get_by_role("heading", name="Notes", exact=True)).to_be_visible()
    assert_accessible(page, f"portal-child-{viewport}")

    page.goto("/portal/data")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes données")
    with page.expect_download() as download:
        page.get_by_role("button", name="Télécharger (JSON)").click()
    assert download.value.suggested_filename.endswith(".json")
    assert_accessible(page, f"portal-data-{viewport}")


async def _separated_parents_any() -> tuple[int, str]:
    """The first separated parent the demo names, and their child's name (whatever other tests did since)."""
    guide = await demo_guide()
    assert guide is not None and guide.separated_parents
    pupil = guide.separated_pupil.rsplit(" (", 1)[0]
    return guide.separated_parents[0].guardian_id, pupil
