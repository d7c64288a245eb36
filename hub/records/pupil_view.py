"""A pupil's own view of their records, signed in to their own account: their grades and report cards from their
publication (no delay: the pupil hears first, :func:`hub.records.visibility.pupil_grades`), their averages per
course and term, their absences and the homework and tests of their classes and courses. Only theirs: the view is
built from the signed-in pupil's id, never from an id in an address, so a sibling's records cannot be reached.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub.enums import GroupKind, JournalKind
from hub.people.models import Group, Membership, Pupil
from hub.records import grades as gradebook
from hub.records import visibility
from hub.records.models import Absence, Grade, JournalEntry, ReportCard
from hub.store.db import ids_of


@dataclass(frozen=True)
class PupilRecord:
    name: str
    classes: tuple[str, ...]
    grades: list[Grade]
    averages: list[gradebook.Average]
    report_cards: list[ReportCard]
    absences: list[Absence]
    coming_up: list[JournalEntry]


async def own_record(pupil_id: int, now: dt.datetime, today: dt.date) -> PupilRecord:
    pupil = await Pupil.get(id=pupil_id)
    group_ids = await ids_of(Membership.filter(pupil_id=pupil_id), "group_id")
    classes = await Group.filter(id__in=group_ids, kind=GroupKind.CLASS).order_by("code").values_list("name", flat=True)
    grades = await visibility.pupil_grades(pupil_id, now).order_by("-assessed_on", "subject")
    return PupilRecord(
        name=f"{pupil.first_name} {pupil.last_name}",
        classes=tuple(str(c) for c in classes),
        grades=grades,
        averages=await gradebook.averages(grades),
        report_cards=await visibility.pupil_report_cards(pupil_id, now).order_by("-school_year", "-term"),
        absences=await Absence.filter(pupil_id=pupil_id).order_by("-starts_at").limit(100),
        coming_up=await JournalEntry.filter(
            group_id__in=group_ids, kind__in=(JournalKind.HOMEWORK, JournalKind.TEST), due_on__gte=today
        )
        .order_by("due_on", "subject")
        .limit(100),
    )


__all__ = ["PupilRecord", "own_record"]
