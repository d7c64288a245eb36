"""Telling families of single grades, as the school chooses (``School.grade_notices``, off by default): never at
once, never one by one. What families complained of with the platforms they know is a notification for every
grade, at any hour, before the pupil has even heard it; here:

* a grade counts only once families may see it (:mod:`hub.records.visibility`: publication plus the school's
  delay for families), so the pupil always hears first;
* the grades waiting are gathered into one notice a week: one message of category GRADES naming the pupils, which
  the normal routing turns into one notice per guardian (separated households each theirs, a family with three
  children one notice), through the charter's hours and the guardian's channels; the message is a pointer to the
  portal, it carries no score;
* only guardians with the records right hear of it (``routing.records_only``, the rule planning applies to every
  records category), barred guardians never.

:func:`send_weekly_grade_notices` is called by the worker's loop (and by tests) with ``now``; it sends a school's
bundle at most once in :data:`WEEK`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from charter import Charter
from hub.enums import AudienceKind, Category, Channel, Language, StaffRole
from hub.messaging import planning, translations
from hub.messaging.models import Message, MessageAudience
from hub.people.models import School, StaffRoleGrant
from hub.records import visibility
from hub.records.models import Grade
from hub.store.db import ids_of

log = logging.getLogger(__name__)

#: One bundle a week: the cadence families asked for (a large platform moved to weekly bundles after criticism).
WEEK = dt.timedelta(days=7)

_GRADES_TEXT = {
    Language.FR: (
        "Nouvelles notes",
        "De nouvelles notes sont consultables sur le portail de l'école, à la page Mes enfants.",
    ),
    Language.NL: (
        "Nieuwe punten",
        "Nieuwe punten staan op het portaal van de school, op de pagina Mijn kinderen.",
    ),
    Language.EN: (
        "New grades",
        "New grades can be read on the school's portal, on the My children page.",
    ),
}


async def school_sender(school_id: int) -> int | None:
    """The member of staff records messages go out in the name of: the principal (the first, by id)."""
    rows = await ids_of(
        StaffRoleGrant.filter(role=StaffRole.PRINCIPAL, staff__school_id=school_id, staff__active=True).order_by(
            "staff_id"
        ),
        "staff_id",
    )
    return rows[0] if rows else None


async def send_records_message(
    *,
    school_id: int,
    author_id: int,
    category: Category,
    words: Mapping[Language, tuple[str, str]],
    pupil_ids: Iterable[int] = (),
    group_id: int | None = None,
    now: dt.datetime,
    scheduled_at: dt.datetime | None = None,
    charter: Charter | None = None,
    available_channels: frozenset[Channel] | None = None,
) -> planning.PublishResult:
    """Write and publish a message about records (GRADES, REPORT_CARD) to the guardians of these pupils or of this
    group, through the same publishing as any message (one notice per guardian, the charter, the channels).

    ``words`` gives the subject and body in each language: the message is written in the school's, the others are
    its versions, so that every guardian reads it in their language."""
    assert category in (Category.GRADES, Category.REPORT_CARD)
    school_language = Language(await translations.school_language(school_id))
    subject, body = words.get(school_language) or words[Language.FR]
    message = await Message.create(
        school_id=school_id,
        author_id=author_id,
        subject=subject,
        body=body,
        category=category,
        scheduled_at=scheduled_at if scheduled_at is not None and scheduled_at > now else None,
    )
    terms = [
        MessageAudience(message_id=message.id, kind=AudienceKind.PUPIL, pupil_id=p) for p in sorted(set(pupil_ids))
    ]
    if group_id is not None:
        terms.append(MessageAudience(message_id=message.id, kind=AudienceKind.GROUP, group_id=group_id))
    await MessageAudience.bulk_create(terms)
    await translations.save_versions(
        message.id,
        [translations.Version(str(lang), s, b) for lang, (s, b) in words.items() if lang != school_language],
    )
    if available_channels is None:
        return await planning.publish(message.id, now=now, charter=charter, actor_staff_id=author_id)
    return await planning.publish(
        message.id, now=now, charter=charter, actor_staff_id=author_id, available_channels=available_channels
    )


@dataclass(frozen=True)
class Bundle:
    school_id: int
    message_id: int
    grades: int
    pupils: int
    notices: int


async def pending_grades(school: School, now: dt.datetime) -> list[Grade]:
    """The published grades of the school's active pupils that families may see at ``now`` and have not heard
    of."""
    cutoff = visibility.family_cutoff(now, school.family_records_delay_hours)
    return await Grade.filter(
        pupil__school_id=school.id,
        pupil__active=True,
        published_at__isnull=False,
        published_at__lte=cutoff,
        family_notified_at__isnull=True,
    )


async def last_bundle_at(school_id: int) -> dt.datetime | None:
    found = (
        await Grade.filter(pupil__school_id=school_id, family_notified_at__isnull=False)
        .order_by("-family_notified_at")
        .first()
    )
    return found.family_notified_at if found else None


async def send_weekly_grade_notices(
    now: dt.datetime, *, charter: Charter | None = None, available_channels: frozenset[Channel] | None = None
) -> list[Bundle]:
    """For every school that chose grade notices and sent none in the last :data:`WEEK`: one GRADES message
    naming the pupils whose grades families may now see, published; those grades are marked told."""
    bundles = []
    for school in await School.filter(grade_notices=True):
        last = await last_bundle_at(school.id)
        if last is not None and now - last < WEEK:
            continue
        grades = await pending_grades(school, now)
        if not grades:
            continue
        author = await school_sender(school.id)
        if author is None:
            log.warning("school %s: grade notices chosen but no principal to send them", school.id)
            continue
        # Claim the grades first (a conditional UPDATE): two workers running this at once send one bundle.
        claimed = await Grade.filter(id__in=[g.id for g in grades], family_notified_at__isnull=True).update(
            family_notified_at=now
        )
        if not claimed:
            continue
        grades = await Grade.filter(id__in=[g.id for g in grades], family_notified_at=now)
        pupils = sorted({g.pupil_id for g in grades})
        result = await send_records_message(
            school_id=school.id,
            author_id=author,
            category=Category.GRADES,
            words=_GRADES_TEXT,
            pupil_ids=pupils,
            now=now,
            charter=charter,
            available_channels=available_channels,
        )
        bundles.append(Bundle(school.id, result.message_id, len(grades), len(pupils), result.notices))
    return bundles


__all__ = [
    "WEEK",
    "Bundle",
    "last_bundle_at",
    "pending_grades",
    "school_sender",
    "send_records_message",
    "send_weekly_grade_notices",
]
