"""The principal's file of one pupil: who they are, their classes and guardians (with their rights), every grade
(drafts marked) and the averages per course and term, report cards, absences, the homework and tests of their
classes and courses, and the messages that reached their families about them (through the notices that name the
pupil). Read-only; the page asks :data:`READERS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.enums import JournalKind, StaffRole
from hub.messaging.models import Message, Notice, NoticePupil
from hub.people.models import Group, Guardianship, Membership, Pupil
from hub.records import grades as gradebook
from hub.records.models import Absence, Grade, JournalEntry, ReportCard
from hub.store.db import ids_of

#: Who opens a pupil's file.
READERS = frozenset({StaffRole.PRINCIPAL, StaffRole.ADMIN})
#: The latest messages and diary entries shown (a year's worth fits).
LATEST = 200


@dataclass(frozen=True)
class GuardianLine:
    name: str
    relation: str
    household_id: int | None
    receives: bool
    may_answer: bool
    barred: bool
    sees_records: bool


@dataclass(frozen=True)
class PupilFile:
    pupil: Pupil
    groups: list[Group]
    guardians: list[GuardianLine]
    grades: list[Grade]
    averages: list[gradebook.Average]
    report_cards: list[ReportCard]
    absences: list[Absence]
    journal: list[JournalEntry]
    messages: list[Message]


async def pupil_file(school_id: int, pupil_id: int) -> PupilFile | None:
    """The file of this pupil of this school, or None (another school's pupil, or none: 404)."""
    pupil = await Pupil.filter(id=pupil_id, school_id=school_id).first()
    if pupil is None:
        return None
    group_ids = await ids_of(Membership.filter(pupil_id=pupil_id), "group_id")
    links = await Guardianship.filter(pupil_id=pupil_id).prefetch_related("guardian").order_by("guardian__last_name")
    grades = await Grade.filter(pupil_id=pupil_id).order_by("-assessed_on", "subject")
    notice_ids = await ids_of(NoticePupil.filter(pupil_id=pupil_id), "notice_id")
    message_ids = set(await ids_of(Notice.filter(id__in=notice_ids), "message_id"))
    return PupilFile(
        pupil=pupil,
        groups=await Group.filter(id__in=group_ids).order_by("kind", "code"),
        guardians=[
            GuardianLine(
                name=f"{link.guardian.first_name} {link.guardian.last_name}",
                relation=str(link.relation),
                household_id=link.household_id,
                receives=link.receives,
                may_answer=link.may_answer,
                barred=link.barred,
                sees_records=link.sees_records,
            )
            for link in links
        ],
        grades=grades,
        averages=await gradebook.averages([g for g in grades if g.published_at is not None]),
        report_cards=await ReportCard.filter(pupil_id=pupil_id).order_by("-school_year", "-term"),
        absences=await Absence.filter(pupil_id=pupil_id).order_by("-starts_at").limit(LATEST),
        journal=await JournalEntry.filter(group_id__in=group_ids, kind__in=(JournalKind.HOMEWORK, JournalKind.TEST))
        .order_by("-due_on")
        .limit(LATEST),
        messages=await Message.filter(id__in=list(message_ids)).order_by("-created_at").limit(LATEST),
    )


__all__ = ["READERS", "GuardianLine", "PupilFile", "pupil_file"]
