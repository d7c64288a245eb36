"""The absences register and the class journal through the JSON API (/api/v1/groups/{id}/register and
/api/v1/groups/{id}/journal): a teacher reads and writes those of the groups they teach, another group answers 404
and stores nothing, what the rules refuse answers 422 and stores nothing; the operations are declared in the
OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from hub.enums import GroupKind
from hub.people.models import Group, Membership, Staff, Teaching
from hub.records.models import Absence, JournalEntry, Register
from hub.web.api import openapi_document
from hub.web.kit import now
from tests.web.conftest import Site
from tests.web.test_api import PRINCIPAL, TEACHER, Api, count


def _today() -> dt.date:
    return now().astimezone(ZoneInfo("Europe/Brussels")).date()


async def _groups(email: str) -> dict[str, Any]:
    staff = await Staff.get(email=email)
    taught = set(await Teaching.filter(staff_id=staff.id).values_list("group_id", flat=True))
    classes = await Group.filter(kind=GroupKind.CLASS).order_by("id").values_list("id", flat=True)
    mine = min(g for g in classes if g in taught)
    other = min(g for g in classes if g not in taught)
    members = sorted(await Membership.filter(group_id=mine, pupil__active=True).values_list("pupil_id", flat=True))
    outsider = min(
        await Membership.filter(group_id=other, pupil__active=True)
        .exclude(pupil_id__in=members)
        .values_list("pupil_id", flat=True)
    )
    return {"mine": mine, "other": other, "members": members, "outsider": outsider}


def test_a_teacher_takes_the_register_of_their_class_through_the_api(site: Site) -> None:
    g = site.run(_groups, TEACHER)
    api = Api(site).sign_in_staff(TEACHER)
    today = _today().isoformat()
    read = api.get(f"/groups/{g['mine']}/register?date={today}&period=2")
    assert read.status_code == 200, read.text
    assert {p["pupil_id"] for p in read.json()["pupils"]} == set(g["members"])
    assert read.json()["taken_at"] is None and read.json()["counts"]["present"] == len(g["members"])

    first, second = g["members"][0], g["members"][1]
    mine, other = f"/groups/{g['mine']}/register", f"/groups/{g['other']}/register"
    body = {"date": today, "period": 2, "marks": [
        {"pupil_id": first, "mark": "absent"}, {"pupil_id": second, "mark": "late"}]}  # fmt: skip
    taken = api.post(mine, body)
    assert taken.status_code == 200, taken.text
    assert taken.json()["absent"] == 1 and taken.json()["late"] == 1
    marks = {p["pupil_id"]: p["mark"] for p in taken.json()["sheet"]["pupils"]}
    assert marks[first] == "absent" and marks[second] == "late"
    assert count(site, Absence, pupil_id=first) >= 1
    again = api.get(f"/groups/{g['mine']}/register?date={today}&period=2").json()
    assert again["taken_at"] is not None and again["counts"]["absent"] == 1

    registers, absences_before = count(site, Register), count(site, Absence)
    refused = [
        api.get(f"/groups/{g['other']}/register?date={today}&period=2"),
        api.post(other, body),
        api.post(mine, {**body, "date": (_today() + dt.timedelta(days=1)).isoformat()}),
        api.post(mine, {**body, "marks": [{"pupil_id": g["outsider"], "mark": "absent"}]}),
        api.post(mine, {**body, "marks": [{"pupil_id": first, "mark": "sick"}]}),
        api.post(mine, {**body, "period": 9}),
        api.post(mine, {**body, "marks": [{"pupil_id": first, "mark": "absent"}] * 2}),
    ]
    assert [r.status_code for r in refused] == [404, 404, 422, 422, 422, 422, 422], [r.text for r in refused]
    assert refused[0].json() == {"error": "not found"}
    assert (count(site, Register), count(site, Absence)) == (registers, absences_before)
    # The principal sees the whole school's registers.
    principal = Api(site).sign_in_staff(PRINCIPAL)
    assert principal.get(f"/groups/{g['other']}/register?date={today}").status_code == 200


def test_a_teacher_writes_and_reads_the_class_journal_through_the_api(site: Site) -> None:
    g = site.run(_groups, TEACHER)
    api = Api(site).sign_in_staff(TEACHER)
    today = _today()
    mine, other = f"/groups/{g['mine']}/journal", f"/groups/{g['other']}/journal"
    entry = {"kind": "test", "subject": "Mathématiques", "text": "Interro chapitre 3",
             "on_date": today.isoformat(), "due_on": (today + dt.timedelta(days=7)).isoformat()}  # fmt: skip
    made = api.post(mine, entry)
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "test" and made.json()["due_on"] == entry["due_on"]
    listed = api.get(mine)
    assert listed.status_code == 200 and made.json()["id"] in [e["id"] for e in listed.json()["items"]]

    before = count(site, JournalEntry)
    refused = [
        api.get(other),
        api.post(other, entry),
        api.post(mine, {**entry, "kind": "gossip"}),
        api.post(mine, {**entry, "text": ""}),
        api.post(mine, {**entry, "on_date": "2026-02-30"}),
        api.get("/groups/99999999999999999999/journal"),
        api.post(mine, {**entry, "group_id": g["other"]}),
    ]
    assert [r.status_code for r in refused] == [404, 404, 422, 422, 422, 404, 422], [r.text for r in refused]
    assert count(site, JournalEntry) == before
    assert api.post(mine, entry, csrf=False).status_code == 403 and count(site, JournalEntry) == before


def test_the_new_operations_are_declared_with_their_errors() -> None:
    paths = openapi_document()["paths"]
    for path, method, errors in (
        ("/api/v1/groups/{group_id}/register", "get", {"403", "404", "422"}),
        ("/api/v1/groups/{group_id}/register", "post", {"403", "404", "415", "422"}),
        ("/api/v1/groups/{group_id}/journal", "get", {"403", "404"}),
        ("/api/v1/groups/{group_id}/journal", "post", {"403", "404", "415", "422"}),
    ):
        operation = paths[path][method]
        assert errors <= set(operation["responses"]), (path, method, sorted(operation["responses"]))
        if method == "post":
            assert "requestBody" in operation
