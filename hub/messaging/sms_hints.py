"""The composer's SMS hint: which characters force an SMS into UCS-2 (70 characters a segment instead of 160),
what the GSM-7 form would save, and rewriting a draft's subjects into it when the author asks (one click).

The SMS carries the subject, the school's name and the link (``hub.messaging.rendering.render_sms``); the fixed
words are already GSM-7 friendly, so the characters named are the author's (or the school name's). Nothing is
rewritten without the author's click: ``gsm_friendly`` changes what families read (œ → oe, ’ → ').
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from tortoise.transactions import in_transaction

from hub.enums import ActorKind, MessageState
from hub.messaging.models import Message, MessageVersion
from hub.messaging.routing import sms_preview
from hub.messaging.sms_segments import UCS2, SegmentCount, encoding_of, gsm_friendly, ucs2_characters
from hub.store.audit import audit


@dataclass(frozen=True)
class Character:
    char: str
    #: The Unicode name ("RIGHT SINGLE QUOTATION MARK"), for a character that looks like another.
    name: str
    #: What the GSM-7 form puts instead ("" when it has no replacement: an emoji stays, and keeps UCS-2).
    replacement: str


@dataclass(frozen=True)
class Ucs2Hint:
    characters: tuple[Character, ...]
    before: SegmentCount
    after: SegmentCount
    cost_before: Decimal
    cost_after: Decimal

    @property
    def saves(self) -> bool:
        return self.after.segments < self.before.segments


def ucs2_hint(text: str, recipients: int) -> Ucs2Hint | None:
    """The hint for an SMS ``text`` sent to ``recipients``, None when it is GSM-7 already."""
    if encoding_of(text) != UCS2:
        return None
    chars = tuple(
        Character(c, unicodedata.name(c, f"U+{ord(c):04X}"), r if (r := gsm_friendly(c)) != c else "")
        for c in ucs2_characters(text)
    )
    before, cost_before = sms_preview(text, recipients)
    after, cost_after = sms_preview(gsm_friendly(text), recipients)
    return Ucs2Hint(chars, before, after, cost_before, cost_after)


async def apply_gsm7(author_id: int, school_id: int, message_id: int, *, now: dt.datetime) -> bool:
    """Rewrite the subjects (the school's and every version's) of this author's draft in their GSM-7 form: the
    words the SMS carries. False when it is not their draft (nothing changes)."""
    async with in_transaction():
        message = await Message.get_or_none(
            id=message_id, school_id=school_id, author_id=author_id, state=MessageState.DRAFT
        )
        if message is None:
            return False
        await Message.filter(id=message.id).update(subject=gsm_friendly(message.subject))
        for version in await MessageVersion.filter(message_id=message.id):
            await MessageVersion.filter(id=version.id).update(subject=gsm_friendly(version.subject))
        await audit(
            "message.gsm7_applied",
            at=now,
            actor_kind=ActorKind.STAFF,
            actor_id=author_id,
            subject_type="message",
            subject_id=message.id,
        )
    return True
