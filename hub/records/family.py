"""A guardian's view of their children's records: grades, report cards, absences and the class journal of the
children they may see (``hub.messaging.portal.visible_pupils``: never a pupil they are barred from).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from hub.enums import (
    JournalKind,
    Relation,
)
from hub.messaging import access
from hub.messaging.portal import PupilRef, visible_pupils
from hub.people.labels import group_label
from hub.people.models import Guardianship, Membership, Pupil
from hub.records import visibility
from hub.records.models import Absence, Grade, JournalEntry, ReportCard
from hub.store.db import ids_of

#: Messages per page of the inbox: a term's worth of news fits on a few pages, short enough for a phone.
PER_PAGE = 20
#: The longest free-text answer (a paragraph, as on the paper slip).
MAX_FREE_TEXT = 2000
#: The largest count for an amount with a unit price (tickets, meals), and the largest free amount in euro.
MAX_COUNT = 1000
MAX_AMOUNT = Decimal(100_000)
#: The longest typed signature (a full name).
MAX_SIGNATURE = 200
#: Past homework and tests shown on a child's page (the coming ones are all shown).
PAST_JOURNAL = 20


@dataclass(frozen=True)
class ChildSummary:
    pupil: PupilRef
    classes: tuple[str, ...]
    relation: str
    grades: int
    unjustified_absences: int
    coming_up: int
    #: False when this guardian receives messages about the child but may not see their records.
    sees_records: bool = True


@dataclass(frozen=True)
class ChildRecord:
    pupil: PupilRef
    classes: tuple[str, ...]
    relation: str
    may_answer: bool
    sees_records: bool
    grades: list[Grade]
    report_cards: list[ReportCard]
    absences: list[Absence]
    coming_up: list[JournalEntry]
    past: list[JournalEntry]
    #: False while the guardians refuse, or disagree on, showing the records online (the restrictive answer
    #: applies): the grades and report cards are then left out here and go on paper.
    records_online: bool = True

    @property
    def unjustified(self) -> int:
        return sum(1 for a in self.absences if not a.justified)


async def _groups_of(pupil_ids: Iterable[int]) -> dict[int, list[tuple[int, str, str]]]:
    """Per pupil, ``(group id, kind, label)`` of the classes and courses they belong to, classes first."""
    found: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    rows = (
        await Membership.filter(pupil_id__in=list(pupil_ids))
        .order_by("group__kind", "group__code")
        .values_list("pupil_id", "group_id", "group__kind", "group__code", "group__name")
    )
    for pupil_id, group_id, kind, code, name in rows:
        found[pupil_id].append((group_id, str(kind), group_label(str(kind), code, name)))
    return found


async def children(guardian_id: int, now: dt.datetime, today: dt.date) -> list[ChildSummary]:
    """The guardian's children (bars excluded) with a line about each one's records (only those whose records
    this guardian may see, as :mod:`hub.records.visibility` rules)."""
    pupils = await visible_pupils(guardian_id)
    ids = [p.id for p in pupils]
    with_records = await visibility.record_pupil_ids(guardian_id)
    record_ids = [pid for pid in ids if pid in with_records]
    groups = await _groups_of(ids)
    relations = dict(
        await Guardianship.filter(guardian_id=guardian_id, pupil_id__in=ids).values_list("pupil_id", "relation")
    )
    grades: dict[int, int] = defaultdict(int)
    for pid in await ids_of(await visibility.family_grades(record_ids, now), "pupil_id"):
        grades[pid] += 1
    unjustified: dict[int, int] = defaultdict(int)
    for pid in await ids_of(Absence.filter(pupil_id__in=record_ids, justified=False), "pupil_id"):
        unjustified[pid] += 1
    coming: dict[int, int] = defaultdict(int)  # group -> homework and tests still to come
    all_groups = {g for rows in groups.values() for g, _k, _n in rows}
    for group_id in await ids_of(
        JournalEntry.filter(
            group_id__in=list(all_groups), kind__in=(JournalKind.HOMEWORK, JournalKind.TEST), due_on__gte=today
        ),
        "group_id",
    ):
        coming[group_id] += 1
    return [
        ChildSummary(
            pupil=pupil,
            classes=tuple(name for _g, kind, name in groups[pupil.id] if kind == "class"),
            relation=str(relations.get(pupil.id, Relation.OTHER)),
            grades=grades[pupil.id],
            unjustified_absences=unjustified[pupil.id],
            coming_up=sum(coming[g] for g, _k, _n in groups[pupil.id]) if pupil.id in with_records else 0,
            sees_records=pupil.id in with_records,
        )
        for pupil in pupils
    ]


async def child_record(guardian_id: int, pupil_id: int, now: dt.datetime, today: dt.date) -> ChildRecord | None:
    """One child's grades and report cards as families see them at ``now``, absences and class diary; None for a
    pupil this guardian may not see (another family's, or barred by a court order). A guardian without the records
    right sees the child's page without any record."""
    if pupil_id not in await access.guardian_pupil_ids(guardian_id):
        return None
    pupil = await Pupil.get(id=pupil_id)
    link = await Guardianship.get(guardian_id=guardian_id, pupil_id=pupil_id)
    groups = (await _groups_of([pupil_id]))[pupil_id]
    sees = await visibility.may_see_records(guardian_id, pupil_id)
    shown = [pupil_id] if sees else []
    group_ids = [g for g, _k, _n in groups] if sees else []
    diary = JournalEntry.filter(group_id__in=group_ids, kind__in=(JournalKind.HOMEWORK, JournalKind.TEST))
    online = await visibility.records_online(pupil_id)
    return ChildRecord(
        pupil=PupilRef(pupil.id, f"{pupil.first_name} {pupil.last_name}"),
        classes=tuple(name for _g, kind, name in groups if kind == "class"),
        relation=str(link.relation),
        may_answer=link.may_answer,
        sees_records=sees,
        grades=await (await visibility.family_grades(shown, now)).order_by("-assessed_on", "subject"),
        report_cards=await (await visibility.family_report_cards(shown, now)).order_by("-school_year", "-term"),
        absences=await Absence.filter(pupil_id__in=shown).order_by("-starts_at"),
        coming_up=await diary.filter(due_on__gte=today).order_by("due_on", "subject").prefetch_related("group"),
        past=await diary.filter(due_on__lt=today)
        .order_by("-due_on", "subject")
        .limit(PAST_JOURNAL)
        .prefetch_related("group"),
        records_online=online,
    )


__all__ = ["ChildRecord", "ChildSummary", "child_record", "children"]
