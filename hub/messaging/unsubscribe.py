"""The email's one-click unsubscribe (RFC 8058): the notice's signed address names one notice, and a POST to it
stops that notice's topic by email only, for that notice's guardian. The same service serves the confirmation
page (GET) and the mailbox provider's POST (no cookie, no CSRF token: the signature is the proof).
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from hub.enums import Category, Channel, ConsentPurpose, Topic, Urgency
from hub.messaging.links import unsubscribe_signature
from hub.messaging.models import Notice
from hub.people.models import Consent, Guardian
from hub.people.optout_rules import stoppable, topic_of
from hub.people.optouts import stop, stops_of

__all__ = ["UnsubscribeTarget", "one_click", "unsubscribe_target"]


@dataclass(frozen=True)
class UnsubscribeTarget:
    notice_id: int
    guardian_id: int
    topic: Topic
    language: str
    #: Whether the guardian has the portal (their stopped messages wait there; otherwise paper is what is left).
    has_portal: bool
    #: The topic is already stopped by email (or on every channel).
    stopped: bool


async def unsubscribe_target(notice_id: int, signature: str) -> UnsubscribeTarget | None:
    """The notice an unsubscribe address names, or None when the signature does not match, the notice is
    unknown, its guardian erased, or its topic cannot be stopped."""
    notice = await Notice.get_or_none(id=notice_id).prefetch_related("message")
    expected = unsubscribe_signature(notice.id, notice.token).encode() if notice is not None else b""
    if notice is None or not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
        return None
    message = notice.message
    if not stoppable(Category(message.category), Urgency(message.urgency)):
        return None
    guardian = await Guardian.get_or_none(id=notice.guardian_id, erased_at__isnull=True)
    if guardian is None:
        return None
    topic = topic_of(message.category)
    current = (await stops_of([guardian.id])).get(guardian.id, frozenset())
    has_portal = await Consent.filter(
        guardian_id=guardian.id, purpose=ConsentPurpose.SCHOOL_MESSAGES, withdrawn_at__isnull=True
    ).exists()
    return UnsubscribeTarget(
        notice_id=notice.id,
        guardian_id=guardian.id,
        topic=topic,
        language=str(guardian.language),
        has_portal=has_portal,
        stopped=(topic, Channel.EMAIL) in current or (topic, None) in current,
    )


async def one_click(notice_id: int, signature: str, now: dt.datetime) -> UnsubscribeTarget | None:
    """Stop the notice's topic by email (audited); None when the address is not a valid one (nothing stored).
    Idempotent: a second POST stores nothing more."""
    target = await unsubscribe_target(notice_id, signature)
    if target is None:
        return None
    await stop(target.guardian_id, [target.topic], Channel.EMAIL, source="email", at=now)
    return UnsubscribeTarget(**{**target.__dict__, "stopped": True})
