"""Private calendar feeds (iCalendar, RFC 5545, written with the ``icalendar`` package): one secret address per
guardian and per pupil, revocable (a new address replaces the old one, which stops working at once).

A guardian's feed carries the homework and tests of exactly the children whose records they may see
(:mod:`hub.records.visibility`: the records right, no court bar) and the deadlines of the reply slips of their own
notices still to answer; a pupil's feed carries their own classes' and courses' homework and tests. The database
keeps only a hash of the secret.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections import defaultdict

from icalendar import Calendar, Event

from hub.enums import JournalKind
from hub.messaging import translations
from hub.messaging.models import Notice, NoticePupil, ReplySlip, SlipResponse
from hub.messaging.rendering import language_of
from hub.people.models import Guardian, Guardianship, Pupil
from hub.records import visibility
from hub.records.journal import pupil_items
from hub.records.models import CalendarFeed

#: How far back and ahead a feed reaches: the calendar apps keep what they already read.
PAST = dt.timedelta(days=30)
AHEAD = dt.timedelta(days=366)
#: Secrets are 43 characters (32 random bytes); anything much longer names no feed.
MAX_TOKEN = 64
PRODID = "-//Carnet//Class journal//FR"

#: The events' titles in the feed owner's language (the guardian's; a pupil's school's).
_WORDS: dict[str, dict[str, str]] = {
    "fr": {"test": "Interro", "homework": "Devoir", "slip": "Talon\u202f: {subject}"},
    "nl": {"test": "Toets", "homework": "Taak", "slip": "Antwoordstrook: {subject}"},
    "en": {"test": "Test", "homework": "Homework", "slip": "Reply slip: {subject}"},
}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def new_feed(*, now: dt.datetime, guardian_id: int | None = None, pupil_id: int | None = None) -> str:
    """A new secret address for this guardian's or pupil's feed; the previous one is revoked. Returns the secret
    (shown once: only its hash is stored)."""
    if (guardian_id is None) == (pupil_id is None):
        raise ValueError("a feed belongs to one guardian or one pupil")
    token = secrets.token_urlsafe(32)
    owner = {"guardian_id": guardian_id} if guardian_id is not None else {"pupil_id": pupil_id}
    await CalendarFeed.filter(revoked_at__isnull=True, **owner).update(revoked_at=now)
    await CalendarFeed.create(token_hash=_hash(token), created_at=now, **owner)
    return token


async def revoke(*, now: dt.datetime, guardian_id: int | None = None, pupil_id: int | None = None) -> int:
    owner = {"guardian_id": guardian_id} if guardian_id is not None else {"pupil_id": pupil_id}
    return await CalendarFeed.filter(revoked_at__isnull=True, **owner).update(revoked_at=now)


async def current_feed(*, guardian_id: int | None = None, pupil_id: int | None = None) -> CalendarFeed | None:
    owner = {"guardian_id": guardian_id} if guardian_id is not None else {"pupil_id": pupil_id}
    return await CalendarFeed.filter(revoked_at__isnull=True, **owner).order_by("-id").first()


async def feed_of(token: str) -> CalendarFeed | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    return await CalendarFeed.filter(token_hash=_hash(token), revoked_at__isnull=True).first()


async def guardian_may_give_pupil_feed(guardian_id: int, pupil_id: int) -> bool:
    """A guardian may make (or renew) the feed of a child whose records they may see."""
    return await visibility.may_see_records(guardian_id, pupil_id)


def _all_day(calendar: Calendar, uid: str, day: dt.date, summary: str, description: str, now: dt.datetime) -> None:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", now.astimezone(dt.UTC))
    event.add("dtstart", day)
    event.add("dtend", day + dt.timedelta(days=1))
    event.add("summary", summary)
    if description:
        event.add("description", description)
    event.add("transp", "TRANSPARENT")
    calendar.add_component(event)


async def _slip_deadlines(guardian_id: int, first: dt.datetime, last: dt.datetime) -> list[tuple[Notice, ReplySlip]]:
    """The reply slips of this guardian's notices, closing in the window, with a pupil still to answer for."""
    notices = await Notice.filter(
        guardian_id=guardian_id, message__slip__deadline__gte=first, message__slip__deadline__lte=last
    ).prefetch_related("message")
    if not notices:
        return []
    answerable = set(
        await Guardianship.filter(guardian_id=guardian_id, barred=False, may_answer=True).values_list(
            "pupil_id", flat=True
        )
    )
    # Three reads whatever the number of notices: their slips, the pupils they name, the answers already given.
    slips = {s.message_id: s for s in await ReplySlip.filter(message_id__in=[n.message_id for n in notices])}
    named: dict[int, set[int]] = defaultdict(set)
    for notice_id, pupil_id in await NoticePupil.filter(notice_id__in=[n.id for n in notices]).values_list(
        "notice_id", "pupil_id"
    ):
        named[int(notice_id)].add(int(pupil_id))
    answered: dict[int, set[int]] = defaultdict(set)
    for slip_id, pupil_id in await SlipResponse.filter(slip_id__in=[s.id for s in slips.values()]).values_list(
        "slip_id", "pupil_id"
    ):
        answered[int(slip_id)].add(int(pupil_id))
    found = []
    for notice in notices:
        slip = slips.get(notice.message_id)
        if slip is not None and (named[notice.id] & answerable) - answered[slip.id]:
            found.append((notice, slip))
    return found


async def feed_ics(token: str, *, now: dt.datetime, tz: dt.tzinfo) -> bytes | None:
    """The calendar of the feed with this secret, or None for an unknown or revoked one."""
    feed = await feed_of(token)
    if feed is None:
        return None
    today = now.astimezone(tz).date()
    first, last = today - PAST, today + AHEAD
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if feed.guardian_id is not None:
        pupils = sorted(await visibility.record_pupil_ids(feed.guardian_id))
        guardian = await Guardian.get(id=feed.guardian_id)
        school_language = await translations.school_language(guardian.school_id)
        lang = language_of(guardian.language or school_language)
        calendar.add("x-wr-calname", "Carnet")
    else:
        pupil = await Pupil.get_or_none(id=feed.pupil_id, active=True)
        pupils = [pupil.id] if pupil is not None else []
        school_language = await translations.school_language(pupil.school_id) if pupil else "fr"
        lang = language_of(school_language)
        calendar.add("x-wr-calname", f"Carnet – {pupil.first_name}" if pupil else "Carnet")
    words = _WORDS.get(lang, _WORDS["fr"])
    for item in await pupil_items(pupils, first, last):
        kind = words["test"] if item.kind is JournalKind.TEST else words["homework"]
        _all_day(
            calendar,
            f"journal-{item.entry_id}-pupil-{item.pupil_id}@carnet",
            item.due_on,
            f"{kind} {item.subject} ({item.pupil})",
            item.text,
            now,
        )
    if feed.guardian_id is not None:
        window_first = dt.datetime.combine(first, dt.time(0), tz)
        window_last = dt.datetime.combine(last, dt.time(0), tz)
        deadlines = await _slip_deadlines(feed.guardian_id, window_first, window_last)
        subjects = await translations.subjects_for(
            lang, school_language, {notice.message_id: notice.message.subject for notice, _slip in deadlines}
        )
        for notice, slip in deadlines:
            event = Event()
            event.add("uid", f"slip-{slip.id}-notice-{notice.id}@carnet")
            event.add("dtstamp", now.astimezone(dt.UTC))
            event.add("dtstart", slip.deadline.astimezone(dt.UTC))
            event.add("dtend", slip.deadline.astimezone(dt.UTC))
            event.add("summary", words["slip"].format(subject=subjects[notice.message_id]))
            calendar.add_component(event)
    return calendar.to_ical()


__all__ = [
    "current_feed",
    "feed_ics",
    "feed_of",
    "guardian_may_give_pupil_feed",
    "new_feed",
    "revoke",
]
