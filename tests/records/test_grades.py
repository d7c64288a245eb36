"""The grade book (hub/records/grades.py), weekly grade notices (grade_notices.py) and report cards
(report_cards.py), on a small school of our own: who may write, all-or-nothing sheets and files, averages, the
pupil-first window, one notice per guardian, and no notice to a guardian without the records right or barred."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from hub.enums import Category, GroupKind, Relation, StaffRole
from hub.messaging import translations
from hub.messaging.models import Message, Notice, NoticePupil
from hub.people.models import (
    Group,
    Guardian,
    Guardianship,
    Household,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
    Teaching,
)
from hub.records import grade_notices, grades, report_cards, visibility
from hub.records.models import Evaluation, Grade, ReportCard
from hub.store.db import ids_of

pytestmark = pytest.mark.usefixtures("db")

_n = itertools.count(1)
T0 = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)  # a Tuesday in term


@dataclass(frozen=True)
class Who:
    id: int
    school_id: int
    roles: frozenset[StaffRole]


@dataclass
class Tiny:
    school: School
    teacher: Who
    other_teacher: Who
    principal: Who
    class3a: Group
    class3b: Group
    pupils: dict[str, Pupil] = field(default_factory=dict)
    guardians: dict[str, Guardian] = field(default_factory=dict)


async def _staff(school: School, role: StaffRole) -> Who:
    staff = await Staff.create(school=school, first_name="S", last_name=str(role), email=f"s{next(_n)}@school.be")
    await StaffRoleGrant.create(staff=staff, role=role)
    return Who(staff.id, school.id, frozenset({role}))


async def build(*, delay_hours: int = 24, notices: bool = True) -> Tiny:
    school = await School.create(name="Athénée", family_records_delay_hours=delay_hours, grade_notices=notices)
    teacher = await _staff(school, StaffRole.TEACHER)
    other = await _staff(school, StaffRole.TEACHER)
    principal = await _staff(school, StaffRole.PRINCIPAL)
    class3a = await Group.create(school=school, kind=GroupKind.CLASS, code="3A", name="3A")
    class3b = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    await Teaching.create(staff_id=teacher.id, group=class3a, subject="Maths")
    await Teaching.create(staff_id=other.id, group=class3b, subject="Maths")
    tiny = Tiny(school, teacher, other, principal, class3a, class3b)
    for name, group in (("lina", class3a), ("noah", class3a), ("emma", class3a), ("zoe", class3b)):
        pupil = await Pupil.create(school=school, external_id=f"E{name}", first_name=name, last_name="X")
        await Membership.create(group=group, pupil=pupil)
        tiny.pupils[name] = pupil
    homes = [await Household.create(school=school, external_id=f"H{i}") for i in range(3)]
    for name, home in (("mother", 0), ("father", 1), ("step", 1), ("norights", 2), ("barred", 2)):
        tiny.guardians[name] = await Guardian.create(
            school=school, external_id=f"G{name}", first_name=name, last_name="X", household=homes[home]
        )

    async def link(pupil: str, guardian: str, home: int, **rights: Any) -> None:
        await Guardianship.create(
            pupil=tiny.pupils[pupil],
            guardian=tiny.guardians[guardian],
            relation=Relation.OTHER,
            household=homes[home],
            **rights,
        )

    for child in ("lina", "noah"):  # siblings in 3A; separated parents
        await link(child, "mother", 0)
        await link(child, "father", 1)
    await link("lina", "step", 1, barred=True)
    await link("emma", "norights", 2, sees_records=False)
    await link("emma", "barred", 2, barred=True)
    await link("zoe", "mother", 0)  # 3B: the mother's third child
    return tiny


def _fields(**over: str) -> dict[str, str]:
    base = {
        "subject": "Maths",
        "title": "Fractions",
        "term": "T1",
        "assessed_on": "2026-12-07",
        "max_score": "20",
        "weight": "2",
    }
    return {**base, **over}


async def _notified(message_id: int) -> dict[int, set[int]]:
    """guardian -> the pupils their notice names."""
    found: dict[int, set[int]] = {}
    for notice in await Notice.filter(message_id=message_id):
        found[notice.guardian_id] = set(await ids_of(NoticePupil.filter(notice_id=notice.id), "pupil_id"))
    return found


# ----------------------------------------------------------------------------------------------- pure rules


def test_scores_are_read_with_a_decimal_comma_and_checked_against_the_scale() -> None:
    assert grades.check_score("12,5", Decimal(20)) == (Decimal("12.5"), "")
    assert grades.check_score(" ", Decimal(20)) == (None, "")
    assert grades.check_score("21", Decimal(20))[1]
    assert grades.check_score("-1", Decimal(20))[1]
    assert grades.check_score("abc", Decimal(20))[1]
    assert grades.check_score("1.234", Decimal(20))[1]
    assert grades.check_score("NaN", Decimal(20))[1]


def test_the_weighted_average_skips_absent_pupils() -> None:
    items = [
        (Decimal(10), Decimal(20), Decimal(1)),
        (Decimal(8), Decimal(10), Decimal(3)),
        (None, Decimal(20), Decimal(5)),
    ]
    assert grades.weighted_average(items) == Decimal("72.5")  # (0.5 * 1 + 0.8 * 3) / 4
    assert grades.weighted_average([(None, Decimal(20), Decimal(1))]) is None


def test_a_bad_evaluation_names_each_field() -> None:
    draft, errors = grades.parse_evaluation(_fields(title="", assessed_on="08/12", max_score="0", weight="x"))
    assert draft is None
    assert set(errors) == {"title", "assessed_on", "max_score", "weight"}


# ---------------------------------------------------------------------------------------------- writing


async def test_a_teacher_cannot_write_another_teachers_class() -> None:
    tiny = await build()
    with pytest.raises(grades.GradesError) as refused:
        await grades.create_evaluation(tiny.teacher, tiny.class3b.id, _fields(), now=T0)
    assert "group" in refused.value.errors
    with pytest.raises(grades.GradesError):  # nor another subject of their own class
        await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(subject="Latin"), now=T0)
    theirs = await grades.create_evaluation(tiny.other_teacher, tiny.class3b.id, _fields(), now=T0)
    assert await grades.writable_evaluation(tiny.teacher, theirs.id) is None
    with pytest.raises(grades.GradesError):
        await grades.record_scores(tiny.teacher, theirs, {tiny.pupils["zoe"].id: ("12", "")}, now=T0)
    with pytest.raises(grades.GradesError):
        await grades.publish(tiny.teacher, theirs, now=T0)
    assert await Grade.all().count() == 0
    assert (await Evaluation.get(id=theirs.id)).published_at is None
    # the principal writes for the whole school
    assert await grades.writable_evaluation(tiny.principal, theirs.id) is not None


async def test_a_class_sheet_is_stored_whole_or_not_at_all() -> None:
    tiny = await build()
    evaluation = await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(), now=T0)
    lina, noah, emma, zoe = (tiny.pupils[n].id for n in ("lina", "noah", "emma", "zoe"))
    with pytest.raises(grades.GradesError) as refused:
        await grades.record_scores(
            tiny.teacher, evaluation, {lina: ("15", ""), noah: ("25", ""), zoe: ("10", "")}, now=T0
        )
    assert set(refused.value.errors) == {f"pupil:{noah}", f"pupil:{zoe}"}
    assert await Grade.all().count() == 0
    count = await grades.record_scores(
        tiny.teacher, evaluation, {lina: ("15,5", "Bien"), noah: ("", "absent"), emma: ("", "")}, now=T0
    )
    assert count == 2
    sheet = {row.pupil_id: row for row in await grades.sheet(evaluation)}
    assert sheet[lina].score == Decimal("15.5") and sheet[lina].comment == "Bien"
    assert sheet[noah].score is None and sheet[noah].entered
    assert not sheet[emma].entered
    grade = await Grade.get(pupil_id=lina)
    assert (grade.subject, grade.title, grade.term, grade.max_score) == ("Maths", "Fractions", "T1", Decimal(20))


async def test_a_bad_grades_file_stores_nothing_and_names_every_error_by_line() -> None:
    tiny = await build()
    evaluation = await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(), now=T0)
    bad = "pupil_id;name;score;comment\nElina;Lina;14;ok\nEnobody;?;12;\nEnoah;Noah;22;\n\nElina;Lina;13;twice\n"
    with pytest.raises(grades.GradesError) as refused:
        await grades.import_csv(tiny.teacher, evaluation, bad, now=T0)
    assert refused.value.errors.keys() == {"line 3", "line 4", "line 6"}
    assert "Enobody" in refused.value.errors["line 3"]
    assert "between 0 and 20" in refused.value.errors["line 4"]
    assert "line 2" in refused.value.errors["line 6"]
    assert await Grade.all().count() == 0
    with pytest.raises(grades.GradesError) as no_column:
        await grades.import_csv(tiny.teacher, evaluation, "pupil_id,comment\nElina,x\n", now=T0)
    assert no_column.value.errors == {"line 1": "missing column(s): score"}
    good = '\ufeffpupil_id,score,comment\nElina,14,ok\nEnoah,"12,5",\n'
    assert await grades.import_csv(tiny.teacher, evaluation, good, now=T0) == 2
    assert await Grade.filter(evaluation_id=evaluation.id, score=Decimal("12.5")).count() == 1


async def test_averages_per_course_and_term_are_weighted_and_the_class_exports_as_csv() -> None:
    tiny = await build()
    lina = tiny.pupils["lina"].id
    first = await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(weight="1"), now=T0)
    second = await grades.create_evaluation(
        tiny.teacher, tiny.class3a.id, _fields(title="Équations", max_score="10", weight="3"), now=T0
    )
    await grades.record_scores(tiny.teacher, first, {lina: ("10", "")}, now=T0)
    await grades.record_scores(tiny.teacher, second, {lina: ("8", "=HYPERLINK(x)")}, now=T0)
    [average] = await grades.averages(await Grade.filter(pupil_id=lina))
    assert (average.subject, average.term, average.percent, average.grades) == ("Maths", "T1", Decimal("72.5"), 2)
    data = await grades.class_grades_csv(tiny.teacher, tiny.class3a.id, "T1")
    assert data is not None
    text = data.decode("utf-8")
    assert "Équations" in text and "72.5" in text and "'=HYPERLINK(x)" in text
    assert await grades.class_grades_csv(tiny.teacher, tiny.class3b.id) is None


# ------------------------------------------------------------------------------- publishing and notices


async def test_single_grades_reach_families_after_the_delay_bundled_weekly_while_the_pupil_sees_them_at_once() -> None:
    tiny = await build(delay_hours=24)
    lina, noah, emma = (tiny.pupils[n].id for n in ("lina", "noah", "emma"))
    evaluation = await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(), now=T0)
    await grades.record_scores(tiny.teacher, evaluation, {lina: ("15", ""), noah: ("12", ""), emma: ("9", "")}, now=T0)
    assert await visibility.pupil_grades(lina, T0).count() == 0  # a draft: nobody outside the staff
    assert await grades.publish(tiny.teacher, evaluation, now=T0)
    assert not await grades.publish(tiny.teacher, evaluation, now=T0 + dt.timedelta(hours=1))  # once
    # The pupil sees it at its publication; the family only after the school's delay.
    assert await visibility.pupil_grades(lina, T0).count() == 1
    assert await (await visibility.family_grades([lina], T0 + dt.timedelta(hours=23))).count() == 0
    assert await grade_notices.send_weekly_grade_notices(T0 + dt.timedelta(hours=23)) == []
    assert await Message.filter(category=Category.GRADES).count() == 0

    [bundle] = await grade_notices.send_weekly_grade_notices(T0 + dt.timedelta(hours=25))
    assert (bundle.grades, bundle.pupils) == (3, 3)
    told = await _notified(bundle.message_id)
    mother, father = tiny.guardians["mother"].id, tiny.guardians["father"].id
    # One notice per guardian naming both siblings; the separated father his own; nobody without the right.
    assert told == {mother: {lina, noah}, father: {lina, noah}}
    assert tiny.guardians["step"].id not in told  # barred for Lina, linked to nobody else
    assert tiny.guardians["norights"].id not in told and tiny.guardians["barred"].id not in told
    message = await Message.get(id=bundle.message_id)
    assert message.category == Category.GRADES and "15" not in message.body
    # Written in every language: a Dutch or English family reads it in theirs.
    versions = (await translations.versions_of([message.id]))[message.id]
    assert (message.subject, versions["nl"].subject, versions["en"].subject) == (
        "Nouvelles notes",
        "Nieuwe punten",
        "New grades",
    )

    # A grade published the next day waits for next week's bundle.
    second = await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(title="Bis"), now=T0)
    await grades.record_scores(tiny.teacher, second, {lina: ("11", "")}, now=T0)
    await grades.publish(tiny.teacher, second, now=T0 + dt.timedelta(days=1))
    assert await grade_notices.send_weekly_grade_notices(T0 + dt.timedelta(days=3)) == []
    [weekly] = await grade_notices.send_weekly_grade_notices(T0 + dt.timedelta(days=8, hours=2))
    assert await _notified(weekly.message_id) == {mother: {lina}, father: {lina}}
    assert await grade_notices.send_weekly_grade_notices(T0 + dt.timedelta(days=30)) == []


async def test_no_grade_notice_unless_the_school_chooses_so() -> None:
    tiny = await build(notices=False)
    evaluation = await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(), now=T0)
    await grades.record_scores(tiny.teacher, evaluation, {tiny.pupils["lina"].id: ("15", "")}, now=T0)
    await grades.publish(tiny.teacher, evaluation, now=T0)
    assert await grade_notices.send_weekly_grade_notices(T0 + dt.timedelta(days=9)) == []
    assert await Message.all().count() == 0


async def test_publishing_report_cards_notifies_each_guardian_once_and_separated_households_each() -> None:
    tiny = await build(delay_hours=0)
    lina, noah = tiny.pupils["lina"].id, tiny.pupils["noah"].id
    evaluation = await grades.create_evaluation(tiny.teacher, tiny.class3a.id, _fields(), now=T0)
    await grades.record_scores(tiny.teacher, evaluation, {lina: ("15", ""), noah: ("10", "")}, now=T0)
    await grades.publish(tiny.teacher, evaluation, now=T0)
    with pytest.raises(report_cards.ReportCardError):  # a teacher does not publish report cards
        await report_cards.publish_class(tiny.teacher, tiny.class3a.id, "T1", now=T0)
    published = await report_cards.publish_class(tiny.principal, tiny.class3a.id, "T1", now=T0 + dt.timedelta(hours=1))
    assert published.cards == 3
    card = await ReportCard.get(pupil_id=lina, term="T1")
    assert card.results["Maths"]["score"] == "75.0" and card.published_at is not None
    message = await Message.get(id=published.message_id)
    assert message.category == Category.REPORT_CARD and message.subject == "Bulletin T1"
    versions = (await translations.versions_of([message.id]))[message.id]
    assert (versions["nl"].subject, versions["en"].subject) == ("Rapport T1", "Report card T1")
    told = await _notified(published.message_id)
    mother, father = tiny.guardians["mother"].id, tiny.guardians["father"].id
    assert told == {mother: {lina, noah}, father: {lina, noah}}  # one each, naming both children
    assert await Notice.filter(message_id=published.message_id).count() == 2
    with pytest.raises(report_cards.ReportCardError) as again:
        await report_cards.publish_class(tiny.principal, tiny.class3a.id, "T1", now=T0 + dt.timedelta(hours=2))
    assert again.value.field == "term"
    assert await Notice.filter(message__category=Category.REPORT_CARD).count() == 2


def test_the_chart_of_the_year_is_the_mean_of_each_month() -> None:
    from hub.records import grade_chart

    @dataclass(frozen=True)
    class G:
        assessed_on: dt.date
        score: Decimal | None
        max_score: Decimal

    chart = grade_chart.monthly(
        [
            G(dt.date(2026, 10, 5), Decimal(15), Decimal(20)),
            G(dt.date(2026, 9, 20), Decimal(5), Decimal(10)),
            G(dt.date(2026, 10, 30), Decimal(5), Decimal(10)),
            G(dt.date(2026, 10, 30), None, Decimal(10)),
        ]
    )
    assert [(p.month, p.percent, p.grades) for p in chart.points] == [
        (dt.date(2026, 9, 1), Decimal("50.0"), 1),
        (dt.date(2026, 10, 1), Decimal("62.5"), 2),
    ]
    assert chart.points[0].x < chart.points[1].x and chart.points[0].y > chart.points[1].y  # higher is better
    assert grade_chart.monthly([]).points == ()
