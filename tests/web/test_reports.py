"""The delivery report pages on the demo school: who may open them, the figures after two published messages,
an acknowledgement through a parent's personal link showing up, bad periods, and the three languages."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from hub.demo.school import STAFF_DOMAIN, publish_demo_messages
from hub.messaging.models import Message, Notice
from hub.people.models import School, Staff
from hub.web.kit import now
from tests.web.conftest import Site

PRINCIPAL = f"direction@{STAFF_DOMAIN}"
ADMIN = f"admin@{STAFF_DOMAIN}"


@pytest.fixture
def published(site: Site) -> list[int]:
    """The demo's two messages (a class trip with a reply slip, the principal's news to the whole school)."""
    return site.run(publish_demo_messages, now())


async def _notice_to_acknowledge(message_id: int) -> str:
    notice = await Notice.filter(message_id=message_id, acknowledgement__isnull=True).order_by("id").first()
    assert notice is not None
    return notice.token


def _stage(payload: dict, name: str) -> tuple[int, int]:
    (stage,) = [s for s in payload["funnel"] if s["stage"] == name]
    return stage["count"], stage["of"]


def test_the_principal_sees_the_report_and_an_acknowledgement_counts(site: Site, published: list[int]) -> None:
    site.login_staff(PRINCIPAL)
    page = site.client.get("/staff/report")
    assert page.status_code == 200
    assert "<h1>Rapport de distribution</h1>" in page.text
    assert page.text.count('role="img"') >= 3 and '<title id="funnel-chart-title">' in page.text
    assert "/staff/print" in page.text

    before = site.client.get("/staff/report.json").json()
    planned, _ = _stage(before, "planned")
    acked, asked = _stage(before, "acknowledged")
    assert before["messages"] == 2 and planned > 800 and asked > 0
    assert len(before["classes"]) == 18 and before["not_reached"] > 0

    trip = published[0]
    token = site.run(_notice_to_acknowledge, trip)
    site.logout()  # the parent, through their personal link: no sign-in
    assert site.post(f"/n/{token}/ack", form_page=f"/n/{token}").status_code == 303

    site.login_staff(PRINCIPAL)
    after = site.client.get(f"/staff/report.json?message={trip}").json()
    assert _stage(after, "acknowledged") == (1, _stage(after, "planned")[0])
    assert _stage(site.client.get("/staff/report.json").json(), "acknowledged") == (acked + 1, asked)
    # the read stage follows: acknowledging reads
    assert _stage(after, "read")[0] == 1


@pytest.mark.parametrize("email", [f"prof.demo@{STAFF_DOMAIN}", f"secretariat@{STAFF_DOMAIN}"])
def test_teachers_and_secretaries_may_not_open_it(site: Site, email: str) -> None:
    site.login_staff(email)
    assert site.client.get("/staff/report").status_code == 403
    assert site.client.get("/staff/report.json").status_code == 403


def test_a_visitor_is_sent_to_sign_in_and_an_administrator_may_open_it(site: Site) -> None:
    response = site.client.get("/staff/report", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    site.login_staff(ADMIN)
    assert site.client.get("/staff/report").status_code == 200


async def _message_of_another_school() -> int:
    other = await School.create(name="Une autre école")
    author = await Staff.create(school=other, first_name="A", last_name="B", email="a@other.example.be")
    message = await Message.create(school=other, author=author, subject="Secret", body="Rien", published_at=now())
    return message.id


def test_a_message_of_another_school_is_not_found(site: Site, published: list[int]) -> None:
    site.login_staff(PRINCIPAL)
    foreign = site.run(_message_of_another_school)
    assert site.client.get(f"/staff/report?message={foreign}").status_code == 404
    assert site.client.get(f"/staff/report.json?message={foreign}").status_code == 404
    assert site.client.get("/staff/report?message=abc").status_code == 404
    own = site.client.get(f"/staff/report?message={published[1]}")
    assert own.status_code == 200 and "Réunion des parents" in own.text


def test_a_bad_period_says_what_to_correct(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    backwards = site.client.get("/staff/report?from=2026-11-02&to=2026-11-01")
    assert backwards.status_code == 400 and "se termine avant de commencer" in backwards.text
    assert 'value="2026-11-02"' in backwards.text, "what was typed stays in the form"
    not_a_date = site.client.get("/staff/report?from=hier&lang=en")
    assert not_a_date.status_code == 400 and "calendar date" in not_a_date.text
    refused = site.client.get("/staff/report.json?to=2026-02-30")
    assert refused.status_code == 400 and refused.json()["field"] == "to"
    assert "trois années scolaires" in site.client.get("/staff/report?from=2000-01-01&lang=fr").text


def test_a_period_without_messages(site: Site, published: list[int]) -> None:
    site.login_staff(PRINCIPAL)
    page = site.client.get("/staff/report?from=2026-09-01&to=2026-09-30")
    assert page.status_code == 200 and "du mardi 1er septembre 2026 au mercredi 30 septembre 2026" in page.text
    payload = site.client.get("/staff/report.json?from=2026-09-01&to=2026-09-30").json()
    assert _stage(payload, "planned") == (0, 0) and payload["sms"][0]["month"] == "2026-09"


def test_the_report_in_dutch_and_english(site: Site, published: list[int]) -> None:
    site.login_staff(PRINCIPAL)
    dutch = site.client.get("/staff/report?lang=nl").text
    assert "<h1>Bezorgrapport</h1>" in dutch and "Per klas" in dutch and "november 2026" in dutch
    english = site.client.get("/staff/report?lang=en").text
    assert "<h1>Delivery report</h1>" in english and "Per class" in english and "November 2026" in english
    assert re.search(r"€0\.00", english), "money in euro, written the English way"
    assert "0,00\u00a0€" in site.client.get("/staff/report?lang=fr").text


def test_the_refresh_asks_for_the_funnel_alone(site: Site, published: list[int]) -> None:
    site.login_staff(PRINCIPAL)
    page = site.client.get("/staff/report").text
    refresh = re.search(r'data-json="([^"]+)"', page)
    assert refresh and "part=funnel" in refresh.group(1)
    light = site.client.get(refresh.group(1).replace("&amp;", "&")).json()
    assert list(light) == ["funnel"] and light["funnel"] == site.client.get("/staff/report.json").json()["funnel"]


def test_families_not_reached_come_fifty_at_a_time(
    at_school_hours: dt.datetime, site: Site, published: list[int]
) -> None:
    """In school hours the demo's messages are due: the families a worker will reach are only counted, the ones
    whose letter waits for the office are listed, fifty a page. (On a weekend night every family is held:
    counted, not listed, see test_held_state.)"""
    site.login_staff(PRINCIPAL)
    payload = site.client.get("/staff/report.json").json()
    by_reason = payload["not_reached_by_reason"]
    total = by_reason["unreachable"]
    assert total == by_reason["letter_waiting"] > 50, "nothing was printed yet: every letter waits for the office"
    assert payload["not_reached"] == total + by_reason["sending"] and by_reason["held"] == 0
    first = site.client.get("/staff/report").text
    assert first.count("<td>Visite du musée") + first.count("<td>Réunion des parents") == 50
    assert first.count('data-reason="letter_waiting"') == 50
    assert f"Exemplaires 1 à 50 sur {total}" in first.replace("\u202f", "").replace("\xa0", "")
    assert "offset=50" in first and "Page précédente" not in first
    second = site.client.get("/staff/report?offset=50").text
    assert f"Exemplaires 51 à {min(100, total)}" in second and "Page précédente" in second


def test_the_page_links_go_from_family_to_family(
    at_school_hours: dt.datetime, site: Site, published: list[int]
) -> None:
    """The links name the family the next page starts after (or the previous ends before): the same families as
    their positions, whatever the page; a key that is not a number is refused."""
    site.login_staff(PRINCIPAL)
    first = site.client.get("/staff/report").text
    following = re.search(r'href="/staff/report\?([^"]*after=\d+[^"]*)"', first)
    assert following, "the next page's link names the family it starts after"
    second = site.client.get("/staff/report?" + following.group(1).replace("&amp;", "&")).text
    by_position = site.client.get("/staff/report?offset=50").text
    rows = re.compile(r'<tr[^>]*data-reason="[a-z_]+"[^>]*>.*?</tr>', re.S)
    assert rows.findall(second) == rows.findall(by_position) and len(rows.findall(second)) > 0
    previous = re.search(r'href="/staff/report\?([^"]*before=\d+[^"]*)"', second)
    assert previous, "the previous page's link names the family it ends before"
    back = site.client.get("/staff/report?" + previous.group(1).replace("&amp;", "&")).text
    assert rows.findall(back) == rows.findall(first)
    assert site.client.get("/staff/report?after=abc").status_code == 400
