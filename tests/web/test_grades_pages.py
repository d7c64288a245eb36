"""The grade book's pages (/staff/grades) and API (/api/v1/evaluations) on the demo school: the demo teacher
grades and publishes an evaluation for 3A; another teacher's class answers 404 on the page and in the API and
stores nothing; a bad file stores nothing and names each line; the class's grades download as CSV; the principal
publishes a class's report cards."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hub.enums import Category, GroupKind
from hub.messaging.models import Message, Notice
from hub.people.models import Group, Membership, Pupil, Staff, Teaching
from hub.records import visibility
from hub.records.models import Evaluation, Grade, ReportCard
from hub.store.db import ids_of
from hub.web.kit import now
from tests.web.conftest import Site
from tests.web.test_api import PRINCIPAL, TEACHER, Api

NEW = {
    "subject": "Mathématiques",
    "title": "Interro fractions",
    "term": "T2",
    "assessed_on": "2026-12-07",
    "max_score": "20",
    "weight": "1",
}


async def _groups() -> dict[str, Any]:
    """3A, which the demo teacher teaches (mathematics), and a class they do not teach, with its evaluation by its
    own teacher."""
    teacher = await Staff.get(email=TEACHER)
    class_3a = await Group.get(kind=GroupKind.CLASS, code="3A")
    taught = set(await ids_of(Teaching.filter(staff_id=teacher.id), "group_id"))
    other = await Group.filter(kind=GroupKind.CLASS).exclude(id__in=list(taught)).order_by("code").first()
    assert other is not None
    owner = await Teaching.filter(group_id=other.id).order_by("id").first()
    assert owner is not None
    theirs = await Evaluation.create(
        school_id=other.school_id,
        group_id=other.id,
        teacher_id=owner.staff_id,
        subject=owner.subject,
        title="Leur interro",
        term="T2",
        assessed_on=now().date(),
        max_score=20,
    )
    subject = await Teaching.filter(staff_id=teacher.id, group_id=class_3a.id).values_list("subject", flat=True)
    pupils = await ids_of(Membership.filter(group_id=class_3a.id).order_by("pupil__last_name"), "pupil_id")
    other_pupils = await ids_of(Membership.filter(group_id=other.id), "pupil_id")
    return {
        "3A": class_3a.id,
        "subject": subject[0],
        "other": other.id,
        "theirs": theirs.id,
        "pupils": pupils,
        "other_pupils": other_pupils,
    }


def test_the_demo_teacher_grades_and_publishes_an_evaluation_for_3a(site: Site) -> None:
    g = site.run(_groups)
    site.login_staff(TEACHER)
    assert "/staff/grades" in site.client.get("/staff").text
    created = site.post(
        "/staff/grades", {**NEW, "subject": g["subject"], "group_id": g["3A"]}, form_page="/staff/grades"
    )
    assert created.status_code == 303, created.text
    path = created.headers["location"]
    sheet = site.client.get(path)
    assert sheet.status_code == 200 and sheet.text.count('class="score"') == len(g["pupils"])
    first, second, third = g["pupils"][:3]
    scores = {f"score-{first}": "15,5", f"comment-{first}": "Bien", f"score-{second}": "21", f"score-{third}": "9"}
    refused = site.post(path, scores, form_page=path)
    assert refused.status_code == 422 and 'aria-invalid="true"' in refused.text
    assert site.run(Grade.filter(pupil_id__in=g["pupils"], evaluation_id__isnull=False).count) == 0
    scores[f"score-{second}"] = "12"
    assert site.post(path, scores, form_page=path).status_code == 303
    evaluation_id = int(path.rsplit("/", 1)[1])
    assert site.run(Grade.filter(evaluation_id=evaluation_id).count) == 3
    assert site.run(visibility.pupil_grades(first, now()).filter(evaluation_id=evaluation_id).count) == 0
    published = site.post(f"{path}/publish", form_page=path)
    assert published.status_code == 303
    assert site.run(visibility.pupil_grades(first, now()).filter(evaluation_id=evaluation_id).count) == 1
    assert "Publiée" in site.client.get("/staff/grades").text
    export = site.client.get(f"/staff/grades/export.csv?group={g['3A']}&term=T2")
    assert export.status_code == 200 and "Interro fractions" in export.text and "15.5" in export.text


def test_a_teacher_cannot_write_another_teachers_class_on_the_page_or_in_the_api(site: Site) -> None:
    g = site.run(_groups)
    site.login_staff(TEACHER)
    before = site.run(Evaluation.all().count)
    create = site.post("/staff/grades", {**NEW, "group_id": g["other"]}, form_page="/staff/grades")
    assert create.status_code == 404
    theirs = f"/staff/grades/{g['theirs']}"
    assert site.client.get(theirs).status_code == 404
    pupil = g["other_pupils"][0]
    assert site.post(theirs, {f"score-{pupil}": "10"}, form_page="/staff/grades").status_code == 404
    assert site.post(f"{theirs}/publish", form_page="/staff/grades").status_code == 404
    files = {"file": ("notes.csv", b"pupil_id,score\nX,1\n", "text/csv")}
    csrf = site.csrf("/staff/grades")
    assert site.client.post(f"{theirs}/file", data={"csrf_token": csrf}, files=files).status_code == 404
    assert site.client.get(f"/staff/grades/export.csv?group={g['other']}").status_code == 404

    api = Api(site).sign_in_staff(TEACHER)
    body = {**NEW, "group_id": g["other"], "max_score": 20, "weight": 1}
    assert api.post("/evaluations", body).status_code == 404
    assert api.get(f"/evaluations/{g['theirs']}").status_code == 404
    assert (
        api.post(f"/evaluations/{g['theirs']}/grades", {"grades": [{"pupil_id": pupil, "score": 10}]}).status_code
        == 404
    )
    assert api.post(f"/evaluations/{g['theirs']}/publish").status_code == 404
    assert g["theirs"] not in [e["id"] for e in api.get("/evaluations").json()["items"]]
    assert site.run(Evaluation.all().count) == before
    assert site.run(Grade.filter(evaluation_id=g["theirs"]).count) == 0
    assert site.run(Evaluation.filter(id=g["theirs"], published_at__isnull=False).count) == 0
    # the principal may
    principal = Api(site).sign_in_staff(PRINCIPAL)
    assert principal.get(f"/evaluations/{g['theirs']}").status_code == 200


def test_the_api_writes_a_class_sheet_all_or_nothing(site: Site) -> None:
    g = site.run(_groups)
    api = Api(site).sign_in_staff(TEACHER)
    created = api.post(
        "/evaluations", {**NEW, "subject": g["subject"], "group_id": g["3A"], "max_score": 10, "weight": 2}
    )
    assert created.status_code == 201, created.text
    evaluation = created.json()["id"]
    first, second = g["pupils"][:2]
    bad = api.post(
        f"/evaluations/{evaluation}/grades",
        {
            "grades": [
                {"pupil_id": first, "score": 8},
                {"pupil_id": second, "score": 11},
                {"pupil_id": g["other_pupils"][0], "score": 1},
            ]
        },
    )
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {f"pupil:{second}", f"pupil:{g['other_pupils'][0]}"}
    assert site.run(Grade.filter(evaluation_id=evaluation).count) == 0
    assert (
        api.post(f"/evaluations/{evaluation}/grades", {"grades": [{"pupil_id": first, "score": 8.5}]}).status_code
        == 200
    )
    assert api.post(f"/evaluations/{evaluation}/grades", {"grades": "x"}).status_code == 422
    detail = api.post(f"/evaluations/{evaluation}/publish").json()
    assert detail["evaluation"]["published_at"] is not None
    assert [r["score"] for r in detail["grades"] if r["pupil_id"] == first] == [8.5]
    assert api.post(f"/evaluations/{evaluation}/publish").status_code == 200  # twice changes nothing
    wrong = api.post("/evaluations", {**NEW, "group_id": g["3A"], "max_score": 0})
    assert wrong.status_code == 422


def test_a_bad_grades_file_stores_nothing_and_names_every_error_by_line(site: Site) -> None:
    g = site.run(_groups)
    site.login_staff(TEACHER)
    created = site.post(
        "/staff/grades", {**NEW, "subject": g["subject"], "group_id": g["3A"]}, form_page="/staff/grades"
    )
    path = created.headers["location"]
    externals = site.run(_externals, g["pupils"][:2])
    bad = f"pupil_id;score;comment\n{externals[0]};14;ok\nNOBODY;12;\n{externals[1]};25;\n"
    csrf = site.csrf(path)
    answer = site.client.post(
        f"{path}/file", data={"csrf_token": csrf}, files={"file": ("notes.csv", bad.encode(), "text/csv")}
    )
    assert answer.status_code == 422
    errors = re.findall(r"<li>(line \d+):", answer.text)
    assert errors == ["line 3", "line 4"]
    assert site.run(Grade.filter(evaluation_id=int(path.rsplit("/", 1)[1])).count) == 0
    good = f"pupil_id;score;comment\n{externals[0]};14;ok\n{externals[1]};12,5;\n"
    answer = site.client.post(
        f"{path}/file",
        data={"csrf_token": csrf},
        files={"file": ("notes.csv", good.encode("cp1252"), "text/csv")},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert site.run(Grade.filter(evaluation_id=int(path.rsplit("/", 1)[1])).count) == 2


async def _externals(pupil_ids: list[int]) -> list[str]:
    rows = dict(await Pupil.filter(id__in=pupil_ids).values_list("id", "external_id"))
    return [str(rows[p]) for p in pupil_ids]


@pytest.mark.usefixtures("at_school_hours")
def test_the_principal_publishes_a_classs_report_cards_once(site: Site) -> None:
    g = site.run(_groups)
    site.login_staff(TEACHER)
    assert (
        site.post("/staff/report-cards", {"group_id": g["3A"], "term": "T1"}, form_page="/staff/grades").status_code
        == 403
    )
    site.login_staff(PRINCIPAL)
    done = site.post("/staff/report-cards", {"group_id": g["3A"], "term": "T1"}, form_page="/staff/grades")
    assert done.status_code == 200 and 'role="status"' in done.text
    assert site.run(ReportCard.filter(pupil_id__in=g["pupils"], term="T1", published_at__isnull=False).count) == len(
        g["pupils"]
    )
    message = site.run(Message.filter(category=Category.REPORT_CARD).first)
    assert message is not None
    notices = site.run(Notice.filter(message_id=message.id).count)
    assert 0 < notices
    again = site.post("/staff/report-cards", {"group_id": g["3A"], "term": "T1"}, form_page="/staff/grades")
    assert again.status_code == 409
    assert site.run(Notice.filter(message__category=Category.REPORT_CARD).count) == notices


async def _pupil_with_a_notice() -> int:
    from hub.messaging.models import NoticePupil

    link = await NoticePupil.all().order_by("id").first()
    assert link is not None, "the report cards' notices name the pupils"
    return link.pupil_id


def test_the_principals_pupil_file_shows_records_guardians_and_messages(site: Site) -> None:
    g = site.run(_groups)
    site.login_staff(PRINCIPAL)
    site.post("/staff/report-cards", {"group_id": g["3A"], "term": "T1"}, form_page="/staff/grades")
    pupil = site.run(_pupil_with_a_notice)
    site.login_staff(TEACHER)
    assert site.client.get(f"/staff/pupils/{pupil}").status_code == 403
    site.login_staff(PRINCIPAL)
    page = site.client.get(f"/staff/pupils/{pupil}")
    assert page.status_code == 200
    for section in ("file-grades-title", "file-absences-title", "file-journal-title", "guardians-title"):
        assert f'id="{section}"' in page.text
    assert "/staff/messages/" in page.text and "Bulletin T1" in page.text  # the messages about the pupil
    assert site.client.get("/staff/pupils/99999999").status_code == 404
