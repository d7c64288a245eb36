"""Report cards per term, published by the principal for a whole class at once.

The card of each pupil holds, per course, the term's average (computed from the published grades by
:func:`hub.records.grades.averages`, as a percentage: never typed twice). Publishing writes the cards and one
message of category REPORT_CARD to the class: the routing makes one notice per guardian (separated households
each theirs, a guardian of two pupils of the class one notice), only to guardians with the records right, and it
goes out when families may see the cards: after the school's delay for families (the pupils first).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from charter import Charter
from hub.enums import ActorKind, Category, Channel, GroupKind, Language, StaffRole
from hub.people.models import Group, School
from hub.records import grades as gradebook
from hub.records.grade_notices import send_records_message
from hub.records.models import Grade, ReportCard
from hub.store.audit import audit

#: Who publishes report cards.
PUBLISHERS = frozenset({StaffRole.PRINCIPAL, StaffRole.ADMIN})

_TEXT = {
    Language.FR: (
        "Bulletin {term}",
        "Le bulletin du {term} est consultable sur le portail de l'école, à la page Mes enfants.",
    ),
    Language.NL: (
        "Rapport {term}",
        "Het rapport van {term} staat op het portaal van de school, op de pagina Mijn kinderen.",
    ),
    Language.EN: (
        "Report card {term}",
        "The report card of {term} can be read on the school's portal, on the My children page.",
    ),
}


class ReportCardError(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


@dataclass(frozen=True)
class Published:
    cards: int
    message_id: int
    notices: int


async def publish_class(
    publisher: gradebook.Writer,
    group_id: int,
    term: str,
    *,
    now: dt.datetime,
    general_comment: str = "",
    charter: Charter | None = None,
    available_channels: frozenset[Channel] | None = None,
) -> Published:
    """Write and publish the term's report cards of a class and tell its families; raises ReportCardError (403
    for a role that may not, 404 for a group that is no class of the school, 409 when already published)."""
    if not PUBLISHERS.intersection(publisher.roles):
        raise ReportCardError("role", "only the principal publishes report cards")
    term = term.strip()
    if not term or len(term) > 20:
        raise ReportCardError("term", "required, at most 20 characters")
    group = await Group.filter(id=group_id, school_id=publisher.school_id, kind=GroupKind.CLASS).first()
    if group is None:
        raise ReportCardError("group", "not a class of this school")
    school = await School.get(id=publisher.school_id)
    year = school.school_year or str(now.year)
    pupils = await gradebook.pupils_of(group_id)
    if not pupils:
        raise ReportCardError("group", "no pupil in this class")
    ids = [p.id for p in pupils]
    if await ReportCard.filter(pupil_id__in=ids, school_year=year, term=term, published_at__isnull=False).exists():
        raise ReportCardError("term", "this class's report cards of this term are already published")
    published = await Grade.filter(pupil_id__in=ids, term=term, published_at__isnull=False, published_at__lte=now)
    by_pupil: dict[int, dict[str, dict[str, object]]] = {p: {} for p in ids}
    for average in await gradebook.averages(published):
        if average.percent is not None:
            by_pupil[average.pupil_id][average.subject] = {"score": str(average.percent), "max": "100", "comment": ""}
    async with in_transaction():
        for pupil_id in ids:
            await ReportCard.update_or_create(
                pupil_id=pupil_id,
                school_year=year,
                term=term,
                defaults={
                    "results": by_pupil[pupil_id],
                    "general_comment": general_comment[:2000],
                    "published_at": now,
                },
            )
    delay = dt.timedelta(hours=max(0, school.family_records_delay_hours))
    result = await send_records_message(
        school_id=school.id,
        author_id=publisher.id,
        category=Category.REPORT_CARD,
        words={lang: (subject.format(term=term), body.format(term=term)) for lang, (subject, body) in _TEXT.items()},
        group_id=group_id,
        now=now,
        scheduled_at=now + delay if delay else None,
        charter=charter,
        available_channels=available_channels,
    )
    await audit(
        "records.report_cards_published",
        at=now,
        actor_kind=ActorKind.STAFF,
        actor_id=publisher.id,
        subject_type="group",
        subject_id=group_id,
        term=term,
        cards=len(ids),
        message_id=result.message_id,
    )
    return Published(len(ids), result.message_id, result.notices)


__all__ = ["PUBLISHERS", "Published", "ReportCardError", "publish_class"]
