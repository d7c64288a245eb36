"""What of a pupil's records a family sees, and from when: the one rule the portal, the JSON API, the guardian's
data export and the notices about records all ask.

* A guardian sees the records (grades, report cards, absences, the class journal) of a pupil only through a
  guardianship that is not barred by a court order and that carries the right to see records
  (``Guardianship.sees_records``; a school records that some guardians receive messages but may not see results).
* Grades and report cards show online only while the pupil's consent to "records online" is not refused or in
  conflict between the guardians (:mod:`hub.people.pupil_consent`: the restrictive answer applies until they agree);
  the school then hands them over on paper.
* A pupil sees their own grades and report cards from their publication, with no delay.
* A grade or a report card shows to families only once its publication time has passed *and* the school's delay
  for families after it (``School.family_records_delay_hours``: the pupil-first window, so a pupil hears of a grade
  before home does). A grade with no publication time is a teacher's draft and shows to nobody outside the staff.

Everything is computed from ``now``, passed in: the rule never reads the clock itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import cast

from tortoise.queryset import QuerySet

from hub.enums import ConsentPurpose
from hub.people.models import Guardianship, Pupil, School
from hub.people.pupil_consent import PupilConsentState, pupil_consents
from hub.records.models import Grade, ReportCard
from hub.store.db import ids_of


async def record_pupil_ids(guardian_id: int) -> set[int]:
    """The pupils whose records this guardian may see: held guardianships with the records right, bars excluded."""
    rows = await ids_of(
        Guardianship.filter(guardian_id=guardian_id, barred=False, sees_records=True, pupil__active=True),
        "pupil_id",
    )
    return set(rows)


async def may_see_records(guardian_id: int, pupil_id: int) -> bool:
    return pupil_id in await record_pupil_ids(guardian_id)


def family_cutoff(now: dt.datetime, delay_hours: int) -> dt.datetime:
    """The latest publication time a family sees at ``now``: publication plus the school's delay must have passed."""
    return now - dt.timedelta(hours=max(0, delay_hours))


async def school_delay_hours(pupil_ids: Iterable[int]) -> int:
    """The families' delay of the school these pupils belong to (0 when there are none)."""
    ids = list(pupil_ids)
    if not ids:
        return 0
    schools = await Pupil.filter(id__in=ids).limit(1).values_list("school_id", flat=True)
    if not schools:
        return 0
    delays = await School.filter(id=schools[0]).values_list("family_records_delay_hours", flat=True)
    return int(cast(int, delays[0])) if delays else 0


async def records_online(pupil_id: int) -> bool:
    """Whether the pupil's grades and report cards may show online: the guardians' consent is not refused nor in
    conflict (no answer, or one yes, allows it)."""
    state = (await pupil_consents(pupil_id))[ConsentPurpose.RECORDS_ONLINE].state
    return state not in (PupilConsentState.REFUSED, PupilConsentState.CONFLICT)


async def _online(pupil_ids: Iterable[int]) -> list[int]:
    return [pid for pid in pupil_ids if await records_online(pid)]


async def family_grades(pupil_ids: Iterable[int], now: dt.datetime) -> QuerySet[Grade]:
    """The grades of these pupils a family sees at ``now`` (pass only pupils from :func:`record_pupil_ids`)."""
    ids = await _online(pupil_ids)
    cutoff = family_cutoff(now, await school_delay_hours(ids))
    return Grade.filter(pupil_id__in=ids, published_at__isnull=False, published_at__lte=cutoff)


async def family_report_cards(pupil_ids: Iterable[int], now: dt.datetime) -> QuerySet[ReportCard]:
    """The report cards of these pupils a family sees at ``now``."""
    ids = await _online(pupil_ids)
    cutoff = family_cutoff(now, await school_delay_hours(ids))
    return ReportCard.filter(pupil_id__in=ids, published_at__isnull=False, published_at__lte=cutoff)


def pupil_grades(pupil_id: int, now: dt.datetime) -> QuerySet[Grade]:
    """The pupil's own grades at ``now``: each from its publication, with no delay (the pupil hears first)."""
    return Grade.filter(pupil_id=pupil_id, published_at__isnull=False, published_at__lte=now)


def pupil_report_cards(pupil_id: int, now: dt.datetime) -> QuerySet[ReportCard]:
    """The pupil's own report cards at ``now``, from their publication."""
    return ReportCard.filter(pupil_id=pupil_id, published_at__isnull=False, published_at__lte=now)


__all__ = [
    "family_cutoff",
    "family_grades",
    "family_report_cards",
    "may_see_records",
    "pupil_grades",
    "pupil_report_cards",
    "record_pupil_ids",
    "records_online",
    "school_delay_hours",
]
