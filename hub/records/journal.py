"""The class journal: per class or course, what was done, homework and tests with their due dates, written by the
staff who teach it (:mod:`hub.messaging.access`: a teacher their own classes and courses, the secretary, the
principal and administrators the school); and the weekly digest that gathers a family's coming homework and
tests into one notice per guardian, never one per child.

The digest goes on the school's digest day (Friday), inside the charter's hours, once per guardian and week (a
:class:`~hub.records.models.JournalDigest` row claimed before publishing, so several workers send it once), only
to guardians with the records right and not barred, naming exactly their children: a family's message is
published for its own guardians only (``planning.publish(only_guardians=...)``), so a separated parent linked to
one of the children does not read the other household's children.

Time is an input: every function takes ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from charter import Charter, is_allowed, school_charter
from hub.dates import long_date
from hub.enums import AudienceKind, Category, Channel, GroupKind, JournalKind, StaffRole, Urgency
from hub.messaging import access, planning, translations
from hub.messaging.models import Message, MessageAudience
from hub.people.models import Group, Guardianship, Membership, Pupil, School, StaffRoleGrant
from hub.records.models import JournalDigest, JournalEntry

#: Longest subject and text of an entry (a lesson's summary, the instructions of an assignment).
MAX_SUBJECT = 100
MAX_TEXT = 5000
#: How far ahead a due date may be set (a school year).
MAX_AHEAD = dt.timedelta(days=366)
#: The digest's day by default (Monday is 0; each school chooses its own, ``School.journal_digest_weekday``):
#: Friday, so families plan the weekend and the week to come.
DIGEST_WEEKDAY = 4


class JournalError(ValueError):
    """An entry the rules refuse; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotAllowed(JournalError):
    """A group or entry this member of staff may not write (another teacher's class): a 404."""

    def __init__(self) -> None:
        super().__init__("group", "no such class or course")


async def _writable(staff_id: int, roles: frozenset[StaffRole], school_id: int, group_id: int) -> Group:
    if not await access.staff_may_see_group(staff_id, roles, school_id, group_id):
        raise NotAllowed()
    group = await Group.get_or_none(id=group_id)
    if group is None or group.kind not in (GroupKind.CLASS, GroupKind.COURSE):
        raise NotAllowed()
    return group


async def journal_groups(staff_id: int, roles: frozenset[StaffRole], school_id: int) -> list[Group]:
    ids = await access.staff_group_ids(staff_id, roles, school_id)
    return await Group.filter(id__in=list(ids), kind__in=(GroupKind.CLASS, GroupKind.COURSE)).order_by("kind", "name")


def check_entry(kind: str, subject: str, text: str, on_date: dt.date | None, due_on: dt.date | None) -> JournalKind:
    try:
        journal_kind = JournalKind(kind)
    except ValueError:
        raise JournalError("kind", "the kind is done, homework or test") from None
    if not subject.strip() or len(subject) > MAX_SUBJECT:
        raise JournalError("subject", f"the subject is needed, at most {MAX_SUBJECT} characters")
    if not text.strip() or len(text) > MAX_TEXT:
        raise JournalError("text", f"the text is needed, at most {MAX_TEXT} characters")
    if on_date is None:
        raise JournalError("on_date", "the day is needed (YYYY-MM-DD)")
    if journal_kind is JournalKind.DONE:
        if due_on is not None:
            raise JournalError("due_on", "what was done has no due date")
    elif due_on is None or due_on < on_date or due_on - on_date > MAX_AHEAD:
        raise JournalError("due_on", "homework and tests need a due date, on or after the day, within a year")
    return journal_kind


async def write_entry(
    staff_id: int,
    roles: frozenset[StaffRole],
    school_id: int,
    group_id: int,
    *,
    kind: str,
    subject: str,
    text: str,
    on_date: dt.date | None,
    due_on: dt.date | None,
) -> JournalEntry:
    """A new entry of the journal of a class or course this member of staff teaches (or any, for the office)."""
    await _writable(staff_id, roles, school_id, group_id)
    journal_kind = check_entry(kind, subject, text, on_date, due_on)
    return await JournalEntry.create(
        group_id=group_id,
        author_id=staff_id,
        kind=journal_kind,
        subject=subject.strip(),
        text=text.strip(),
        on_date=on_date,
        due_on=due_on if journal_kind is not JournalKind.DONE else None,
    )


async def delete_entry(staff_id: int, roles: frozenset[StaffRole], school_id: int, entry_id: int) -> None:
    entry = await JournalEntry.get_or_none(id=entry_id)
    if entry is None:
        raise NotAllowed()
    await _writable(staff_id, roles, school_id, entry.group_id)
    await JournalEntry.filter(id=entry_id).delete()


async def group_entries(
    staff_id: int, roles: frozenset[StaffRole], school_id: int, group_id: int, *, limit: int = 100
) -> tuple[Group, list[JournalEntry]]:
    group = await _writable(staff_id, roles, school_id, group_id)
    entries = await JournalEntry.filter(group_id=group_id).order_by("-on_date", "-id").limit(limit)
    return group, entries


# ------------------------------------------------------------------------------------ a family's coming items


@dataclass(frozen=True)
class Item:
    """A homework or test of one pupil's class or course."""

    entry_id: int
    pupil_id: int
    pupil: str
    group: str
    kind: JournalKind
    subject: str
    text: str
    due_on: dt.date


async def pupil_items(pupil_ids: Iterable[int], first: dt.date, last: dt.date) -> list[Item]:
    """The homework and tests of these pupils' classes and courses falling due between two days (included)."""
    ids = list(pupil_ids)
    if not ids:
        return []
    groups: dict[int, list[int]] = defaultdict(list)
    for pupil_id, group_id in await Membership.filter(pupil_id__in=ids).values_list("pupil_id", "group_id"):
        groups[int(group_id)].append(int(pupil_id))
    pupils = {p.id: p for p in await Pupil.filter(id__in=ids)}
    entries = (
        await JournalEntry.filter(
            group_id__in=list(groups),
            kind__in=(JournalKind.HOMEWORK, JournalKind.TEST),
            due_on__gte=first,
            due_on__lte=last,
        )
        .order_by("due_on", "subject", "id")
        .prefetch_related("group")
    )
    items = []
    for entry in entries:
        for pupil_id in groups[entry.group_id]:
            pupil = pupils[pupil_id]
            assert entry.due_on is not None
            items.append(
                Item(
                    entry.id,
                    pupil_id,
                    pupil.first_name,
                    entry.group.name,
                    JournalKind(entry.kind),
                    entry.subject,
                    entry.text,
                    entry.due_on,
                )
            )
    return items


# ------------------------------------------------------------------------------------------ the weekly digest

_WORDS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "subject": "Devoirs et interrogations à venir ({first} – {last})",
        "intro": "Voici les devoirs et interrogations à venir de {names}, tels que les professeurs les ont notés "
        "au journal de classe.",
        "homework": "Devoir",
        "test": "Interrogation",
        "for": "pour le",
    },
    "nl": {
        "subject": "Komende taken en toetsen ({first} – {last})",
        "intro": "Dit zijn de komende taken en toetsen van {names}, zoals de leerkrachten ze in de klasagenda "
        "noteerden.",
        "homework": "Taak",
        "test": "Toets",
        "for": "tegen",
    },
    "en": {
        "subject": "Coming homework and tests ({first} – {last})",
        "intro": "Here are the coming homework and tests of {names}, as the teachers wrote them in the class journal.",
        "homework": "Homework",
        "test": "Test",
        "for": "due",
    },
}


def digest_text(items: list[Item], names: list[str], first: dt.date, last: dt.date, lang: str) -> tuple[str, str]:
    """Subject and body of one family's digest: every child's items, by due date."""
    words = _WORDS.get(lang, _WORDS["fr"])
    subject = words["subject"].format(first=long_date(first, lang, year=False), last=long_date(last, lang, year=False))
    lines = [words["intro"].format(names=", ".join(names)), ""]
    for item in sorted(items, key=lambda i: (i.due_on, i.pupil, i.subject, i.entry_id)):
        kind = words["test"] if item.kind is JournalKind.TEST else words["homework"]
        due = long_date(item.due_on, lang, weekday=True, year=False)
        lines.append(f"- {item.pupil} ({item.group}), {item.subject}: {kind} {words['for']} {due}. {item.text}")
    return subject[:200], "\n".join(lines)


async def _sender(school_id: int) -> int | None:
    """The digest goes in the school's name: its principal's account (an administrator's when there is none)."""
    for role in (StaffRole.PRINCIPAL, StaffRole.ADMIN):
        grant = (
            await StaffRoleGrant.filter(role=role, staff__school_id=school_id, staff__active=True)
            .order_by("staff_id")
            .first()
        )
        if grant is not None:
            return int(grant.staff_id)
    return None


def digest_week(
    now: dt.datetime, charter: Charter, weekday: int = DIGEST_WEEKDAY
) -> tuple[dt.date, dt.date, dt.date] | None:
    """(Monday of this week, first day, last day) when ``now`` is the digest's moment: the school's digest day,
    inside the charter's hours for normal messages; else None. The digest covers what falls due from the next
    day to the Sunday ending the following week (nine days for a Friday digest)."""
    local = now.astimezone(charter.tz)
    if local.weekday() != weekday or not is_allowed(charter, now, Urgency.NORMAL):
        return None
    today = local.date()
    return (
        today - dt.timedelta(days=today.weekday()),
        today + dt.timedelta(days=1),
        today + dt.timedelta(days=6 - today.weekday() + 7),
    )


async def _claim(guardian_ids: Iterable[int], week_start: dt.date) -> list[int]:
    """The guardians whose digest of this week this caller sends (a row each; another worker's rows stand)."""
    claimed = []
    for guardian_id in guardian_ids:
        try:
            async with in_transaction():
                await JournalDigest.create(guardian_id=guardian_id, week_start=week_start)
        except IntegrityError:
            continue
        claimed.append(guardian_id)
    return claimed


async def send_weekly_digests(
    now: dt.datetime,
    *,
    charter: Charter | None = None,
    available_channels: frozenset[Channel] = planning.ELECTRONIC_CHANNELS,
) -> int:
    """Publish this week's journal digests (one notice per guardian naming all their children) when ``now`` is
    the digest's moment; returns the messages published (0 at any other moment, and when already sent)."""
    charter = charter or school_charter()
    published = 0
    for school in await School.all():
        week = digest_week(now, charter, school.journal_digest_weekday)
        if week is None:
            continue
        week_start, first, last = week
        sender = await _sender(school.id)
        if sender is None:
            continue
        done = set(await JournalDigest.filter(week_start=week_start).values_list("guardian_id", flat=True))
        rows = await Guardianship.filter(
            pupil__school_id=school.id, pupil__active=True, barred=False, sees_records=True, receives=True
        ).values_list("guardian_id", "pupil_id")
        children: dict[int, set[int]] = defaultdict(set)
        for guardian_id, pupil_id in rows:
            if guardian_id not in done:
                children[int(guardian_id)].add(int(pupil_id))
        items = await pupil_items({p for kids in children.values() for p in kids}, first, last)
        by_pupil: dict[int, list[Item]] = defaultdict(list)
        for item in items:
            by_pupil[item.pupil_id].append(item)
        families: dict[frozenset[int], list[int]] = defaultdict(list)
        for guardian_id, kids in children.items():
            with_items = frozenset(p for p in kids if by_pupil[p])
            if with_items:
                families[frozenset(kids)].append(guardian_id)
        lang = str(school.default_language) if str(school.default_language) in _WORDS else "fr"
        for family, guardians in sorted(families.items(), key=lambda kv: sorted(kv[1])):
            claimed = await _claim(sorted(guardians), week_start)
            if not claimed:
                continue
            family_items = [i for p in sorted(family) for i in by_pupil[p]]
            names = sorted({i.pupil for i in family_items})
            # In every language the product speaks: the school's is the message, the others its versions, so
            # that each guardian of the family reads the digest in their own.
            texts = {code: digest_text(family_items, names, first, last, code) for code in _WORDS}
            subject, body = texts[lang]
            message = await Message.create(
                school_id=school.id,
                author_id=sender,
                subject=subject,
                body=body,
                category=Category.JOURNAL,
                urgency=Urgency.NORMAL,
            )
            await translations.save_versions(
                message.id, [translations.Version(code, s, b) for code, (s, b) in texts.items() if code != lang]
            )
            for pupil_id in sorted({i.pupil_id for i in family_items}):
                await MessageAudience.create(message_id=message.id, kind=AudienceKind.PUPIL, pupil_id=pupil_id)
            await planning.publish(
                message.id,
                now=now,
                charter=charter,
                available_channels=available_channels,
                actor_staff_id=sender,
                only_guardians=frozenset(claimed),
            )
            await JournalDigest.filter(guardian_id__in=claimed, week_start=week_start).update(message_id=message.id)
            published += 1
    return published


__all__ = [
    "DIGEST_WEEKDAY",
    "Item",
    "JournalError",
    "NotAllowed",
    "delete_entry",
    "digest_text",
    "digest_week",
    "group_entries",
    "journal_groups",
    "pupil_items",
    "send_weekly_digests",
    "write_entry",
]
