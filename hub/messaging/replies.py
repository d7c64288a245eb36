"""A guardian's free-text reply to a notice, stored in the notice's thread (:class:`hub.messaging.models.ThreadPost`).

Every way a guardian can write back ends here: the portal's reply form, a free-text SMS, a Telegram message. The
text is cleaned the same way whatever the channel (control characters out, at most :data:`MAX_LENGTH`
characters), the post is written with an audit entry (ids only: the text is personal data and the log is
append-only), and staff are told later, inside their charter hours (``staff_notified_at`` stays empty here).

An SMS or a Telegram message carries no reference to a notice, so :func:`notice_for_reply` takes the most recent
notice sent to that phone or chat within :data:`MATCH_WINDOW`: that is the message the guardian is answering in
nearly every case, and an older conversation is better restarted from the personal link than guessed.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence

from tortoise.transactions import in_transaction

from hub.enums import ActorKind, Channel
from hub.messaging.models import Delivery, Notice, ThreadPost
from hub.messaging.rendering import language_of
from hub.people.models import Guardian
from hub.store.audit import audit

__all__ = [
    "MATCH_WINDOW",
    "MAX_LENGTH",
    "ReplyError",
    "clean_body",
    "guardian_language",
    "notice_for_reply",
    "record_guardian_reply",
    "unmatched_reply_text",
]

#: The longest post kept (a Telegram message may be 4096 characters; an SMS reply is at most 1600).
MAX_LENGTH = 4000
#: How far back an SMS or Telegram reply is matched to the notice sent to that phone or chat.
MATCH_WINDOW = dt.timedelta(days=30)
#: The audit action of a guardian's post.
POSTED = "thread.guardian_post"

#: Kept in a post: line breaks and tabs. Dropped: every other control character, and the bidirectional
#: overrides and isolates that can make a post read differently from what it says (U+202A-U+202E, U+2066-U+2069).
_KEPT_CONTROLS = frozenset("\n\t")
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


class ReplyError(ValueError):
    """A reply that cannot be stored; ``code`` says why: ``empty``, ``too_long``, ``unknown_notice``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def clean_body(body: str) -> str:
    """The text as stored: line endings made ``\\n``, control characters dropped, outer whitespace trimmed.
    Raises :class:`ReplyError` when nothing is left or more than :data:`MAX_LENGTH` characters are."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        char
        for char in text
        if char in _KEPT_CONTROLS or (unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS)
    ).strip()
    if not text:
        raise ReplyError("empty", "the reply is empty")
    if len(text) > MAX_LENGTH:
        raise ReplyError("too_long", f"the reply is {len(text)} characters long, {MAX_LENGTH} at most")
    return text


async def record_guardian_reply(
    notice_id: int, guardian_id: int, body: str, channel: Channel, now: dt.datetime
) -> ThreadPost:
    """Store ``body`` as ``guardian_id``'s post in the thread of ``notice_id``, with an audit entry.

    The notice must be addressed to that guardian (a household only writes in its own threads) and the
    guardian must not be erased. Raises :class:`ReplyError` with nothing stored otherwise, or when the text is
    empty or too long once cleaned (:func:`clean_body`)."""
    text = clean_body(body)
    async with in_transaction():
        notice = await Notice.get_or_none(id=notice_id, guardian_id=guardian_id, guardian__erased_at__isnull=True)
        if notice is None:
            raise ReplyError("unknown_notice", f"guardian {guardian_id} has no notice {notice_id}")
        post = await ThreadPost.create(
            notice_id=notice.id,
            author_kind=ActorKind.GUARDIAN,
            guardian_id=guardian_id,
            body=text,
            channel=Channel(channel),
            at=now,
        )
        await audit(
            POSTED,
            at=now,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian_id,
            subject_type="thread_post",
            subject_id=post.id,
            notice_id=notice.id,
            channel=str(channel),
            length=len(text),
        )
    return post


async def notice_for_reply(contact_ids: Sequence[int], channel: Channel, now: dt.datetime) -> Notice | None:
    """The most recent notice sent on ``channel`` to one of these contacts in the last :data:`MATCH_WINDOW`
    (a reminder counts: it is what the guardian last saw), to a guardian who is not erased; None if there is
    none."""
    if not contact_ids:
        return None
    delivery = (
        await Delivery.filter(
            contact_id__in=list(contact_ids),
            channel=Channel(channel),
            sent_at__gte=now - MATCH_WINDOW,
            sent_at__lte=now,
            notice__guardian__erased_at__isnull=True,
        )
        .order_by("-sent_at", "-id")
        .first()
    )
    if delivery is None:
        return None
    return await Notice.get(id=delivery.notice_id)


_UNMATCHED = {
    "fr": (
        "Merci pour votre message. Nous n'avons pas pu le relier à un message récent de l'école : il n'a pas été "
        "transmis. Répondez depuis votre lien personnel ou contactez l'école."
    ),
    "nl": (
        "Bedankt voor uw bericht. We konden het niet koppelen aan een recent bericht van de school: het werd niet "
        "doorgestuurd. Antwoord via uw persoonlijke link of neem contact op met de school."
    ),
    "en": (
        "Thank you for your message. We could not match it to a recent message from the school, so it was not "
        "passed on. Please answer from your personal link or contact the school."
    ),
}
_TOO_LONG = {
    "fr": f"Votre message est trop long ({MAX_LENGTH} caractères au plus) : il n'a pas été transmis.",
    "nl": f"Uw bericht is te lang (hoogstens {MAX_LENGTH} tekens): het werd niet doorgestuurd.",
    "en": f"Your message is too long ({MAX_LENGTH} characters at most), so it was not passed on.",
}


def unmatched_reply_text(language: object, reason: str = "unmatched") -> str:
    """What the guardian is told, in their language, when their message was not stored: ``unmatched`` (no
    recent notice to attach it to) or ``too_long``."""
    texts = _TOO_LONG if reason == "too_long" else _UNMATCHED
    return texts[language_of(language)]


async def guardian_language(guardian_id: int) -> str:
    """The language a guardian reads (French when unknown)."""
    guardian = await Guardian.get_or_none(id=guardian_id)
    return language_of(guardian.language if guardian else None)
