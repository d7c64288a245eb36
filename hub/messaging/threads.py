"""Reply threads: a guardian writes back to the sender of a message, staff answer, and staff are told of new
posts only inside their charter hours.

A thread belongs to one message and one household. Its posts are stored on the notices (one per guardian) of
that message: a guardian writes on their own notice, and the guardians of the same household read each other's
posts and the school's answers, so two parents living together share one conversation. The other household of a
separated family has its own notices, hence its own thread, and never sees this one. A guardian only reads a
household member's notice whose pupils they may all see themselves (a court-order bar is never crossed by living
together).

Staff read the threads of the messages :mod:`hub.messaging.access` lets them read: the sender, the teachers of the
classes
and courses the message was addressed to, and the whole-school roles. A guardian's post is stored at once
(:func:`hub.messaging.replies.record_guardian_reply`, whatever the channel) and staff are told by an email digest
(:func:`notify_staff`) only while ``charter.staff_available``: a post written at night waits for the morning.
The guardian is told when to expect an answer (``charter.expected_reply_by``).

Nothing here knows about HTTP: the pages (:mod:`hub.web.threads`) and the portal's message page call these
functions with the signed-in person as the ``viewer``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from channels.base import Outcome, Rendered
from charter import Charter, expected_reply_by, is_allowed, next_staff_available, staff_available
from hub import typography
from hub.enums import ActorKind, AudienceKind, Channel, ConsentPurpose, ContactKind, StaffRole, Urgency
from hub.messaging import access
from hub.messaging.models import Message, MessageAudience, Notice, NoticePupil, ThreadPost
from hub.messaging.rendering import language_of
from hub.messaging.replies import MAX_LENGTH, ReplyError, clean_body, record_guardian_reply
from hub.people.consent import current_purposes
from hub.people.models import Contact, Guardian, Membership, Staff, Teaching
from hub.people.preferences import QuietHours
from hub.store.audit import audit
from hub.store.db import ids_of

__all__ = [
    "MAX_LENGTH",
    "InboxEntry",
    "PostView",
    "Reader",
    "ReplyError",
    "Thread",
    "Viewer",
    "in_quiet_hours",
    "inbox",
    "mark_read",
    "notify_families",
    "notify_family",
    "notify_staff",
    "post_as_guardian",
    "post_as_staff",
    "thread_view",
]

log = logging.getLogger(__name__)

#: The audit action of a staff answer, and of a thread read by staff.
ANSWERED = "thread.staff_post"
READ = "thread.read"
#: The most threads the inbox lists (unread first, then the most recent).
INBOX_LIMIT = 200

#: How a digest is sent: the email adapter's ``send`` (an address and a rendering, an outcome back).
Send = Callable[[str, Rendered], Awaitable[Outcome]]


class Viewer(Protocol):
    """Who reads a thread: the web kit's ``Actor`` fits, and so does :class:`Reader`."""

    @property
    def kind(self) -> ActorKind: ...
    @property
    def id(self) -> int: ...
    @property
    def roles(self) -> frozenset[StaffRole]: ...
    @property
    def school_id(self) -> int: ...


@dataclass(frozen=True)
class Reader:
    """A viewer without a session: the guardian holding a notice's personal link, or staff in a script."""

    kind: ActorKind
    id: int
    roles: frozenset[StaffRole] = frozenset()
    school_id: int = 0


@dataclass(frozen=True)
class PostView:
    id: int
    by_staff: bool
    #: The writer's name (empty for a guardian whose data was erased).
    author: str
    body: str
    at: dt.datetime
    channel: str
    #: A guardian's post no member of staff has opened yet.
    unread: bool


@dataclass(frozen=True)
class Thread:
    """One household's conversation about one message, as ``viewer`` may see it."""

    notice_id: int
    message_id: int
    subject: str
    sender: str
    #: The pupils of the household's notices, and the household's guardians who received the message.
    pupils: tuple[str, ...]
    family: tuple[str, ...]
    posts: tuple[PostView, ...]
    for_staff: bool
    #: The oldest guardian post the school has not answered yet (None when every post has its answer).
    waiting_since: dt.datetime | None
    #: When the school will answer: the waiting post, else a post written now (``charter.expected_reply_by``).
    answer_by: dt.datetime
    #: Whether staff hours are open now, and when they next open (``now`` itself when open).
    staff_open: bool
    staff_opens_at: dt.datetime
    max_length: int = MAX_LENGTH


@dataclass(frozen=True)
class InboxEntry:
    """One thread in a staff member's inbox, opened at ``/staff/inbox/{notice_id}``."""

    notice_id: int
    subject: str
    family: tuple[str, ...]
    pupils: tuple[str, ...]
    last_post_at: dt.datetime
    unread: int
    #: The last post is the school's.
    answered: bool


# ------------------------------------------------------------------------------------------------ scoping


#: A thread: its message and its household (see :func:`_household_key`); a post as the inbox reads it.
_ThreadKey = tuple[int, tuple[str, int]]
_Row = dict[str, Any]


def _household_key(household_id: int | None, guardian_id: int) -> tuple[str, int]:
    """Guardians without a household each form their own."""
    return ("household", household_id) if household_id is not None else ("guardian", guardian_id)


async def _thread_notice_ids(notice: Notice, viewer: Viewer) -> list[int]:
    """The notices of ``notice``'s message held by its household, that ``viewer`` may read."""
    guardian = await Guardian.get(id=notice.guardian_id)
    if guardian.household_id is None:
        return [notice.id]
    ids = await ids_of(Notice.filter(message_id=notice.message_id, guardian__household_id=guardian.household_id))
    if viewer.kind != ActorKind.GUARDIAN:
        return sorted(ids)
    allowed = await access.guardian_pupil_ids(viewer.id)
    pupils: dict[int, set[int]] = defaultdict(set)
    for notice_id, pupil_id in await NoticePupil.filter(notice_id__in=ids).values_list("notice_id", "pupil_id"):
        pupils[notice_id].add(pupil_id)
    return sorted(i for i in ids if i == notice.id or pupils[i] <= allowed)


async def _visible_notice(notice_id: int, viewer: Viewer) -> Notice | None:
    """The notice if ``viewer`` may read its thread: a guardian their own, staff those of messages they read."""
    if viewer.kind == ActorKind.GUARDIAN:
        return await access.guardian_notice(viewer.id, notice_id)
    if viewer.kind != ActorKind.STAFF:
        return None
    notice = await Notice.filter(id=notice_id).first()
    if notice is None:
        return None
    message = await access.staff_message(viewer.id, viewer.roles, viewer.school_id, notice.message_id)
    return notice if message is not None else None


async def visible_message_ids(viewer: Viewer, candidates: Iterable[int]) -> set[int]:
    """Which of these messages ``viewer`` (staff) may read: :func:`hub.messaging.access.staff_message` for a whole set
    in
    a few queries (the inbox asks for every message that has replies)."""
    messages = await Message.filter(id__in=list(candidates), school_id=viewer.school_id).values_list("id", "author_id")
    if access.sees_whole_school(viewer.roles):
        return {message_id for message_id, _author in messages}
    visible = {message_id for message_id, author in messages if author == viewer.id}
    groups = await access.taught_group_ids(viewer.id)
    rest = [message_id for message_id, _author in messages if message_id not in visible]
    if not groups or not rest:
        return visible
    terms = await MessageAudience.filter(message_id__in=rest).values_list("message_id", "kind", "group_id", "pupil_id")
    visible |= {m for m, kind, group, _pupil in terms if kind == AudienceKind.GROUP and group in groups}
    named = {pupil for _m, kind, _group, pupil in terms if kind == AudienceKind.PUPIL}
    if named:
        taught = set(await ids_of(Membership.filter(group_id__in=groups, pupil_id__in=named), "pupil_id"))
        visible |= {m for m, kind, _group, pupil in terms if kind == AudienceKind.PUPIL and pupil in taught}
    return visible


# ------------------------------------------------------------------------------------------------ reading


def _name(first: str | None, last: str | None) -> str:
    return f"{first or ''} {last or ''}".strip()


async def _posts(notice_ids: Sequence[int]) -> list[PostView]:
    rows = (
        await ThreadPost.filter(notice_id__in=list(notice_ids))
        .order_by("at", "id")
        .values(
            "id",
            "author_kind",
            "body",
            "at",
            "channel",
            "read_at",
            "guardian__first_name",
            "guardian__last_name",
            "staff__first_name",
            "staff__last_name",
        )
    )
    views = []
    for row in rows:
        by_staff = row["author_kind"] == ActorKind.STAFF
        prefix = "staff" if by_staff else "guardian"
        views.append(
            PostView(
                id=row["id"],
                by_staff=by_staff,
                author=_name(row[f"{prefix}__first_name"], row[f"{prefix}__last_name"]),
                body=row["body"],
                at=row["at"],
                channel=str(row["channel"]),
                unread=not by_staff and row["read_at"] is None,
            )
        )
    return views


def _waiting_since(posts: Sequence[PostView]) -> dt.datetime | None:
    """The first guardian post after the school's last answer."""
    waiting = None
    for post in posts:
        if post.by_staff:
            waiting = None
        elif waiting is None:
            waiting = post.at
    return waiting


async def thread_view(notice_id: int, viewer: Viewer, now: dt.datetime, charter: Charter) -> Thread | None:
    """The thread of this notice as ``viewer`` sees it, or None when they may not (a page answers 404).

    For the portal's message page: ``thread = await hub.messaging.threads.thread_view(notice.id, actor, now,
    web.charter)``.
    Reading changes nothing (staff mark a thread read with :func:`mark_read`)."""
    notice = await _visible_notice(notice_id, viewer)
    if notice is None:
        return None
    notice_ids = await _thread_notice_ids(notice, viewer)
    message = await Message.get(id=notice.message_id).prefetch_related("author")
    pupils = (
        await NoticePupil.filter(notice_id__in=notice_ids)
        .order_by("pupil__first_name", "pupil__last_name")
        .distinct()
        .values_list("pupil__first_name", "pupil__last_name")
    )
    family = (
        await Notice.filter(id__in=notice_ids)
        .order_by("guardian__last_name", "guardian__first_name")
        .values_list("guardian__first_name", "guardian__last_name")
    )
    posts = await _posts(notice_ids)
    waiting = _waiting_since(posts)
    return Thread(
        notice_id=notice.id,
        message_id=message.id,
        subject=message.subject,
        sender=_name(message.author.first_name, message.author.last_name),
        pupils=tuple(dict.fromkeys(_name(first, last) for first, last in pupils)),
        family=tuple(name for name in (_name(first, last) for first, last in family) if name),
        posts=tuple(posts),
        for_staff=viewer.kind == ActorKind.STAFF,
        waiting_since=waiting,
        answer_by=expected_reply_by(charter, waiting or now),
        staff_open=staff_available(charter, now),
        staff_opens_at=next_staff_available(charter, now),
    )


async def mark_read(notice_id: int, viewer: Viewer, now: dt.datetime) -> int:
    """Staff opened the thread: its guardian posts are read. How many were unread (0 when not visible)."""
    notice = await _visible_notice(notice_id, viewer)
    if notice is None or viewer.kind != ActorKind.STAFF:
        return 0
    notice_ids = await _thread_notice_ids(notice, viewer)
    count = await ThreadPost.filter(
        notice_id__in=notice_ids, author_kind=ActorKind.GUARDIAN, read_at__isnull=True
    ).update(read_at=now)
    if count:
        await audit(
            READ,
            at=now,
            actor_kind=ActorKind.STAFF,
            actor_id=viewer.id,
            subject_type="notice",
            subject_id=notice.id,
            posts=count,
        )
    return count


async def inbox(viewer: Viewer) -> list[InboxEntry]:
    """The threads with guardian posts on messages this member of staff may read: unread first, then the most
    recent. One entry per household and message, opened through the notice that was written on last."""
    if viewer.kind != ActorKind.STAFF:
        return []
    candidates = await ids_of(
        ThreadPost.filter(author_kind=ActorKind.GUARDIAN, notice__message__school_id=viewer.school_id).distinct(),
        "notice__message_id",
    )
    messages = await visible_message_ids(viewer, candidates)
    if not messages:
        return []
    rows = (
        await ThreadPost.filter(notice__message_id__in=list(messages))
        .order_by("at", "id")
        .values(
            "author_kind",
            "at",
            "read_at",
            "notice_id",
            "notice__message_id",
            "notice__guardian_id",
            "notice__guardian__household_id",
        )
    )
    conversations: dict[_ThreadKey, list[_Row]] = defaultdict(list)
    for row in rows:
        household = _household_key(row["notice__guardian__household_id"], row["notice__guardian_id"])
        conversations[(row["notice__message_id"], household)].append(row)
    return await _entries({key: posts for key, posts in conversations.items() if any(_by_guardian(p) for p in posts)})


def _by_guardian(row: _Row) -> bool:
    return row["author_kind"] == ActorKind.GUARDIAN


async def _entries(threads: dict[_ThreadKey, list[_Row]]) -> list[InboxEntry]:
    """Inbox entries of grouped post rows, with the subjects, families and pupils read in three queries."""
    opened = {key: [p for p in posts if _by_guardian(p)][-1]["notice_id"] for key, posts in threads.items()}
    subjects = dict(await Message.filter(id__in={m for m, _h in threads}).values_list("id", "subject"))
    writers: dict[_ThreadKey, list[int]] = {
        key: list(dict.fromkeys(p["notice__guardian_id"] for p in posts if _by_guardian(p)))
        for key, posts in threads.items()
    }
    names = {
        gid: _name(first, last)
        for gid, first, last in await Guardian.filter(id__in={g for ids in writers.values() for g in ids}).values_list(
            "id", "first_name", "last_name"
        )
    }
    pupils: dict[int, list[str]] = defaultdict(list)
    for notice_id, first, last in (
        await NoticePupil.filter(notice_id__in=set(opened.values()))
        .order_by("pupil__first_name")
        .values_list("notice_id", "pupil__first_name", "pupil__last_name")
    ):
        pupils[notice_id].append(_name(first, last))
    entries = []
    for key, posts in threads.items():
        from_family = [p for p in posts if _by_guardian(p)]
        entries.append(
            InboxEntry(
                notice_id=opened[key],
                subject=subjects.get(key[0], ""),
                family=tuple(names[g] for g in writers[key] if names.get(g)),
                pupils=tuple(pupils[opened[key]]),
                last_post_at=posts[-1]["at"],
                unread=sum(p["read_at"] is None for p in from_family),
                answered=not _by_guardian(posts[-1]),
            )
        )
    entries.sort(key=lambda e: (e.unread == 0, -e.last_post_at.timestamp(), -e.notice_id))
    return entries[:INBOX_LIMIT]


# ------------------------------------------------------------------------------------------------ writing


async def post_as_guardian(
    notice_id: int, guardian_id: int, body: str, now: dt.datetime, channel: Channel = Channel.PORTAL
) -> ThreadPost:
    """A guardian's post on their own notice (:func:`hub.messaging.replies.record_guardian_reply`: same cleaning and
    limits whatever the channel). Raises :class:`ReplyError` with nothing stored."""
    return await record_guardian_reply(notice_id, guardian_id, body, channel, now)


async def post_as_staff(notice_id: int, viewer: Viewer, body: str, now: dt.datetime) -> ThreadPost:
    """A member of staff answers in the thread of this notice; the family's posts are read from then on.

    Raises :class:`ReplyError` (``unknown_notice`` when the thread is not theirs to read, ``empty``,
    ``too_long``) with nothing stored."""
    text = clean_body(body)
    notice = await _visible_notice(notice_id, viewer)
    if notice is None or viewer.kind != ActorKind.STAFF:
        raise ReplyError("unknown_notice", f"staff {viewer.id} may not answer notice {notice_id}")
    notice_ids = await _thread_notice_ids(notice, viewer)
    async with in_transaction():
        post = await ThreadPost.create(
            notice_id=notice.id,
            author_kind=ActorKind.STAFF,
            staff_id=viewer.id,
            body=text,
            channel=Channel.PORTAL,
            at=now,
        )
        await ThreadPost.filter(notice_id__in=notice_ids, author_kind=ActorKind.GUARDIAN, read_at__isnull=True).update(
            read_at=now
        )
        await audit(
            ANSWERED,
            at=now,
            actor_kind=ActorKind.STAFF,
            actor_id=viewer.id,
            subject_type="thread_post",
            subject_id=post.id,
            notice_id=notice.id,
            length=len(text),
        )
    return post


# ---------------------------------------------------------------------------------------- telling staff


@dataclass
class _Digest:
    staff: Staff
    items: list[tuple[Notice, int]] = field(default_factory=list)


async def followers(message_ids: Iterable[int]) -> dict[int, set[int]]:
    """Who is told of replies to each message: its sender and the teachers of the classes and courses it was
    addressed to, or, for a message about named pupils, the class teachers (titulaires) of those pupils. A
    level or whole-school message tells its sender only: dozens of teachers do not need every parent's note."""
    ids = list(message_ids)
    told: dict[int, set[int]] = defaultdict(set)
    for message_id, author_id in await Message.filter(id__in=ids).values_list("id", "author_id"):
        told[message_id].add(author_id)
    terms = await MessageAudience.filter(message_id__in=ids).values_list("message_id", "kind", "group_id", "pupil_id")
    groups = {group for _m, kind, group, _p in terms if kind == AudienceKind.GROUP}
    teachers: dict[int, set[int]] = defaultdict(set)
    for staff_id, group_id in await Teaching.filter(group_id__in=groups).values_list("staff_id", "group_id"):
        teachers[group_id].add(staff_id)
    pupils = {pupil for _m, kind, _g, pupil in terms if kind == AudienceKind.PUPIL}
    titulaires: dict[int, set[int]] = defaultdict(set)
    if pupils:
        classes = await Membership.filter(pupil_id__in=pupils).values_list("pupil_id", "group_id")
        titular = await Teaching.filter(group_id__in={g for _p, g in classes}, is_titular=True).values_list(
            "group_id", "staff_id"
        )
        by_group: dict[int, set[int]] = defaultdict(set)
        for group_id, staff_id in titular:
            by_group[group_id].add(staff_id)
        for pupil_id, group_id in classes:
            titulaires[pupil_id] |= by_group[group_id]
    for message_id, kind, group_id, pupil_id in terms:
        told[message_id] |= teachers[group_id] if kind == AudienceKind.GROUP else titulaires[pupil_id]
    return told


async def notify_staff(now: dt.datetime, charter: Charter, send: Send, *, base_url: str = "") -> int:
    """Tell staff of the guardian posts not told yet: one email digest per member of staff, listing the new
    replies to the messages they follow (:func:`followers`). Outside staff hours (``charter.staff_available``)
    nothing is sent and the posts wait. Returns how many digests were sent.

    The posts are claimed first (``staff_notified_at`` set where still empty), then the digests sent: two
    workers never send the same digest, and a digest that fails is logged, not retried (the thread is in the
    inbox all the same). The email names the message, the pupils and who wrote, never the text: it leaves the
    school's systems, the text stays in Carnet behind a sign-in."""
    if not staff_available(charter, now):
        return 0
    # Claimed by one conditional update and read back by the same mark: no list of ids, whatever their number.
    marked = await ThreadPost.filter(author_kind=ActorKind.GUARDIAN, staff_notified_at__isnull=True).update(
        staff_notified_at=now
    )
    if not marked:
        return 0
    claimed = await ThreadPost.filter(author_kind=ActorKind.GUARDIAN, staff_notified_at=now).select_related(
        "notice__message", "guardian"
    )
    digests = await _digests(claimed)
    sent = 0
    for digest in digests.values():
        outcome = await send(digest.staff.email, await _render_digest(digest, base_url, claimed_at=now))
        if outcome.ok:
            sent += 1
        else:
            log.warning("reply digest to staff %s failed: %s", digest.staff.id, outcome.error)
    await audit("thread.staff_notified", at=now, posts=len(claimed), digests=sent)
    return sent


async def _digests(posts: Sequence[ThreadPost]) -> dict[int, _Digest]:
    """Who gets which posts: one digest per member of staff, one line per thread (notice) in it."""
    told = await followers({post.notice.message_id for post in posts})
    staff = {s.id: s for s in await Staff.filter(id__in={i for ids in told.values() for i in ids}, active=True)}
    digests: dict[int, _Digest] = {}
    for post in posts:
        for staff_id in sorted(told[post.notice.message_id]):
            if staff_id not in staff:
                continue
            digest = digests.setdefault(staff_id, _Digest(staff[staff_id]))
            for i, (notice, count) in enumerate(digest.items):
                if notice.id == post.notice.id:
                    digest.items[i] = (notice, count + 1)
                    break
            else:
                digest.items.append((post.notice, 1))
    return digests


_DIGEST = {
    "fr": {
        "subject": "Carnet : nouvelles réponses de parents ({count})",
        "intro": "Des parents ont répondu à vos messages :",
        "line": "{who}{pupils}, à propos de « {subject} » ({posts})",
        "open": "Lire et répondre : {url}",
        "outro": "Ce résumé ne reprend pas le texte des réponses : lisez-le dans Carnet.",
    },
    "nl": {
        "subject": "Carnet: nieuwe antwoorden van ouders ({count})",
        "intro": "Ouders hebben geantwoord op uw berichten:",
        "line": "{who}{pupils}, over ‘{subject}’ ({posts})",
        "open": "Lezen en antwoorden: {url}",
        "outro": "Deze samenvatting bevat de tekst van de antwoorden niet: lees hem in Carnet.",
    },
    "en": {
        "subject": "Carnet: new replies from parents ({count})",
        "intro": "Parents have replied to your messages:",
        "line": "{who}{pupils}, about “{subject}” ({posts})",
        "open": "Read and answer: {url}",
        "outro": "This summary does not repeat the replies' text: read it in Carnet.",
    },
}


async def _render_digest(digest: _Digest, base_url: str, *, claimed_at: dt.datetime | None = None) -> Rendered:
    """The digest in the staff member's language: one line and one link per thread.

    ``claimed_at``: the threads are those of the posts claimed at that moment, read through a subquery rather than
    a list of their ids (a busy morning's digest may name thousands)."""
    lang = language_of(digest.staff.language)
    words = {key: typography.fix(text, lang) for key, text in _DIGEST[lang].items()}
    notice_ids = [notice.id for notice, _count in digest.items]
    named: Any = notice_ids
    if claimed_at is not None:
        named = Subquery(
            ThreadPost.filter(author_kind=ActorKind.GUARDIAN, staff_notified_at=claimed_at).values("notice_id")
        )
    pupils: dict[int, list[str]] = defaultdict(list)
    for notice_id, first, last in (
        await NoticePupil.filter(notice_id__in=named)
        .order_by("pupil__first_name")
        .values_list("notice_id", "pupil__first_name", "pupil__last_name")
    ):
        pupils[notice_id].append(_name(first, last))
    guardians = {
        notice_id: _name(first, last)
        for notice_id, first, last in await Notice.filter(id__in=named).values_list(
            "id", "guardian__first_name", "guardian__last_name"
        )
    }
    lines = [words["intro"], ""]
    for notice, count in digest.items:
        about = f" ({', '.join(pupils[notice.id])})" if pupils[notice.id] else ""
        who = guardians.get(notice.id) or "?"
        lines.append("- " + words["line"].format(subject=notice.message.subject, posts=count, who=who, pupils=about))
        lines.append("  " + words["open"].format(url=f"{base_url.rstrip('/')}/staff/inbox/{notice.id}"))
    lines += ["", words["outro"]]
    total = sum(count for _notice, count in digest.items)
    return Rendered(
        language=lang,
        subject=words["subject"].format(count=total),
        text="\n".join(lines),
        link=f"{base_url.rstrip('/')}/staff/inbox",
    )


# -------------------------------------------------------------------------------------- telling the family


_ANSWERED = {
    "fr": {
        "subject": "Réponse de l'école : {subject}",
        "text": "{staff} a répondu à votre message à propos de « {subject} ».\n\nLire la réponse : {url}",
    },
    "nl": {
        "subject": "Antwoord van de school: {subject}",
        "text": "{staff} heeft geantwoord op uw bericht over ‘{subject}’.\n\nLees het antwoord: {url}",
    },
    "en": {
        "subject": "The school's answer: {subject}",
        "text": "{staff} answered your message about “{subject}”.\n\nRead the answer: {url}",
    },
}


#: A staff answer not announced within this time is left to the message page (the family has likely seen it).
ANNOUNCE_WITHIN = dt.timedelta(days=7)


async def notify_family(post_id: int, now: dt.datetime, charter: Charter, send: Send, *, base_url: str) -> int:
    """Email the guardians who wrote in the thread that the school answered (post ``post_id``); how many were.

    Only when a normal message may reach families now (``charter.is_allowed``) and none of the writers is in
    their own quiet hours; otherwise the announcement waits (``family_notified_at`` stays empty) and
    :func:`notify_families`, run by the worker, sends it when it may: an answer written at night is announced in
    the morning. The post is claimed before sending, so it is announced once. Each guardian gets it at a
    verified, live address, with their consent to school messages by email. The email carries the link to their
    own notice's thread, not the answer's text."""
    if not is_allowed(charter, now, Urgency.NORMAL):
        return 0
    post = await ThreadPost.get(id=post_id).prefetch_related("notice__message", "staff")
    if post.author_kind != ActorKind.STAFF or post.family_notified_at is not None:
        return 0
    notice_ids = await _thread_notice_ids(post.notice, Reader(ActorKind.SYSTEM, 0))
    writers = set(
        await ids_of(ThreadPost.filter(notice_id__in=notice_ids, author_kind=ActorKind.GUARDIAN), "guardian_id")
    )
    guardians = await Guardian.filter(id__in=[g for g in writers if g is not None], erased_at__isnull=True)
    if any(in_quiet_hours(guardian, now, charter) for guardian in guardians):
        return 0
    if not await ThreadPost.filter(id=post.id, family_notified_at__isnull=True).update(family_notified_at=now):
        return 0  # another process announced it
    consents = await current_purposes(sorted(g.id for g in guardians))
    told = 0
    for guardian in guardians:
        if not {ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.EMAIL} <= consents.get(guardian.id, set()):
            continue
        notice = await Notice.filter(id__in=notice_ids, guardian_id=guardian.id).first()
        address = (
            await Contact.filter(guardian_id=guardian.id, kind=ContactKind.EMAIL, verified=True, dead_at__isnull=True)
            .order_by("id")
            .first()
        )
        if notice is None or address is None:
            continue
        lang = language_of(guardian.language)
        words = {key: typography.fix(text, lang) for key, text in _ANSWERED[lang].items()}
        subject = post.notice.message.subject
        url = f"{base_url.rstrip('/')}/n/{notice.token}/reply"
        staff = _name(post.staff.first_name, post.staff.last_name) if post.staff else ""
        rendered = Rendered(
            language=lang,
            subject=words["subject"].format(subject=subject),
            text=words["text"].format(staff=staff or "?", subject=subject, url=url),
            link=url,
            idempotency_key=f"answer-{post.id}-{guardian.id}",
        )
        outcome = await send(address.value, rendered)
        if outcome.ok:
            told += 1
        else:
            log.warning("answer notice to guardian %s failed: %s", guardian.id, outcome.error)
    if told:
        await audit("thread.family_notified", at=now, subject_type="thread_post", subject_id=post.id, guardians=told)
    return told


async def notify_families(now: dt.datetime, charter: Charter, send: Send, *, base_url: str) -> int:
    """Announce the staff answers that waited for the charter's hours or a family's quiet hours (the worker
    runs this on each pass); how many guardians were emailed."""
    if not is_allowed(charter, now, Urgency.NORMAL):
        return 0
    waiting = await ids_of(
        ThreadPost.filter(author_kind=ActorKind.STAFF, family_notified_at__isnull=True, at__gte=now - ANNOUNCE_WITHIN)
    )
    told = 0
    for post_id in waiting:
        told += await notify_family(post_id, now, charter, send, base_url=base_url)
    return told


def in_quiet_hours(guardian: Guardian, now: dt.datetime, charter: Charter) -> bool:
    """Whether ``now`` falls in the guardian's own quiet hours (wall-clock times: a driver's tzinfo is dropped)."""
    if guardian.quiet_from is None or guardian.quiet_until is None:
        return False
    start, end = guardian.quiet_from.replace(tzinfo=None), guardian.quiet_until.replace(tzinfo=None)
    return start != end and QuietHours(start, end).end_after(now, charter.tz) is not None
