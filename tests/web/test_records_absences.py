"""The absence register's pages and JSON over the demo school: the demo teacher takes the register of 3A; a class
they do not teach is 404 on the page and the JSON, and nothing is stored; the office's pages and the CSV."""

from __future__ import annotations

import datetime as dt

from charter import school_charter
from hub.enums import Category, GroupKind
from hub.messaging import access
from hub.messaging.models import Message
from hub.people.models import Group, Membership, Staff
from hub.records.models import Absence, Register
from hub.web.kit import now
from tests.web.conftest import Site

TEACHER = "prof.demo@athenee-demo.example.be"
PRINCIPAL = "direction@athenee-demo.example.be"


def _today() -> str:
    return now().astimezone(school_charter().tz).date().isoformat()


async def _class(code: str) -> tuple[int, list[int]]:
    group = await Group.get(kind=GroupKind.CLASS, code=code)
    pupils = await Membership.filter(group_id=group.id, pupil__active=True).values_list("pupil_id", flat=True)
    return group.id, sorted(int(p) for p in pupils)


async def _untaught_class() -> int:
    teacher = await Staff.get(email=TEACHER)
    taught = await access.taught_group_ids(teacher.id)
    group = await Group.filter(kind=GroupKind.CLASS).exclude(id__in=list(taught)).order_by("code").first()
    assert group is not None
    return group.id


async def _register_absence(pupil_id: int) -> Absence:
    return await Absence.get(pupil_id=pupil_id, register_id__isnull=False)


async def _stored() -> tuple[int, int, int]:
    return (
        await Register.all().count(),
        await Absence.filter(register_id__isnull=False).count(),
        await Message.filter(category=Category.ABSENCE).count(),
    )


def test_the_demo_teacher_takes_the_register_of_3a(site: Site) -> None:
    site.login_staff(TEACHER)
    group_id, pupils = site.run(_class, "3A")
    index = site.client.get("/staff/absences")
    assert index.status_code == 200 and f'value="{group_id}"' in index.text
    page = site.client.get("/staff/absences/register", params={"group": group_id, "date": _today(), "period": 2})
    assert page.status_code == 200 and page.text.count('type="radio"') == 3 * len(pupils)
    response = site.post(
        "/staff/absences/register",
        {"group": group_id, "date": _today(), "period": 2, f"mark-{pupils[0]}": "absent", f"mark-{pupils[1]}": "late"},
        form_page="/staff/absences",
    )
    assert response.status_code == 200 and 'id="saved"' in response.text
    absent = site.run(_register_absence, pupils[0])
    assert not absent.late and absent.message_id is not None
    assert site.run(_register_absence, pupils[1]).late

    # The API reads what the page stored, and takes the register again (the absent pupil was there).
    api = f"/api/v1/groups/{group_id}/register"
    sheet = site.client.get(api, params={"date": _today(), "period": 2})
    marks = {p["pupil_id"]: p["mark"] for p in sheet.json()["pupils"]}
    assert marks[pupils[0]] == "absent" and marks[pupils[1]] == "late" and marks[pupils[2]] == "present"
    csrf = site.client.get("/api/v1/session").json()["csrf_token"]
    again = site.client.post(
        api,
        json={"date": str(_today()), "period": 2, "marks": [{"pupil_id": pupils[1], "mark": "late"}]},
        headers={"X-CSRF-Token": csrf},
    )
    assert again.status_code == 200 and again.json()["sheet"]["counts"] == {
        "present": len(pupils) - 1,
        "absent": 0,
        "late": 1,
    }
    exported = site.client.get("/staff/absences/export.csv", params={"group": group_id})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")


def test_a_teacher_cannot_take_a_class_they_do_not_teach(site: Site) -> None:
    site.login_staff(TEACHER)
    other = site.run(_untaught_class)
    _group, pupils = site.run(_class, "3A")
    before = site.run(_stored)
    assert site.client.get("/staff/absences/register", params={"group": other, "period": 1}).status_code == 404
    form = {"group": other, "date": _today(), "period": 1, f"mark-{pupils[0]}": "absent"}
    assert site.post("/staff/absences/register", form, form_page="/staff/absences").status_code == 404
    csrf = site.client.get("/api/v1/session").json()["csrf_token"]
    answer = site.client.post(
        f"/api/v1/groups/{other}/register",
        json={"date": str(_today()), "period": 1, "marks": []},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 404
    assert site.client.get("/staff/absences/export.csv", params={"group": other}).status_code == 404
    # Bad input: 400, never 500, nothing stored; the API without the CSRF header: 403.
    group_3a, _ = site.run(_class, "3A")
    for bad in ({"period": 9}, {"date": "2026-13-01"}, {"date": (now() + dt.timedelta(days=3)).date().isoformat()}):
        query = {"group": group_3a, "date": _today(), "period": 1, **bad}
        assert site.client.get("/staff/absences/register", params=query).status_code == 400
    forged = {"group": group_3a, "date": _today(), "period": 1, f"mark-{pupils[0]}": "maybe"}
    assert site.post("/staff/absences/register", forged, form_page="/staff/absences").status_code == 400
    no_csrf = site.client.post(
        f"/api/v1/groups/{group_3a}/register", json={"date": str(_today()), "period": 1, "marks": []}
    )
    assert no_csrf.status_code == 403
    assert site.run(_stored) == before
    # The office's pages are not a teacher's.
    assert site.client.get("/staff/absences/flagged").status_code == 403
    assert site.client.get("/staff/absences/justify").status_code == 403


def test_the_principal_sees_the_flagged_pupils_and_the_justification_list(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    flagged = site.client.get("/staff/absences/flagged")
    assert flagged.status_code == 200 and "9" in flagged.text
    page = site.client.get("/staff/absences/justify")
    assert page.status_code == 200
