"""The absence register: taken per class or course, day and lesson period, on one sheet for the whole group; the
notice an absent pupil's guardians get the same day (a message of category ABSENCE with a justification slip,
published through :func:`hub.messaging.planning.publish`, so the charter and the guardians' quiet hours hold it);
justifications, from the slip on any channel or from a paper note the secretary types in; unjustified half-days
counted per pupil, and the pupils past the school's threshold.

Who may take a register is :mod:`hub.messaging.access`'s rule: a teacher the classes and courses they teach, the
secretary, the principal and administrators the whole school. Who hears of an absence is
:data:`hub.messaging.planning.RECORD_CATEGORIES`' rule: guardians with the records right, not barred.

Time is an input: every function takes ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from charter import Charter, rules, school_charter
from hub import csvfile
from hub.dates import long_date
from hub.enums import (
    AbsenceReason,
    AnswerMode,
    AudienceKind,
    Category,
    Channel,
    DeliveryState,
    GroupKind,
    Language,
    QuestionKind,
    StaffRole,
    Urgency,
)
from hub.messaging import access, planning, routing, translations
from hub.messaging.models import (
    Delivery,
    Message,
    MessageAudience,
    ReplySlip,
    SlipQuestion,
    SlipResponse,
)
from hub.people.models import Group, Membership, Pupil, School
from hub.records.models import Absence, Register

#: The school day's lesson periods (start, end), as a Belgian secondary school's timetable runs; a period that
#: starts before noon belongs to the morning half-day.
PERIODS: Mapping[int, tuple[dt.time, dt.time]] = {
    1: (dt.time(8, 20), dt.time(9, 10)),
    2: (dt.time(9, 10), dt.time(10, 0)),
    3: (dt.time(10, 15), dt.time(11, 5)),
    4: (dt.time(11, 5), dt.time(11, 55)),
    5: (dt.time(12, 45), dt.time(13, 35)),
    6: (dt.time(13, 35), dt.time(14, 25)),
    7: (dt.time(14, 35), dt.time(15, 25)),
    8: (dt.time(15, 25), dt.time(16, 15)),
}
NOON = dt.time(12, 0)
#: How far back a register may still be taken or corrected (a teacher catching up after a school trip).
MAX_DAYS_BACK = 31
#: Days the family has to answer the justification slip (the school's rule asks for a note within days).
JUSTIFY_DAYS = 7
#: Reminder of an unanswered justification, hours before the slip closes.
REMINDER_HOURS = (48,)
#: The reasons a family may give, in the order of the slip's choices (the SMS keyword is the choice's number).
SLIP_REASONS: tuple[AbsenceReason, ...] = (
    AbsenceReason.ILLNESS,
    AbsenceReason.MEDICAL_CERTIFICATE,
    AbsenceReason.FAMILY,
    AbsenceReason.OTHER,
)
#: The default threshold of unjustified half-days (French-speaking Belgium: the school reports from the 9th).
DEFAULT_THRESHOLD = 9
#: How a justification typed in by the school is recorded.
VIA_OFFICE = "office"
_LONGEST_NOTE = 2000


class Mark(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    LATE = "late"


class RegisterError(ValueError):
    """A register the rules refuse; ``field`` names what is wrong (for a 400 and the form)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotAllowed(RegisterError):
    """The group is not one this member of staff may take the register of (another teacher's class): a 404."""

    def __init__(self) -> None:
        super().__init__("group", "no such class or course")


# -------------------------------------------------------------------------------------------- the words sent

_REASON_WORDS: Mapping[str, Mapping[AbsenceReason, str]] = {
    "fr": {
        AbsenceReason.ILLNESS: "Maladie",
        AbsenceReason.MEDICAL_CERTIFICATE: "Certificat médical",
        AbsenceReason.FAMILY: "Raison familiale",
        AbsenceReason.OTHER: "Autre",
    },
    "nl": {
        AbsenceReason.ILLNESS: "Ziekte",
        AbsenceReason.MEDICAL_CERTIFICATE: "Doktersattest",
        AbsenceReason.FAMILY: "Familiale reden",
        AbsenceReason.OTHER: "Andere",
    },
    "en": {
        AbsenceReason.ILLNESS: "Illness",
        AbsenceReason.MEDICAL_CERTIFICATE: "Medical certificate",
        AbsenceReason.FAMILY: "Family reason",
        AbsenceReason.OTHER: "Other",
    },
}
_TEXTS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "subject": "Absence de {name} le {day} ({half})",
        "am": "matin",
        "pm": "après-midi",
        "body": "{name} était absent·e au cours de {group} le {day} ({half}, période {period}).\n\n"
        "Merci de justifier cette absence avec le talon ci-dessous, par le lien, sur Telegram, sur papier ou "
        "par SMS : répondez {keys}, suivi d'un mot si vous le souhaitez.",
        "reason": "Motif de l'absence",
        "note": "Un mot pour l'école (facultatif)",
    },
    "nl": {
        "subject": "Afwezigheid van {name} op {day} ({half})",
        "am": "voormiddag",
        "pm": "namiddag",
        "body": "{name} was afwezig in de les van {group} op {day} ({half}, lesuur {period}).\n\n"
        "Gelieve deze afwezigheid te wettigen met de antwoordstrook hieronder, via de link, Telegram, op papier "
        "of per sms: antwoord {keys}, eventueel gevolgd door een woordje.",
        "reason": "Reden van de afwezigheid",
        "note": "Een woordje voor de school (niet verplicht)",
    },
    "en": {
        "subject": "{name} absent on {day} ({half})",
        "am": "morning",
        "pm": "afternoon",
        "body": "{name} was absent from {group} on {day} ({half}, period {period}).\n\n"
        "Please justify this absence with the reply slip below, through the link, Telegram, on paper or by "
        "SMS: answer {keys}, followed by a note if you wish.",
        "reason": "Reason for the absence",
        "note": "A note for the school (optional)",
    },
}


def reason_words(lang: str) -> dict[AbsenceReason, str]:
    return dict(_REASON_WORDS.get(lang, _REASON_WORDS["fr"]))


def half_day(at: dt.datetime, tz: ZoneInfo) -> tuple[dt.date, str]:
    """The half-day an instant belongs to: its local day and "am" (before noon) or "pm"."""
    local = at.astimezone(tz)
    return local.date(), "am" if local.time() < NOON else "pm"


def period_times(day: dt.date, period: int, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start, end = PERIODS[period]
    return dt.datetime.combine(day, start, tz), dt.datetime.combine(day, end, tz)


# ---------------------------------------------------------------------------------------------- the register


@dataclass(frozen=True)
class Row:
    pupil_id: int
    name: str
    mark: Mark
    justified: bool = False


@dataclass(frozen=True)
class Sheet:
    group_id: int
    group_name: str
    on_date: dt.date
    period: int
    rows: list[Row]
    #: When the register was last taken (None: not yet taken for that period).
    taken_at: dt.datetime | None = None

    @property
    def counts(self) -> dict[str, int]:
        found = {m.value: 0 for m in Mark}
        for row in self.rows:
            found[row.mark.value] += 1
        return found


@dataclass(frozen=True)
class TakeResult:
    register_id: int
    absent: int
    late: int
    #: Notices published now: the first absence of a pupil in a half-day (later periods join that notice).
    messages: tuple[int, ...]
    #: Of the notices' first deliveries, those going now and those the charter holds, and until when.
    due: int
    held: int
    held_until: dt.datetime | None


async def register_groups(staff_id: int, roles: frozenset[StaffRole], school_id: int) -> list[Group]:
    """The classes and courses this member of staff may take the register of."""
    ids = await access.staff_group_ids(staff_id, roles, school_id)
    return await Group.filter(id__in=list(ids), kind__in=(GroupKind.CLASS, GroupKind.COURSE)).order_by("kind", "name")


async def _group(staff_id: int, roles: frozenset[StaffRole], school_id: int, group_id: int) -> Group:
    if not await access.staff_may_see_group(staff_id, roles, school_id, group_id):
        raise NotAllowed()
    group = await Group.get_or_none(id=group_id)
    if group is None or group.kind not in (GroupKind.CLASS, GroupKind.COURSE):
        raise NotAllowed()
    return group


def check_moment(on_date: dt.date, period: int, today: dt.date) -> None:
    if period not in PERIODS:
        raise RegisterError("period", f"the period must be between 1 and {max(PERIODS)}")
    if on_date > today:
        raise RegisterError("date", "a register cannot be taken for a day still to come")
    if (today - on_date).days > MAX_DAYS_BACK:
        raise RegisterError("date", f"a register older than {MAX_DAYS_BACK} days cannot be changed")


async def _members(group_id: int) -> list[Pupil]:
    ids = await Membership.filter(group_id=group_id, pupil__active=True).values_list("pupil_id", flat=True)
    return await Pupil.filter(id__in=list(ids)).order_by("last_name", "first_name", "id")


async def sheet(
    staff_id: int,
    roles: frozenset[StaffRole],
    school_id: int,
    group_id: int,
    on_date: dt.date,
    period: int,
    *,
    today: dt.date,
) -> Sheet:
    """The register of a group for a day and period: every pupil, marked as last taken (present by default)."""
    group = await _group(staff_id, roles, school_id, group_id)
    check_moment(on_date, period, today)
    register = await Register.get_or_none(group_id=group_id, on_date=on_date, period=period)
    marks: dict[int, Absence] = {}
    if register is not None:
        marks = {a.pupil_id: a for a in await Absence.filter(register_id=register.id)}
    rows = []
    for pupil in await _members(group_id):
        absence = marks.get(pupil.id)
        mark = Mark.PRESENT if absence is None else Mark.LATE if absence.late else Mark.ABSENT
        rows.append(Row(pupil.id, f"{pupil.last_name} {pupil.first_name}", mark, bool(absence and absence.justified)))
    return Sheet(group.id, group.name, on_date, period, rows, register.taken_at if register else None)


def read_marks(pairs: Iterable[tuple[str, str]]) -> dict[int, Mark]:
    """The marks of a posted register: fields ``mark-<pupil id>`` = present, absent or late. Anything else is
    refused, so a forged form stores nothing."""
    marks: dict[int, Mark] = {}
    for name, value in pairs:
        if not name.startswith("mark-"):
            continue
        digits = name.removeprefix("mark-")
        if not digits.isdigit() or len(digits) > 10:
            raise RegisterError("marks", f"{name!r} names no pupil")
        try:
            marks[int(digits)] = Mark(value)
        except ValueError:
            raise RegisterError("marks", f"{value!r} is not present, absent or late") from None
    return marks


async def take_register(
    staff_id: int,
    roles: frozenset[StaffRole],
    school_id: int,
    group_id: int,
    on_date: dt.date,
    period: int,
    marks: Mapping[int, Mark],
    *,
    now: dt.datetime,
    charter: Charter | None = None,
    available_channels: frozenset[Channel] = planning.ELECTRONIC_CHANNELS,
) -> TakeResult:
    """Store the register of a group for a day and period (taken again: the new marks replace the old; a pupil
    left out is present), then tell the families of the pupils newly absent: one notice per pupil and half-day
    with its justification slip, through the charter (held in quiet hours). Raises :class:`NotAllowed` for a
    group this member of staff does not teach, :class:`RegisterError` for a bad day, period or pupil: nothing is
    stored then."""
    charter = charter or school_charter()
    tz = charter.tz
    group = await _group(staff_id, roles, school_id, group_id)
    check_moment(on_date, period, routing.local_day(charter, now))
    members = {p.id: p for p in await _members(group_id)}
    strangers = set(marks) - set(members)
    if strangers:
        raise RegisterError("marks", f"pupils {sorted(strangers)} are not in {group.name}")
    starts_at, ends_at = period_times(on_date, period, tz)
    newly_absent: list[Absence] = []
    withdrawn: set[int] = set()
    async with in_transaction():
        register, created = await Register.get_or_create(
            group_id=group_id,
            on_date=on_date,
            period=period,
            defaults={"taken_by_id": staff_id, "taken_at": now},
        )
        if not created:
            await Register.filter(id=register.id).update(taken_by_id=staff_id, taken_at=now)
        before = {a.pupil_id: a for a in await Absence.filter(register_id=register.id)}
        for pupil_id in members:
            mark = marks.get(pupil_id, Mark.PRESENT)
            old = before.get(pupil_id)
            if mark is Mark.PRESENT:
                if old is not None:
                    await Absence.filter(id=old.id).delete()
                    if old.message_id:
                        withdrawn.add(old.message_id)
                continue
            late = mark is Mark.LATE
            if old is None:
                absence = await Absence.create(
                    pupil_id=pupil_id,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    recorded_by_id=staff_id,
                    register_id=register.id,
                    late=late,
                )
                if not late:
                    newly_absent.append(absence)
            elif old.late != late:
                await Absence.filter(id=old.id).update(late=late)
                if not late and not old.message_id:
                    old.late = False
                    newly_absent.append(old)
        # A notice whose absences were all corrected to present is no longer needed: what has not gone is dropped.
        for message_id in withdrawn:
            if not await Absence.filter(message_id=message_id, late=False).exists():
                await Delivery.filter(notice__message_id=message_id, state__in=tuple(routing.PENDING_STATES)).update(
                    state=DeliveryState.CANCELLED, updated_at=now
                )
    messages: list[int] = []
    due = held = 0
    held_until: dt.datetime | None = None
    for absence in newly_absent:
        result = await _tell_family(absence, group, period, staff_id, now, charter, available_channels)
        if result is None:
            continue
        messages.append(result.message_id)
        due += result.due
        held += result.held
        if result.held_until is not None:
            held_until = result.held_until if held_until is None else min(held_until, result.held_until)
    counts = {m: sum(1 for v in marks.values() if v is m) for m in Mark}
    return TakeResult(register.id, counts[Mark.ABSENT], counts[Mark.LATE], tuple(messages), due, held, held_until)


def _absence_text(lang: str, name: str, day: dt.date, half: str, group: str, period: int) -> translations.Version:
    """The justification notice in ``lang``: subject, body, and the slip's two questions."""
    words, reasons = _TEXTS[lang], reason_words(lang)
    values = {
        "name": name,
        "day": long_date(day, lang),
        "half": words[half],
        "group": group,
        "period": period,
        "keys": ", ".join(f"{i} = {reasons[r].lower()}" for i, r in enumerate(SLIP_REASONS, start=1)),
    }
    questions = (
        translations.QuestionText(words["reason"], tuple(reasons[r] for r in SLIP_REASONS)),
        translations.QuestionText(words["note"]),
    )
    return translations.Version(
        lang, words["subject"].format(**values)[:200], words["body"].format(**values), questions
    )


async def _same_half_day_message(absence: Absence, tz: ZoneInfo) -> int | None:
    day, half = half_day(absence.starts_at, tz)
    start = dt.datetime.combine(day, dt.time(0) if half == "am" else NOON, tz)
    end = dt.datetime.combine(day, NOON, tz) if half == "am" else start + dt.timedelta(hours=12)
    other = (
        await Absence.filter(
            pupil_id=absence.pupil_id, starts_at__gte=start, starts_at__lt=end, message_id__isnull=False, late=False
        )
        .exclude(id=absence.id)
        .first()
    )
    return other.message_id if other is not None else None


async def _tell_family(
    absence: Absence,
    group: Group,
    period: int,
    staff_id: int,
    now: dt.datetime,
    charter: Charter,
    available_channels: frozenset[Channel],
) -> planning.PublishResult | None:
    """The justification notice of one absence, or None when the pupil's half-day already has its notice (the
    absence joins it: one notice per half-day, however many periods)."""
    tz = charter.tz
    joined = await _same_half_day_message(absence, tz)
    if joined is not None:
        await Absence.filter(id=absence.id).update(message_id=joined)
        return None
    pupil = await Pupil.get(id=absence.pupil_id)
    school = await School.get(id=pupil.school_id)
    lang = str(school.default_language) if str(school.default_language) in _TEXTS else Language.FR.value
    day, half = half_day(absence.starts_at, tz)
    # Written in every language the product speaks: the school's is the message, the others its versions, so
    # that each guardian reads the notice (and its slip) in their own; the choices keep their order everywhere.
    texts = {code: _absence_text(code, pupil.first_name, day, half, group.name, period) for code in _TEXTS}
    words, reasons = _TEXTS[lang], reason_words(lang)
    async with in_transaction():
        message = await Message.create(
            school_id=school.id,
            author_id=staff_id,
            subject=texts[lang].subject,
            body=texts[lang].body,
            urgency=Urgency.NORMAL,
            category=Category.ABSENCE,
        )
        await translations.save_versions(message.id, [v for code, v in texts.items() if code != lang])
        await MessageAudience.create(message_id=message.id, kind=AudienceKind.PUPIL, pupil_id=pupil.id)
        slip = await ReplySlip.create(
            message_id=message.id,
            deadline=now + dt.timedelta(days=JUSTIFY_DAYS),
            answer_mode=AnswerMode.ONE_PER_PUPIL,
            reminder_hours=list(REMINDER_HOURS),
        )
        await SlipQuestion.create(
            slip_id=slip.id,
            position=1,
            kind=QuestionKind.ONE_CHOICE,
            text=words["reason"],
            choices=[reasons[r] for r in SLIP_REASONS],
        )
        await SlipQuestion.create(
            slip_id=slip.id, position=2, kind=QuestionKind.FREE_TEXT, text=words["note"], required=False
        )
        await Absence.filter(id=absence.id).update(message_id=message.id)
    return await planning.publish(
        message.id, now=now, charter=charter, available_channels=available_channels, actor_staff_id=staff_id
    )


# ------------------------------------------------------------------------------------------- justifications


async def _reason_of(slip_id: int, answer: object) -> AbsenceReason:
    question = await SlipQuestion.get_or_none(slip_id=slip_id, position=1)
    choices = list(question.choices or ()) if question else []
    if isinstance(answer, str) and answer in choices:
        index = choices.index(answer)
        if index < len(SLIP_REASONS):
            return SLIP_REASONS[index]
    return AbsenceReason.OTHER


@planning.on_answer
async def justify_from_answer(response: SlipResponse, now: dt.datetime) -> None:
    """An answered justification slip (any channel) marks the pupil's absences of that notice justified."""
    slip = await ReplySlip.get(id=response.slip_id)
    if not await Message.filter(id=slip.message_id, category=Category.ABSENCE).exists():
        return
    answers = response.answers or {}
    reason = await _reason_of(slip.id, answers.get("1"))
    note = str(answers.get("2") or "")[:_LONGEST_NOTE]
    await Absence.filter(message_id=slip.message_id, pupil_id=response.pupil_id).update(
        justified=True, reason=reason, note=note, justified_at=now, justified_via=str(response.channel)
    )


async def justify_from_office(
    staff_id: int,
    roles: frozenset[StaffRole],
    school_id: int,
    absence_id: int,
    reason: AbsenceReason,
    note: str,
    *,
    now: dt.datetime,
) -> int:
    """A justification the school records itself (a paper note, a medical certificate handed in): the absence
    and those of the same notice (the pupil's half-day) are justified. Returns how many; raises
    :class:`NotAllowed` for an absence of a pupil this member of staff may not see."""
    absence = await Absence.get_or_none(id=absence_id)
    if absence is None or not await access.staff_may_see_pupil(staff_id, roles, school_id, absence.pupil_id):
        raise NotAllowed()
    if reason in (AbsenceReason.UNKNOWN, AbsenceReason.UNJUSTIFIED):
        raise RegisterError("reason", "a justification needs a reason")
    if len(note) > _LONGEST_NOTE:
        raise RegisterError("note", f"the note is longer than {_LONGEST_NOTE} characters")
    query = (
        Absence.filter(message_id=absence.message_id, pupil_id=absence.pupil_id)
        if absence.message_id
        else Absence.filter(id=absence.id)
    )
    return await query.update(justified=True, reason=reason, note=note, justified_at=now, justified_via=VIA_OFFICE)


@dataclass(frozen=True)
class OpenAbsence:
    id: int
    pupil_id: int
    pupil: str
    starts_at: dt.datetime
    late: bool


async def unjustified(school_id: int, *, limit: int = 200) -> list[OpenAbsence]:
    """The school's absences still to justify, most recent first (the secretary's list)."""
    rows = (
        await Absence.filter(pupil__school_id=school_id, justified=False, late=False)
        .order_by("-starts_at", "pupil__last_name")
        .limit(limit)
        .prefetch_related("pupil")
    )
    return [
        OpenAbsence(a.id, a.pupil_id, f"{a.pupil.last_name} {a.pupil.first_name}", a.starts_at, a.late) for a in rows
    ]


# -------------------------------------------------------------------------------------------- the threshold


def count_half_days(starts: Iterable[tuple[int, dt.datetime]], tz: ZoneInfo) -> dict[int, int]:
    """Distinct half-days per pupil among these ``(pupil, start)`` absences (three periods of a morning: one)."""
    seen: dict[int, set[tuple[dt.date, str]]] = defaultdict(set)
    for pupil_id, starts_at in starts:
        seen[pupil_id].add(half_day(starts_at, tz))
    return {pupil: len(days) for pupil, days in seen.items()}


def _year_began(charter: Charter, today: dt.date) -> dt.datetime:
    """The first instant of the school year ``today`` is in, by the charter's calendar."""
    return dt.datetime.combine(rules.school_year_start(charter, today), dt.time(0), charter.tz)


async def unjustified_half_days(pupil_ids: Sequence[int], *, today: dt.date, charter: Charter) -> dict[int, int]:
    """Distinct unjustified half-days per pupil since the school year began (lateness is not absence)."""
    tz, since = charter.tz, _year_began(charter, today)
    rows = await Absence.filter(
        pupil_id__in=list(pupil_ids), justified=False, late=False, starts_at__gte=since
    ).values_list("pupil_id", "starts_at")
    return count_half_days(((int(p), s) for p, s in rows), tz)


@dataclass(frozen=True)
class Flagged:
    pupil_id: int
    name: str
    classes: tuple[str, ...]
    half_days: int


async def flagged_pupils(school_id: int, *, today: dt.date, charter: Charter) -> tuple[int, list[Flagged]]:
    """The school's threshold and the pupils who reached it this school year (by the charter's calendar), most
    half-days first."""
    school = await School.get(id=school_id)
    threshold = max(1, int(school.absence_threshold_half_days))
    tz, since = charter.tz, _year_began(charter, today)
    rows = await Absence.filter(
        pupil__school_id=school_id, justified=False, late=False, starts_at__gte=since
    ).values_list("pupil_id", "starts_at")
    counts = count_half_days(((int(p), s) for p, s in rows), tz)
    over = {p: n for p, n in counts.items() if n >= threshold}
    pupils = {p.id: p for p in await Pupil.filter(id__in=list(over))}
    classes: dict[int, list[str]] = defaultdict(list)
    for pid, name in await Membership.filter(pupil_id__in=list(over), group__kind=GroupKind.CLASS).values_list(
        "pupil_id", "group__name"
    ):
        classes[int(pid)].append(str(name))
    flagged = [
        Flagged(p, f"{pupils[p].last_name} {pupils[p].first_name}", tuple(sorted(classes[p])), n)
        for p, n in over.items()
        if p in pupils
    ]
    return threshold, sorted(flagged, key=lambda f: (-f.half_days, f.name))


# ------------------------------------------------------------------------------------------------ CSV export

CSV_COLUMNS = (
    "pupil_id",
    "last_name",
    "first_name",
    "date",
    "half_day",
    "start",
    "end",
    "late",
    "justified",
    "reason",
    "note",
)


async def class_absences_csv(
    staff_id: int,
    roles: frozenset[StaffRole],
    school_id: int,
    group_id: int,
    first: dt.date,
    last: dt.date,
    *,
    tz: ZoneInfo,
) -> tuple[str, bytes]:
    """The absences of a class's pupils between two days (included), as a CSV file: its name and its bytes."""
    group = await _group(staff_id, roles, school_id, group_id)
    if last < first:
        raise RegisterError("to", "the last day comes before the first")
    pupils = {p.id: p for p in await _members(group_id)}
    start = dt.datetime.combine(first, dt.time(0), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tz)
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    for a in await Absence.filter(pupil_id__in=list(pupils), starts_at__gte=start, starts_at__lt=end).order_by(
        "starts_at", "pupil_id"
    ):
        p = pupils[a.pupil_id]
        day, half = half_day(a.starts_at, tz)
        rows.append(
            [
                p.id,
                p.last_name,
                p.first_name,
                day.isoformat(),
                half,
                a.starts_at.astimezone(tz).strftime("%H:%M"),
                a.ends_at.astimezone(tz).strftime("%H:%M"),
                "yes" if a.late else "no",
                "yes" if a.justified else "no",
                str(a.reason),
                a.note,
            ]
        )
    safe = "".join(c if c.isalnum() else "-" for c in group.name)
    return f"absences-{safe}-{first.isoformat()}-{last.isoformat()}.csv", csvfile.encode(rows)


__all__ = [
    "DEFAULT_THRESHOLD",
    "PERIODS",
    "SLIP_REASONS",
    "Flagged",
    "Mark",
    "NotAllowed",
    "RegisterError",
    "Sheet",
    "TakeResult",
    "class_absences_csv",
    "count_half_days",
    "flagged_pupils",
    "justify_from_answer",
    "justify_from_office",
    "read_marks",
    "register_groups",
    "sheet",
    "take_register",
    "unjustified",
    "unjustified_half_days",
]
