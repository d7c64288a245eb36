"""Reading the audit log: what the principal and the administrators see on the audit page and export as CSV.

The log itself is :mod:`hub.store.audit` (append-only; entries hold ids and counts, no personal data). Here it is
read back with filters (who, what, when), each entry with the name of the member of staff who acted and what it
was about, and written as CSV through :mod:`hub.csvfile` (the one writer of the product's CSV files).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from tortoise.queryset import QuerySet

from hub import csvfile
from hub.enums import ActorKind
from hub.people.models import Pupil, Staff
from hub.store.audit import AuditEntry, audit

#: Entries on one page of the audit page.
PAGE_SIZE = 100
#: The most rows one CSV export holds (a year of a large school's reads fits; a bigger one is filtered first).
EXPORT_LIMIT = 100_000


#: The kinds of entries of staff reads and exports (the other audited actions name themselves where they happen).
PUPIL_READ = "pupil.records_read"
REPORT_VIEWED = "report.viewed"
#: The delivery data of one message (its page, or the API's progress and responses), once per view.
DELIVERY_VIEWED = "message.delivery_viewed"
RESPONSES_EXPORTED = "export.responses_csv"
AUDIT_EXPORTED = "export.audit_csv"
#: The entries a successful read leaves (whatever else the request carried): reading stores nothing else.
READS = (PUPIL_READ, REPORT_VIEWED, DELIVERY_VIEWED, RESPONSES_EXPORTED, AUDIT_EXPORTED)


async def staff_read(
    action: str, staff_id: int, *, at: dt.datetime, subject_type: str = "", subject_id: int | str = "", **details: Any
) -> None:
    """One entry for one read or export by a member of staff (a pupil's records, the delivery report, a CSV)."""
    await audit(
        action,
        at=at,
        actor_kind=ActorKind.STAFF,
        actor_id=staff_id,
        subject_type=subject_type,
        subject_id=subject_id,
        **details,
    )


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None  #: a member of staff
    action: str = ""  #: one kind of entry, e.g. ``pupil.records_read``
    since: dt.datetime | None = None  #: from (included)
    until: dt.datetime | None = None  #: to (excluded)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor_kind: str
    actor_id: int | None
    actor_name: str  #: a member of staff's name, "" for the system and guardians
    action: str
    subject_type: str
    subject_id: str
    subject_name: str  #: a member of staff's or a pupil's name, when the entry is about one
    details: dict[str, Any]

    def details_text(self) -> str:
        return ", ".join(f"{key}={_short(value)}" for key, value in sorted(self.details.items()))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:199] + "…"


def _query(school_id: int, flt: AuditFilter) -> QuerySet[AuditEntry]:
    query = AuditEntry.all()
    if flt.actor_id is not None:
        query = query.filter(actor_kind=ActorKind.STAFF, actor_id=flt.actor_id)
    if flt.action:
        query = query.filter(action=flt.action)
    if flt.since is not None:
        query = query.filter(at__gte=flt.since)
    if flt.until is not None:
        query = query.filter(at__lt=flt.until)
    return query


async def _names(entries: Sequence[AuditEntry]) -> tuple[dict[int, str], dict[tuple[str, str], str]]:
    staff_ids = {e.actor_id for e in entries if e.actor_kind == ActorKind.STAFF and e.actor_id is not None}
    subjects: dict[str, set[int]] = {}
    for e in entries:
        if e.subject_type in ("staff", "pupil") and e.subject_id.isdigit():
            subjects.setdefault(e.subject_type, set()).add(int(e.subject_id))
    wanted = staff_ids | subjects.get("staff", set())
    staff = {s.id: f"{s.first_name} {s.last_name}" for s in await Staff.filter(id__in=list(wanted))}
    named: dict[tuple[str, str], str] = {("staff", str(k)): v for k, v in staff.items()}
    for p in await Pupil.filter(id__in=list(subjects.get("pupil", set()))):
        named[("pupil", str(p.id))] = f"{p.first_name} {p.last_name}"
    return staff, named


async def search(school_id: int, flt: AuditFilter, *, offset: int = 0, limit: int = PAGE_SIZE) -> list[AuditRow]:
    """The entries matching ``flt``, latest first."""
    entries = await _query(school_id, flt).order_by("-at", "-id").offset(offset).limit(limit)
    staff, named = await _names(entries)
    return [
        AuditRow(
            id=e.id,
            at=e.at,
            actor_kind=str(e.actor_kind),
            actor_id=e.actor_id,
            actor_name=staff.get(e.actor_id, "") if e.actor_kind == ActorKind.STAFF and e.actor_id else "",
            action=e.action,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            subject_name=named.get((e.subject_type, e.subject_id), ""),
            details=dict(e.details or {}),
        )
        for e in entries
    ]


async def count(school_id: int, flt: AuditFilter) -> int:
    return await _query(school_id, flt).count()


async def actions() -> list[str]:
    """Every kind of entry the log holds, for the page's "what" filter."""
    found = cast(list[str], await AuditEntry.all().distinct().values_list("action", flat=True))
    return sorted(set(found))


async def staff_choices(school_id: int) -> list[tuple[int, str]]:
    """The school's staff, for the page's "who" filter."""
    return [
        (s.id, f"{s.last_name} {s.first_name}")
        for s in await Staff.filter(school_id=school_id).order_by("last_name", "first_name", "id")
    ]


async def export_csv(school_id: int, flt: AuditFilter, *, tz: str) -> bytes:
    """The entries matching ``flt`` as a CSV file (``hub.csvfile``: no formulas, Belgian Excel reads it)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    rows = await search(school_id, flt, limit=EXPORT_LIMIT)
    return csvfile.encode(
        [
            [
                "id",
                "at",
                "actor_kind",
                "actor_id",
                "actor",
                "action",
                "subject_type",
                "subject_id",
                "subject",
                "details",
            ],
            *(
                [
                    r.id,
                    r.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                    r.actor_kind,
                    r.actor_id,
                    r.actor_name,
                    r.action,
                    r.subject_type,
                    r.subject_id,
                    r.subject_name,
                    r.details_text(),
                ]
                for r in rows
            ),
        ]
    )


__all__ = ["AuditFilter", "AuditRow", "actions", "count", "export_csv", "search", "staff_choices"]
