"""Retention (GDPR art. 5.1.e): what the school sent is kept as long as its periods say, then removed; the
records follow their own periods, fixed here.

:func:`plan` says what is past its period at ``now`` (counts and the cut-off dates: what ``carnet retention
--dry-run`` prints); :func:`apply` removes exactly that, in one transaction, and writes the counts to the audit
log. The worker runs :func:`apply` once a day; the periods are set on the settings page
(``hub.people.settings_admin``, with its defaults while the school set none).

What each period measures:
* deliveries: a delivery row (the queue's history) older than the period, counted from its creation;
* notices: a notice (with its deliveries, acknowledgement, answers and thread) of a message published longer ago;
* threads: a reply post written longer ago;
* attachments: a file of a message created longer ago.
A notice still holding a reply slip whose deadline is not past is never removed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from hub.messaging.models import Attachment, Delivery, Notice, ReplySlip, ThreadPost
from hub.people.settings_admin import DEFAULT_RETENTION_DAYS as DEFAULT_DAYS
from hub.people.settings_admin import Periods, retention_periods, update_retention
from hub.records.models import Absence, Grade, JournalEntry, ReportCard
from hub.store.audit import audit

__all__ = ["DEFAULT_DAYS", "RECORD_DAYS", "Periods", "RetentionPlan", "apply", "periods_of", "plan", "set_periods"]

#: The records' own periods, in days: the class journal and grades two school years, absences five years (the
#: school's attendance record for the inspection), report cards ten years (a pupil's certificates may be asked
#: for later). The school's data-protection officer checks them against its own legal frame.
RECORD_DAYS = {"journal": 730, "grades": 730, "absences": 1826, "report_cards": 3652}


@dataclass(frozen=True)
class RetentionPlan:
    now: dt.datetime
    periods: Periods
    #: What would go, per kind: deliveries, notices, threads, attachments, journal, grades, absences, report_cards.
    counts: dict[str, int]

    def lines(self) -> list[str]:
        return [f"{kind}: {count}" for kind, count in self.counts.items()]


async def periods_of(school_id: int) -> Periods:
    return await retention_periods(school_id)


async def set_periods(school_id: int, periods: Periods, *, by: int, at: dt.datetime) -> None:
    """Save the school's periods (``hub.people.settings_admin.update_retention``): ``SettingsError`` when one is
    out of bounds, nothing saved."""
    await update_retention(school_id, periods, by=by, at=at)


async def _queries(school_id: int, periods: Periods, now: dt.datetime) -> dict[str, QuerySet[Any]]:
    """The rows past their period, per kind, in the order they are removed."""
    open_slips = list(await ReplySlip.filter(deadline__gte=now).values_list("message_id", flat=True))

    def before(days: int) -> dt.datetime:
        return now - dt.timedelta(days=days)

    today = now.date()
    return {
        "deliveries": Delivery.filter(notice__message__school_id=school_id, created_at__lt=before(periods.deliveries)),
        "notices": Notice.filter(
            message__school_id=school_id, message__published_at__lt=before(periods.notices)
        ).exclude(message_id__in=open_slips),
        "threads": ThreadPost.filter(notice__message__school_id=school_id, at__lt=before(periods.threads)),
        "attachments": Attachment.filter(message__school_id=school_id, created_at__lt=before(periods.attachments)),
        "journal": JournalEntry.filter(
            group__school_id=school_id, on_date__lt=today - dt.timedelta(days=RECORD_DAYS["journal"])
        ),
        "grades": Grade.filter(
            pupil__school_id=school_id, assessed_on__lt=today - dt.timedelta(days=RECORD_DAYS["grades"])
        ),
        "absences": Absence.filter(pupil__school_id=school_id, ends_at__lt=before(RECORD_DAYS["absences"])),
        "report_cards": ReportCard.filter(
            pupil__school_id=school_id, published_at__lt=before(RECORD_DAYS["report_cards"])
        ),
    }


async def plan(school_id: int, now: dt.datetime) -> RetentionPlan:
    periods = await periods_of(school_id)
    counts: dict[str, int] = {}
    for kind, query in (await _queries(school_id, periods, now)).items():
        counts[kind] = await query.count()
    return RetentionPlan(now, periods, counts)


async def apply(school_id: int, now: dt.datetime) -> RetentionPlan:
    """Remove what is past its period (children first: a notice takes its deliveries with it), audited."""
    done = await plan(school_id, now)
    periods = done.periods
    async with in_transaction():
        for _kind, query in (await _queries(school_id, periods, now)).items():
            ids = list(await query.values_list("id", flat=True))
            if ids:
                model = query.model
                for start in range(0, len(ids), 500):
                    await model.filter(id__in=ids[start : start + 500]).delete()
        if any(done.counts.values()):
            await audit("retention.applied", at=now, subject_type="school", subject_id=school_id, counts=done.counts)
    return done


async def run_all(now: dt.datetime, *, dry_run: bool) -> list[str]:
    """Every school's plan (``dry_run``) or its removal: the lines ``carnet retention`` prints."""
    from hub.people.models import School

    lines: list[str] = []
    for school_id, name in await School.all().order_by("id").values_list("id", "name"):
        done = await (plan if dry_run else apply)(school_id, now)
        verb = "would remove" if dry_run else "removed"
        lines.append(f"{name} ({now:%Y-%m-%d %H:%M} UTC), {verb}: " + ", ".join(done.lines()))
    return lines


async def apply_all(now: dt.datetime) -> list[str]:
    """The worker's daily job: every school's retention applied at ``now``."""
    return await run_all(now, dry_run=False)
