"""A notice's addresses and what it renders from: its personal link, the short code a letter prints, and the
rendering input of each notice of a batch (read by the worker, the print queue and the composer's preview).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Sequence

from hub.enums import Category, Urgency
from hub.messaging import translations
from hub.messaging.models import Delivery, Notice, NoticePupil, ReplySlip, SlipQuestion
from hub.messaging.rendering import NoticeView, QuestionView, SlipView
from hub.people.optout_rules import stoppable


def personal_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/n/{token}"


def unsubscribe_signature(notice_id: int, token: str) -> str:
    """The signature of a notice's unsubscribe address: an HMAC keyed by the notice's secret, so the address
    proves the notice without carrying its secret (a mailbox provider fetching it learns nothing that opens the
    notice)."""
    return hmac.new(token.encode(), f"unsubscribe:{notice_id}".encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe_link(base_url: str, notice_id: int, token: str) -> str:
    """The notice's one-click unsubscribe address (RFC 8058): a POST stops its topic by email."""
    return f"{base_url.rstrip('/')}/u/{notice_id}/{unsubscribe_signature(notice_id, token)}"


def short_code(token: str) -> str:
    """What a letter prints for typing on the site: the first eight characters of the notice's secret."""
    code = token[:8].upper()
    return f"{code[:4]}-{code[4:]}"


async def notice_views(deliveries: Sequence[Delivery], base_url: str) -> dict[int, NoticeView]:
    """The rendering input of each notice, in a fixed number of queries whatever the batch size."""
    notice_ids = {d.notice_id for d in deliveries}
    notices = {
        n.id: n
        for n in await Notice.filter(id__in=notice_ids).prefetch_related(
            "guardian", "message", "message__school", "message__author"
        )
    }
    pupils: dict[int, list[str]] = defaultdict(list)
    for notice_id, first, last in (
        await NoticePupil.filter(notice_id__in=notice_ids)
        .order_by("pupil__first_name")
        .values_list("notice_id", "pupil__first_name", "pupil__last_name")
    ):
        pupils[notice_id].append(f"{first} {last}")
    message_ids = {n.message_id for n in notices.values()}
    slips = {s.message_id: s for s in await ReplySlip.filter(message_id__in=message_ids)}
    questions: dict[int, list[QuestionView]] = defaultdict(list)
    for q in await SlipQuestion.filter(slip_id__in=[s.id for s in slips.values()]).order_by("position"):
        questions[q.slip_id].append(
            QuestionView(q.position, q.kind, q.text, tuple(q.choices or ()), q.unit_price_cents)
        )
    # The message in each guardian's language (or the school's, with a note).
    versions = await translations.versions_of(message_ids)
    views = {}
    for notice in notices.values():
        message, guardian = notice.message, notice.guardian
        slip = slips.get(message.id)
        school_text = translations.Version(str(message.school.default_language), message.subject, message.body)
        text = translations.choose(guardian.language, school_text, versions.get(message.id, {}))
        slip_questions = tuple(questions[slip.id]) if slip else ()
        views[notice.id] = NoticeView(
            language=str(guardian.language),
            text_language=text.language,
            machine_translation=text.machine,
            school_name=message.school.name,
            guardian_name=f"{guardian.first_name} {guardian.last_name}",
            subject=text.subject,
            body=text.body,
            urgency=message.urgency,
            pupils=tuple(pupils[notice.id]),
            link=personal_link(base_url, notice.token),
            short_code=short_code(notice.token),
            sender_name=f"{message.author.first_name} {message.author.last_name}",
            # Never the author's own address: a family's email reply goes to the notice's signed reply address
            # (``channels.email``), received by ``carnet bounces`` into the reply thread.
            reply_to="",
            needs_acknowledgement=message.needs_acknowledgement,
            slip=SlipView(slip.deadline, translations.translated_questions(slip_questions, text), slip.needs_signature)
            if slip
            else None,
            timezone=message.school.timezone,
            unsubscribe=unsubscribe_link(base_url, notice.id, notice.token)
            if stoppable(Category(message.category), Urgency(message.urgency))
            else "",
        )
    return views
