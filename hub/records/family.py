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
    ConsentPurpose,
    JournalKind,
    Relation,
)
from hub.messaging import access
from hub.messaging.portal import PupilRef, visible_pupils
from hub.people.models import Guardianship, Membership, Pupil
from hub.people.pupil_consent import PupilConsentState, pupil_consents
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


@dataclass(frozen=True)
class ChildRecord:
    pupil: PupilRef
    classes: tuple[str, ...]
    relation: str
    may_answer: bool
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
    """Per pupil, ``(group id, kind, name)`` of the classes and courses they belong to, classes first."""
    found: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    rows = (
        await Membership.filter(pupil_id__in=list(pupil_ids))
        .order_by("group__kind", "group__name")
        .values_list("pupil_id", "group_id", "group__kind", "group__name")
    )
    for pupil_id, group_id, kind, name in rows:
        found[pupil_id].append((group_id, str(kind), name))
    return found


async def children(guardian_id: int, today: dt.date) -> list[ChildSummary]:
    """The guardian's children (bars excluded) with a line about each one's records."""
    pupils = await visible_pupils(guardian_id)
    ids = [p.id for p in pupils]
    groups = await _groups_of(ids)
    relations = dict(
        await Guardianship.filter(guardian_id=guardian_id, pupil_id__in=ids).values_list("pupil_id", "relation")
    )
    grades: dict[int, int] = defaultdict(int)
    for pid in await ids_of(Grade.filter(pupil_id__in=ids, published_at__isnull=False), "pupil_id"):
        grades[pid] += 1
    unjustified: dict[int, int] = defaultdict(int)
    for pid in await ids_of(Absence.filter(pupil_id__in=ids, justified=False), "pupil_id"):
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
            coming_up=sum(coming[g] for g, _k, _n in groups[pupil.id]),
        )
        for pupil in pupils
    ]


async def child_record(guardian_id: int, pupil_id: int, today: dt.date) -> ChildRecord | None:
    """One child's published grades and report cards, absences and class diary; None for a pupil this guardian
    may not see (another family's, or barred by a court order)."""
    if pupil_id not in await access.guardian_pupil_ids(guardian_id):
        return None
    pupil = await Pupil.get(id=pupil_id)
    link = await Guardianship.get(guardian_id=guardian_id, pupil_id=pupil_id)
    groups = (await _groups_of([pupil_id]))[pupil_id]
    group_ids = [g for g, _k, _n in groups]
    diary = JournalEntry.filter(group_id__in=group_ids, kind__in=(JournalKind.HOMEWORK, JournalKind.TEST))
    online = (await pupil_consents(pupil_id))[ConsentPurpose.RECORDS_ONLINE].state not in (
        PupilConsentState.REFUSED,
        PupilConsentState.CONFLICT,
    )
    grades = Grade.filter(pupil_id=pupil_id, published_at__isnull=False)
    cards = ReportCard.filter(pupil_id=pupil_id, published_at__isnull=False)
    return ChildRecord(
        pupil=PupilRef(pupil.id, f"{pupil.first_name} {pupil.last_name}"),
        classes=tuple(name for _g, kind, name in groups if kind == "class"),
        relation=str(link.relation),
        may_answer=link.may_answer,
        grades=await grades.order_by("-assessed_on", "subject") if online else [],
        report_cards=await cards.order_by("-school_year", "-term") if online else [],
        absences=await Absence.filter(pupil_id=pupil_id).order_by("-starts_at"),
        coming_up=await diary.filter(due_on__gte=today).order_by("due_on", "subject").prefetch_related("group"),
        past=await diary.filter(due_on__lt=today)
        .order_by("-due_on", "subject")
        .limit(PAST_JOURNAL)
        .prefetch_related("group"),
        records_online=online,
    )


__all__ = ["ChildRecord", "ChildSummary", "child_record", "children"]
