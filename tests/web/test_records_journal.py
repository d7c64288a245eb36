"""The class journal's pages and JSON and the families' calendar feeds over the demo school: the demo teacher
writes 3A's journal (not a class they do not teach: 404, nothing stored); a parent makes their private address,
the feed parses with the icalendar library and carries the homework; a new address stops the old one."""

from __future__ import annotations

import datetime as dt
import re

from icalendar import Calendar

from charter import school_charter
from hub.enums import GroupKind
from hub.messaging import access
from hub.people.models import Group, Guardianship, Membership, Staff
from hub.records.models import JournalEntry
from hub.web.kit import now
from tests.web.conftest import Site

TEACHER = "prof.demo@athenee-demo.example.be"
_FEED = re.compile(r'href="(http://testserver/calendar/[^"]+\.ics)"')


def _today() -> dt.date:
    return now().astimezone(school_charter().tz).date()


async def _3a() -> int:
    return (await Group.get(kind=GroupKind.CLASS, code="3A")).id


async def _untaught() -> int:
    teacher = await Staff.get(email=TEACHER)
    taught = await access.taught_group_ids(teacher.id)
    group = await Group.filter(kind=GroupKind.CLASS).exclude(id__in=list(taught)).order_by("code").first()
    assert group is not None
    return group.id


async def _entries(group_id: int) -> int:
    return await JournalEntry.filter(group_id=group_id).count()


async def _parent_of_3a() -> tuple[int, int]:
    """A guardian with the records right of a 3A pupil, and that pupil."""
    group_id = await _3a()
    pupils = await Membership.filter(group_id=group_id).values_list("pupil_id", flat=True)
    link = await Guardianship.filter(pupil_id__in=list(pupils), barred=False, sees_records=True).order_by("id").first()
    assert link is not None
    return int(link.guardian_id), int(link.pupil_id)  # type: ignore[attr-defined]


def test_the_demo_teacher_writes_the_journal_of_3a_and_not_another_class(site: Site) -> None:
    site.login_staff(TEACHER)
    group_id = site.run(_3a)
    other = site.run(_untaught)
    before = site.run(_entries, group_id), site.run(_entries, other)
    due = (_today() + dt.timedelta(days=4)).isoformat()
    form = {"group": group_id, "kind": "homework", "subject": "Math", "text": "Exercices 12 à 15", "on_date": _today()}
    created = site.post("/staff/journal", {**form, "due_on": due}, form_page="/staff/journal")
    assert created.status_code == 303
    page = site.client.get("/staff/journal", params={"group": group_id})
    assert page.status_code == 200 and "Exercices 12 à 15" in page.text
    api = f"/api/v1/groups/{group_id}/journal"
    listed = site.client.get(api).json()["items"]
    assert listed[0]["text"] == "Exercices 12 à 15" and listed[0]["due_on"] == due

    csrf = site.client.get("/api/v1/session").json()["csrf_token"]
    body = {"kind": "test", "subject": "Math", "text": "Interro", "on_date": str(_today())}
    assert site.client.post(api, json=body, headers={"X-CSRF-Token": csrf}).status_code == 422  # a test needs its day
    body["due_on"] = due
    assert site.client.post(api, json=body, headers={"X-CSRF-Token": csrf}).status_code == 201

    # Another class: 404 on the page, the form and the JSON; nothing stored there.
    assert site.client.get("/staff/journal", params={"group": other}).status_code == 404
    assert (
        site.post("/staff/journal", {**form, "group": other, "due_on": due}, form_page="/staff/journal").status_code
        == 404
    )
    answer = site.client.post(f"/api/v1/groups/{other}/journal", json=body, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 404
    assert site.run(_entries, group_id) == before[0] + 2 and site.run(_entries, other) == before[1]


def test_a_parent_makes_a_private_calendar_address_and_renews_it(site: Site) -> None:
    site.login_staff(TEACHER)
    group_id = site.run(_3a)
    due = (_today() + dt.timedelta(days=3)).isoformat()
    form = {"group": group_id, "kind": "test", "subject": "Math", "text": "Interro fractions", "on_date": _today()}
    assert site.post("/staff/journal", {**form, "due_on": due}, form_page="/staff/journal").status_code == 303
    guardian_id, pupil_id = site.run(_parent_of_3a)
    site.login_guardian(guardian_id)
    made = site.post("/portal/calendar", {"owner": "me"}, form_page="/portal/calendar")
    found = _FEED.search(made.text)
    assert made.status_code == 200 and found
    address = found.group(1).removeprefix("http://testserver")
    feed = site.client.get(address)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    summaries = [str(e["summary"]) for e in Calendar.from_ical(feed.content).walk("VEVENT")]
    assert any("Math" in s for s in summaries)

    renewed = site.post("/portal/calendar", {"owner": "me"}, form_page="/portal/calendar")
    assert _FEED.search(renewed.text)
    site.logout()
    assert site.client.get(address).status_code == 404  # the old address stopped working
    # Another family's child: refused.
    site.login_guardian(guardian_id)
    assert site.post("/portal/calendar", {"owner": "999999"}, form_page="/portal/calendar").status_code == 404
    assert pupil_id > 0
