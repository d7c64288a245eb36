"""The JSON API of the absences register (``/api/v1/groups/{group_id}/register``) and of the class
journal (``/api/v1/groups/{group_id}/journal``), mounted from :data:`hub.web.api.OPERATIONS`: what the pages do
(:mod:`hub.web.records_absences`, :mod:`hub.web.records_journal`), through the same functions
(:mod:`hub.records.absences`, :mod:`hub.records.journal`).

Scoped as the pages are: a teacher only for the classes and courses they teach, the office for the school; a group
outside them answers 404, exactly like one that does not exist, and stores nothing. What the rules refuse (a day
still to come or too old, a pupil not of the group, an empty text) answers 422 naming the field, and stores nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import Field

from channels.registry import available_channels
from hub.enums import JournalKind
from hub.messaging import routing
from hub.records import absences, journal
from hub.records.models import JournalEntry
from hub.web.api_schema import API_PREFIX, IdIn, Input, Operation, Output, Who
from hub.web.kit import now

if TYPE_CHECKING:
    from hub.web.api import Call


def _refused(status: int, error: str, fields: dict[str, str] | None = None) -> Exception:
    from hub.web.api import Refused  # the dispatcher's answer; imported here, as api.py mounts this module

    return Refused(status, error, fields)


# ---------------------------------------------------------------------------------------------- the register


class RegisterQuery(Input):
    date: dt.date | None = Field(default=None, description="the school day (default: today)")
    period: int = Field(default=1, ge=min(absences.PERIODS), le=max(absences.PERIODS))


class MarkIn(Input):
    pupil_id: IdIn
    mark: absences.Mark


class RegisterIn(Input):
    date: dt.date
    period: int = Field(ge=min(absences.PERIODS), le=max(absences.PERIODS))
    marks: list[MarkIn] = Field(max_length=200, description="a pupil left out is present")


class RegisterRowOut(Output):
    pupil_id: int
    name: str
    mark: absences.Mark
    justified: bool


class RegisterOut(Output):
    group_id: int
    group: str
    date: dt.date
    period: int
    taken_at: dt.datetime | None
    counts: dict[str, int]
    pupils: list[RegisterRowOut]


class TakenOut(Output):
    register_id: int
    absent: int
    late: int
    notices: list[int] = Field(description="the messages published to the families of the pupils newly absent")
    due: int
    held: int
    held_until: dt.datetime | None = Field(description="when the charter's quiet hours let the held ones go")
    sheet: RegisterOut = Field(description="the register as it now stands")


def _today(call: Call) -> dt.date:
    return routing.local_day(call.web.charter, now())


async def _sheet(call: Call, group_id: int, on_date: dt.date, period: int) -> RegisterOut:
    me = call.me
    try:
        sheet = await absences.sheet(me.id, me.roles, me.school_id, group_id, on_date, period, today=_today(call))
    except absences.NotAllowed:
        raise _refused(404, "not found") from None
    except absences.RegisterError as exc:
        raise _refused(422, str(exc), {exc.field: str(exc)}) from None
    return RegisterOut(
        group_id=sheet.group_id,
        group=sheet.group_name,
        date=sheet.on_date,
        period=sheet.period,
        taken_at=sheet.taken_at,
        counts=sheet.counts,
        pupils=[
            RegisterRowOut(pupil_id=r.pupil_id, name=r.name, mark=r.mark, justified=r.justified) for r in sheet.rows
        ],
    )


async def read_register(call: Call) -> RegisterOut:
    query: RegisterQuery = call.query
    return await _sheet(call, call.ids["group_id"], query.date or _today(call), query.period)


async def take_register(call: Call) -> TakenOut:
    body: RegisterIn = call.body
    me = call.me
    marks = {item.pupil_id: item.mark for item in body.marks}
    if len(marks) != len(body.marks):
        raise _refused(422, "nothing was stored", {"marks": "a pupil is marked twice"})
    try:
        result = await absences.take_register(
            me.id,
            me.roles,
            me.school_id,
            call.ids["group_id"],
            body.date,
            body.period,
            marks,
            now=now(),
            charter=call.web.charter,
            available_channels=available_channels(call.web.settings),
        )
    except absences.NotAllowed:
        raise _refused(404, "not found") from None
    except absences.RegisterError as exc:
        raise _refused(422, "nothing was stored", {exc.field: str(exc)}) from None
    return TakenOut(
        register_id=result.register_id,
        absent=result.absent,
        late=result.late,
        notices=list(result.messages),
        due=result.due,
        held=result.held,
        held_until=result.held_until,
        sheet=await _sheet(call, call.ids["group_id"], body.date, body.period),
    )


# ----------------------------------------------------------------------------------------------- the journal


class JournalEntryIn(Input):
    kind: JournalKind
    subject: str = Field(min_length=1, max_length=journal.MAX_SUBJECT)
    text: str = Field(min_length=1, max_length=journal.MAX_TEXT)
    on_date: dt.date
    due_on: dt.date | None = Field(default=None, description="for homework and tests: when it is due")


class JournalEntryOut(Output):
    id: int
    group_id: int
    kind: JournalKind
    subject: str
    text: str
    on_date: dt.date
    due_on: dt.date | None


class JournalList(Output):
    items: list[JournalEntryOut]


def _entry(entry: JournalEntry) -> JournalEntryOut:
    return JournalEntryOut(
        id=entry.id,
        group_id=entry.group_id,
        kind=JournalKind(entry.kind),
        subject=entry.subject,
        text=entry.text,
        on_date=entry.on_date,
        due_on=entry.due_on,
    )


async def list_journal(call: Call) -> JournalList:
    me = call.me
    try:
        _group, entries = await journal.group_entries(me.id, me.roles, me.school_id, call.ids["group_id"])
    except journal.NotAllowed:
        raise _refused(404, "not found") from None
    return JournalList(items=[_entry(e) for e in entries])


async def write_journal(call: Call) -> JournalEntryOut:
    body: JournalEntryIn = call.body
    me = call.me
    try:
        entry = await journal.write_entry(
            me.id,
            me.roles,
            me.school_id,
            call.ids["group_id"],
            kind=str(body.kind),
            subject=body.subject,
            text=body.text,
            on_date=body.on_date,
            due_on=body.due_on,
        )
    except journal.NotAllowed:
        raise _refused(404, "not found") from None
    except journal.JournalError as exc:
        raise _refused(422, "nothing was stored", {exc.field: str(exc)}) from None
    return _entry(entry)


_V = API_PREFIX

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        f"{_V}/groups/{{group_id}}/register",
        "The register of a class or course for a day and period",
        Who.STAFF,
        read_register,
        RegisterOut,
        errors=(404,),
        query=RegisterQuery,
        description="Every pupil of the group, marked as last taken (present by default). A teacher only for the "
        "groups they teach (404 otherwise); a day still to come or too old answers 422.",
    ),
    Operation(
        "POST",
        f"{_V}/groups/{{group_id}}/register",
        "Take the register",
        Who.STAFF,
        take_register,
        TakenOut,
        errors=(404,),
        body=RegisterIn,
        description="The new marks replace the old, a pupil left out is present; the families of the pupils newly "
        "absent get one notice per half-day, through the charter. A teacher only for the groups they teach (404, "
        "nothing stored); a pupil not of the group, a day still to come or too old answers 422, nothing stored.",
    ),
    Operation(
        "GET",
        f"{_V}/groups/{{group_id}}/journal",
        "The class journal of a class or course, latest first",
        Who.STAFF,
        list_journal,
        JournalList,
        errors=(404,),
        description="A teacher only for the groups they teach (404 otherwise).",
    ),
    Operation(
        "POST",
        f"{_V}/groups/{{group_id}}/journal",
        "Write an entry of the class journal",
        Who.STAFF,
        write_journal,
        JournalEntryOut,
        errors=(404,),
        body=JournalEntryIn,
        status=201,
        description="What was done in class, homework or a test with its due date. A teacher only for the groups "
        "they teach (404, nothing stored); what the rules refuse answers 422 naming the field, nothing stored.",
    ),
)

__all__ = ["OPERATIONS"]
