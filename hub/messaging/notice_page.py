"""What a guardian's personal link opens: the same message page as the portal's, without signing in.

The link's token is the notice's secret (24 random bytes): whoever holds it is the guardian it was sent to, for
that one notice only (its message, its attachments, its acknowledgement and reply slip; nothing else of the
portal). A form posted to a URL that contains the token cannot be forged by another site, which does not know it;
the pages also check the anonymous CSRF cookie. The page is the landing point of every channel's link (email,
SMS, push, Telegram, the letter's QR code). The rules are those of :mod:`hub.messaging.portal`.

Opening is not reading. Mail providers' link scanners fetch every link of an email, so fetching the page records
only that it was *opened* (``Notice.opened_at``, shown apart). A *read* (``Notice.first_read_at``, what the report
and the teachers' counts use) is recorded when a person is there: an action on the page (acknowledging, answering,
replying: any POST to the link, even one refused), or the signal the page's own script sends once it has been
displayed (:func:`confirm_read`). A page without JavaScript still records its read on any action. Nothing that
waits for a read or an acknowledgement (reminders, escalations) is stopped by an opening.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from hub.messaging import portal
from hub.messaging.models import Attachment, Notice
from hub.messaging.portal import MessagePage

__all__ = ["MessagePage", "acknowledge", "answer", "attachment", "confirm_read", "open_notice", "page"]


async def open_notice(token: str, now: datetime) -> MessagePage | None:
    """The page of the notice with this token, recording the first opening (never a reading: see the module's
    note); None for an unknown link (or a notice its guardian may no longer see, e.g. after a court order)."""
    notice = await portal.notice_by_token(token)
    if notice is None:
        return None
    await portal.mark_opened(notice, now)
    return await portal.message_page(notice, now)


async def confirm_read(token: str, now: datetime) -> bool | None:
    """A person is on the link's page (its displayed signal, or any action): record the first reading (and the
    opening, for a form posted without the page). True the first time, False after; None for an unknown link."""
    notice = await portal.notice_by_token(token)
    if notice is None:
        return None
    await portal.mark_opened(notice, now)
    return await portal.mark_read(notice, now)


async def page(token: str, now: datetime) -> MessagePage | None:
    """The page of the notice with this token as it is now (reading already recorded); None for an unknown link."""
    notice = await portal.notice_by_token(token)
    return await portal.message_page(notice, now) if notice else None


async def acknowledge(token: str, now: datetime) -> bool:
    """ "I have read", from the personal link; False for an unknown link. Idempotent."""
    notice = await portal.notice_by_token(token)
    if notice is None:
        return False
    await portal.acknowledge(notice, guardian_id=_guardian_of(notice), now=now, via="link")
    return True


async def answer(token: str, target: str, form: Mapping[str, Sequence[str]], now: datetime) -> list[int] | None:
    """Answer the reply slip from the personal link (see :func:`hub.messaging.portal.answer_slip`); None for an unknown
    link."""
    notice = await portal.notice_by_token(token)
    if notice is None:
        return None
    return await portal.answer_slip(notice, target, form, guardian_id=_guardian_of(notice), now=now, via="link")


async def attachment(token: str, attachment_id: int) -> Attachment | None:
    """An attachment of the link's message, else None."""
    notice = await portal.notice_by_token(token)
    return await portal.notice_attachment(notice, attachment_id) if notice else None


def _guardian_of(notice: Notice) -> int:
    return notice.guardian_id
