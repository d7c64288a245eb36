"""Messages addressed to pupils: who a message is for (the families, the pupils, or both) and what a pupil reads.

A message's ``to_families`` says whether the guardians of its audience's pupils get notices (``planning.publish``
gives none when it is false); ``to_pupils`` says whether the audience's pupils read it on their own page. Pupils
have no contacts: they are never sent anything, they read on the portal.

A pupil's messages are read from the audience itself, with no row per pupil: a message names the pupil when one
of its terms is the whole school, the pupil themselves, or a group the pupil belongs to or that holds one of the
pupil's groups (a level holds its classes; a school-kind group holds everybody), as :func:`fanout.audience_of`
expands them. A message shows from its time: its publication, or its send time when it was scheduled.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

from tortoise.expressions import Q

from hub.enums import AudienceKind, GroupKind, MessageState
from hub.messaging.models import Attachment, Message, MessageAudience
from hub.people.models import Group, Membership, Pupil
from hub.store.db import ids_of

#: Who reads a message: its families (notices), its pupils (their page), or both.
Recipients = Literal["families", "pupils", "families_and_pupils"]
FAMILIES: Final = "families"
PUPILS: Final = "pupils"
FAMILIES_AND_PUPILS: Final = "families_and_pupils"

#: The choices of the composer and the API, as (to_families, to_pupils).
RECIPIENTS: dict[str, tuple[bool, bool]] = {
    FAMILIES: (True, False),
    PUPILS: (False, True),
    FAMILIES_AND_PUPILS: (True, True),
}


def pupils_only_problem(recipients: str, *, has_slip: bool, needs_acknowledgement: bool) -> str:
    """Why a message to the pupils only cannot be sent so (English, for the page or the API to say), or "".

    A reply slip and an acknowledgement are the guardians' to give (the paper *talon* is signed by a parent): a
    message that no family receives cannot ask either; it would wait for answers nobody is asked for.
    """
    if recipients != PUPILS:
        return ""
    if has_slip:
        return "A message to the pupils only cannot carry a reply slip: families answer slips."
    if needs_acknowledgement:
        return "A message to the pupils only cannot ask for an acknowledgement: families acknowledge."
    return ""


def recipients_of(to_families: bool, to_pupils: bool) -> Recipients:
    """The choice naming these two flags (a message for nobody is read as for its families, the default)."""
    if to_pupils:
        return FAMILIES_AND_PUPILS if to_families else PUPILS
    return FAMILIES


async def _named_by(pupil: Pupil) -> set[int]:
    """The groups whose naming names this pupil: theirs, the groups above them, and the school-kind groups."""
    groups = await Group.filter(school_id=pupil.school_id).values("id", "parent_id", "kind")
    parents = {row["id"]: row["parent_id"] for row in groups}
    named = {row["id"] for row in groups if GroupKind(row["kind"]) is GroupKind.SCHOOL}
    todo = list(await ids_of(Membership.filter(pupil_id=pupil.id), "group_id"))
    while todo:
        group = todo.pop()
        if group in parents and group not in named:
            named.add(group)
            parent = parents[group]
            if parent is not None:
                todo.append(parent)
    return named


def _shown(now: dt.datetime) -> Q:
    """Published (or scheduled) and its time has come."""
    return Q(state__in=[MessageState.PUBLISHED, MessageState.SCHEDULED]) & (
        Q(scheduled_at__lte=now) | Q(scheduled_at__isnull=True, published_at__lte=now)
    )


async def _ids_for(pupil: Pupil) -> list[int]:
    groups = await _named_by(pupil)
    terms = Q(kind=AudienceKind.SCHOOL) | Q(kind=AudienceKind.PUPIL, pupil_id=pupil.id)
    if groups:
        terms |= Q(kind=AudienceKind.GROUP, group_id__in=sorted(groups))
    return list(
        await ids_of(
            MessageAudience.filter(terms, message__school_id=pupil.school_id, message__to_pupils=True), "message_id"
        )
    )


async def for_pupil(pupil_id: int, now: dt.datetime, *, limit: int = 50) -> list[Message]:
    """The messages this (active) pupil may read at ``now``, newest first."""
    pupil = await Pupil.get_or_none(id=pupil_id, active=True)
    if pupil is None:
        return []
    ids = await _ids_for(pupil)
    if not ids:
        return []
    found = await Message.filter(_shown(now), id__in=sorted(set(ids)))  # a pupil's year: hundreds at most
    found.sort(key=lambda m: (shown_at(m), m.id), reverse=True)
    return found[:limit]


async def pupil_message(pupil_id: int, message_id: int, now: dt.datetime) -> Message | None:
    """This message if this pupil may read it at ``now``, else None (another pupil's message is "not found")."""
    pupil = await Pupil.get_or_none(id=pupil_id, active=True)
    if pupil is None or message_id not in await _ids_for(pupil):
        return None
    return await Message.filter(_shown(now), id=message_id, to_pupils=True).first()


async def attachments_of(message_id: int) -> list[Attachment]:
    return await Attachment.filter(message_id=message_id).order_by("id").only("id", "filename", "size")


async def pupil_attachment(pupil_id: int, attachment_id: int, now: dt.datetime) -> Attachment | None:
    """The file if it belongs to a message this pupil may read at ``now``."""
    found = await Attachment.get_or_none(id=attachment_id)
    if found is None or await pupil_message(pupil_id, found.message_id, now) is None:
        return None
    return found


def shown_at(message: Message) -> dt.datetime:
    """The time the message shows from: its send time if it was scheduled, else its publication."""
    return message.scheduled_at or message.published_at or message.created_at
