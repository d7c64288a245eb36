"""What a guardian's personal link opens: the message, the pupils it concerns, and "I have read".

The link's token is the notice's secret (24 random bytes): whoever holds it is the guardian it was sent to, and a
form posted to a URL that contains it cannot be forged by another site, which does not know it. The page is the
landing point of every channel's link (email, SMS, push, Telegram, the letter's QR code); the full portal with
sign-in and reply slips builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.enums import Channel
from hub.models import Acknowledgement, Notice, NoticePupil
from hub.planning import record_acknowledgement


@dataclass(frozen=True)
class NoticePage:
    notice_id: int
    token: str
    school: str
    guardian: str
    subject: str
    body: str
    pupils: tuple[str, ...]
    sender: str
    needs_acknowledgement: bool
    acknowledged_at: datetime | None


async def open_notice(token: str, now: datetime) -> NoticePage | None:
    """The page of the notice with this token, recording the first reading; None for an unknown link."""
    notice = await Notice.filter(token=token).prefetch_related("guardian", "message__school", "message__author").first()
    if notice is None:
        return None
    if notice.first_read_at is None:
        await Notice.filter(id=notice.id, first_read_at__isnull=True).update(first_read_at=now)
    pupils = (
        await NoticePupil.filter(notice_id=notice.id)
        .order_by("pupil__first_name")
        .values_list("pupil__first_name", "pupil__last_name")
    )
    ack = await Acknowledgement.filter(notice_id=notice.id).first()
    message, guardian = notice.message, notice.guardian
    return NoticePage(
        notice_id=notice.id,
        token=token,
        school=message.school.name,
        guardian=f"{guardian.first_name} {guardian.last_name}",
        subject=message.subject,
        body=message.body,
        pupils=tuple(f"{first} {last}" for first, last in pupils),
        sender=f"{message.author.first_name} {message.author.last_name}",
        needs_acknowledgement=message.needs_acknowledgement,
        acknowledged_at=ack.at if ack else None,
    )


async def acknowledge(token: str, now: datetime) -> bool:
    """ "I have read", from the portal; False for an unknown link. Idempotent."""
    notice = await Notice.filter(token=token).only("id").first()
    if notice is None:
        return False
    await record_acknowledgement(notice.id, channel=Channel.PORTAL, now=now)
    return True
