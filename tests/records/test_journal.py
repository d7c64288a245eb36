"""The class journal, its weekly digest (one notice per guardian naming all their children, not one per child)
and the private calendar feeds (parsed with the icalendar library), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from icalendar import Calendar

from charter import is_allowed, school_charter
from hub.enums import (
    Category,
    Channel,
    GroupKind,
    JournalKind,
    Language,
    Relation,
    StaffRole,
    Urgency,
)
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
from hub.records import absences, calendar_feed, journal
from hub.records.absences import Mark
from hub.records.models import JournalDigest, JournalEntry
from hub.testing import times

TEACHER = frozenset({StaffRole.TEACHER})
CHANNELS = frozenset({Channel.PORTAL, Channel.LETTER})


def next_friday_10(weekday: int = journal.DIGEST_WEEKDAY) -> dt.datetime:
    """A Friday (or another ``weekday``) 10:00 in term (Brussels) when the charter lets normal messages go."""
    charter = school_charter()
    day = times.school_hours(charter).astimezone(charter.tz).date()  # from the suite's stated moment
    for _ in range(400):
        day += dt.timedelta(days=1)
        moment = dt.datetime.combine(day, dt.time(10), charter.tz)
        if day.weekday() == weekday and is_allowed(charter, moment, Urgency.NORMAL):
            return moment
    raise AssertionError("no such day in term within a year")


@dataclass
class Family:
    school: School
    teacher: Staff
    class_3b: Group
    class_3c: Group
    lina: Pupil
    noa: Pupil
    mother: Guardian
    father: Guardian
    no_records: Guardian
    barred: Guardian


async def family() -> Family:
    school = await School.create(name="Athénée Royal")
    principal = await Staff.create(school=school, first_name="Pia", last_name="P", email="p@school.be")
    await StaffRoleGrant.create(staff=principal, role=StaffRole.PRINCIPAL)
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email="t@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    class_3b = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    class_3c = await Group.create(school=school, kind=GroupKind.CLASS, code="3C", name="3C")
    await Teaching.create(staff=teacher, group=class_3b, subject="Math")
    lina = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="X")
    noa = await Pupil.create(school=school, external_id="P2", first_name="Noa", last_name="X")
    await Membership.create(group=class_3b, pupil=lina)
    await Membership.create(group=class_3c, pupil=noa)
    home = await Household.create(school=school, external_id="H1")
    other_home = await Household.create(school=school, external_id="H2")
    mother = await Guardian.create(school=school, external_id="G1", first_name="Anne", last_name="X")
    father = await Guardian.create(school=school, external_id="G2", first_name="Bob", last_name="X")
    no_records = await Guardian.create(school=school, external_id="G3", first_name="Cléo", last_name="X")
    barred = await Guardian.create(school=school, external_id="G4", first_name="Dan", last_name="X")
    await Guardianship.create(pupil=lina, guardian=mother, relation=Relation.MOTHER, household=home)
    await Guardianship.create(pupil=noa, guardian=mother, relation=Relation.MOTHER, household=home)
    # Lina's father lives apart: he is not Noa's guardian and must read nothing of Noa.
    await Guardianship.create(pupil=lina, guardian=father, relation=Relation.FATHER, household=other_home)
    await Guardianship.create(pupil=noa, guardian=no_records, relation=Relation.OTHER, sees_records=False)
    await Guardianship.create(pupil=lina, guardian=barred, relation=Relation.OTHER, barred=True)
    return Family(school, teacher, class_3b, class_3c, lina, noa, mother, father, no_records, barred)


async def write(f: Family, group: Group, kind: JournalKind, subject: str, due_on: dt.date | None) -> JournalEntry:
    principal = await Staff.get(email="p@school.be")
    return await journal.write_entry(
        principal.id,
        frozenset({StaffRole.PRINCIPAL}),
        f.school.id,
        group.id,
        kind=kind.value,
        subject=subject,
        text=f"{subject}: pages 10 à 12",
        on_date=due_on - dt.timedelta(days=3) if due_on else dt.date(2026, 12, 1),
        due_on=due_on,
    )


async def test_a_teacher_writes_only_the_journal_of_the_groups_they_teach(db: str) -> None:
    f = await family()
    day = dt.date(2026, 12, 8)
    entry = await journal.write_entry(
        f.teacher.id,
        TEACHER,
        f.school.id,
        f.class_3b.id,
        kind="homework",
        subject="Math",
        text="Exercices 4 à 9",
        on_date=day,
        due_on=day + dt.timedelta(days=2),
    )
    assert entry.author_id == f.teacher.id and entry.kind == JournalKind.HOMEWORK
    with pytest.raises(journal.NotAllowed):
        await journal.write_entry(
            f.teacher.id,
            TEACHER,
            f.school.id,
            f.class_3c.id,
            kind="test",
            subject="Math",
            text="x",
            on_date=day,
            due_on=day,
        )
    for kind, due in (("homework", None), ("test", day - dt.timedelta(days=1)), ("done", day), ("essay", day)):
        with pytest.raises(journal.JournalError):
            await journal.write_entry(
                f.teacher.id,
                TEACHER,
                f.school.id,
                f.class_3b.id,
                kind=kind,
                subject="M",
                text="t",
                on_date=day,
                due_on=due,
            )
    assert await JournalEntry.all().count() == 1


async def test_the_weekly_digest_is_one_notice_per_guardian_naming_all_their_children(db: str) -> None:
    f = await family()
    friday = next_friday_10()
    today = friday.astimezone(school_charter().tz).date()
    await write(f, f.class_3b, JournalKind.HOMEWORK, "Math", today + dt.timedelta(days=3))
    await write(f, f.class_3b, JournalKind.TEST, "Latin", today + dt.timedelta(days=4))
    await write(f, f.class_3c, JournalKind.TEST, "Histoire", today + dt.timedelta(days=5))
    await write(f, f.class_3c, JournalKind.HOMEWORK, "Géographie", today + dt.timedelta(days=30))  # too far

    # Not the digest's moment: nothing.
    assert await journal.send_weekly_digests(friday - dt.timedelta(days=3), available_channels=CHANNELS) == 0
    sent = await journal.send_weekly_digests(friday, available_channels=CHANNELS)
    assert sent == 2  # the mother's household, the father's
    notices = await Notice.filter(message__category=Category.JOURNAL).prefetch_related("message")
    by_guardian = {n.guardian_id: n for n in notices}
    assert sorted(by_guardian) == sorted([f.mother.id, f.father.id])  # not the barred one, not the one without right
    mother = by_guardian[f.mother.id]
    named = await NoticePupil.filter(notice_id=mother.id).values_list("pupil_id", flat=True)
    assert sorted(named) == sorted([f.lina.id, f.noa.id])  # one notice for both children
    assert (
        all(s in mother.message.body for s in ("Math", "Latin", "Histoire")) and "Géographie" not in mother.message.body
    )
    versions = (await translations.versions_of([mother.message.id]))[mother.message.id]
    assert versions["nl"].subject.startswith("Komende taken") and "Latin" in versions["nl"].body
    assert versions["en"].subject.startswith("Coming homework") and "Latin" in versions["en"].body
    father = by_guardian[f.father.id]
    assert await NoticePupil.filter(notice_id=father.id).values_list("pupil_id", flat=True) == [f.lina.id]
    assert "Noa" not in father.message.body and "Histoire" not in father.message.body

    # Idempotent within the week: the worker passes again, nothing new.
    assert await journal.send_weekly_digests(friday + dt.timedelta(hours=2), available_channels=CHANNELS) == 0
    assert await Message.filter(category=Category.JOURNAL).count() == 2


async def test_the_digest_goes_on_the_day_the_school_chose(db: str) -> None:
    """A school that chose Monday: nothing on Friday; on the Monday after, the digest covers that week and the
    next (to the Sunday ending the following week)."""
    f = await family()
    await School.filter(id=f.school.id).update(journal_digest_weekday=0)
    monday = next_friday_10(weekday=0)
    friday = monday - dt.timedelta(days=3)
    day = monday.astimezone(school_charter().tz).date()
    await write(f, f.class_3b, JournalKind.TEST, "Latin", day + dt.timedelta(days=13))  # the Sunday after next
    await write(f, f.class_3b, JournalKind.TEST, "Chimie", day + dt.timedelta(days=14))  # too far
    assert await journal.send_weekly_digests(friday, available_channels=CHANNELS) == 0
    assert await journal.send_weekly_digests(monday, available_channels=CHANNELS) == 2
    bodies = [m.body for m in await Message.filter(category=Category.JOURNAL)]
    assert all("Latin" in b and "Chimie" not in b for b in bodies)
    assert await JournalDigest.filter(message_id__isnull=False).count() == 2


async def test_the_calendar_feed_holds_exactly_that_familys_items_and_renews(db: str) -> None:
    f = await family()
    charter = school_charter()
    now = next_friday_10()
    today = now.astimezone(charter.tz).date()
    math = await write(f, f.class_3b, JournalKind.HOMEWORK, "Math", today + dt.timedelta(days=3))
    history = await write(f, f.class_3c, JournalKind.TEST, "Histoire", today + dt.timedelta(days=5))
    await write(f, f.class_3c, JournalKind.DONE, "Cours", None)  # not homework nor test: not in feeds
    # An absence notice for Lina: its justification slip's deadline is in her mother's calendar.
    await StaffRoleGrant.create(staff=f.teacher, role=StaffRole.SECRETARY)
    await absences.take_register(
        f.teacher.id,
        frozenset({StaffRole.SECRETARY}),
        f.school.id,
        f.class_3b.id,
        today,
        1,
        {f.lina.id: Mark.ABSENT},
        now=now,
        available_channels=CHANNELS,
    )

    def events(ics: bytes | None) -> dict[str, str]:
        assert ics is not None
        parsed = Calendar.from_ical(ics)
        return {str(e["uid"]): str(e["summary"]) for e in parsed.walk("VEVENT")}

    mother = await calendar_feed.new_feed(now=now, guardian_id=f.mother.id)
    found = events(await calendar_feed.feed_ics(mother, now=now, tz=charter.tz))
    journal_uids = {u for u in found if u.startswith("journal-")}
    assert journal_uids == {
        f"journal-{math.id}-pupil-{f.lina.id}@carnet",
        f"journal-{history.id}-pupil-{f.noa.id}@carnet",
    }
    assert len([u for u in found if u.startswith("slip-")]) == 1

    # Lina's father (another household): Lina's homework and his own copy of her absence slip, nothing of Noa.
    father = await calendar_feed.new_feed(now=now, guardian_id=f.father.id)
    his = events(await calendar_feed.feed_ics(father, now=now, tz=charter.tz))
    assert {u for u in his if u.startswith("journal-")} == {f"journal-{math.id}-pupil-{f.lina.id}@carnet"}
    assert len([u for u in his if u.startswith("slip-")]) == 1
    assert found[f"journal-{math.id}-pupil-{f.lina.id}@carnet"] == "Devoir Math (Lina)"
    # In the guardian's language: a Dutch father reads Dutch titles, and the slip's Dutch subject.
    await Guardian.filter(id=f.father.id).update(language=Language.NL)
    his = events(await calendar_feed.feed_ics(father, now=now, tz=charter.tz))
    assert his[f"journal-{math.id}-pupil-{f.lina.id}@carnet"] == "Taak Math (Lina)"
    (slip_title,) = [title for uid, title in his.items() if uid.startswith("slip-")]
    assert slip_title.startswith("Antwoordstrook: Afwezigheid van Lina"), slip_title
    # Without the records right, or barred: no item at all.
    for guardian in (f.no_records, f.barred):
        token = await calendar_feed.new_feed(now=now, guardian_id=guardian.id)
        assert events(await calendar_feed.feed_ics(token, now=now, tz=charter.tz)) == {}
    # A pupil's feed: their own classes only.
    lina = await calendar_feed.new_feed(now=now, pupil_id=f.lina.id)
    assert set(events(await calendar_feed.feed_ics(lina, now=now, tz=charter.tz))) == {
        f"journal-{math.id}-pupil-{f.lina.id}@carnet"
    }
    # Revocable: a new address replaces the old one, which stops working.
    renewed = await calendar_feed.new_feed(now=now, guardian_id=f.mother.id)
    assert await calendar_feed.feed_ics(mother, now=now, tz=charter.tz) is None
    assert await calendar_feed.feed_ics(renewed, now=now, tz=charter.tz) is not None
    assert await calendar_feed.feed_ics("x" * 300, now=now, tz=charter.tz) is None
