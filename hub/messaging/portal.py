"""The guardians' portal: their inbox, a message with its acknowledgement and reply slip, their children's records.

The rules over the database, with the clock passed in and no web framework, so the portal's pages, the personal
link's page (:mod:`hub.messaging.notice_page`) and the JSON API share them. Every query is scoped by
:mod:`hub.messaging.access`: a
guardian reads only their own notices, and only while a pupil the notice names is still theirs to see (a court
order given after the message hides it); a pupil or notice of another family is simply not found (None), which
the pages turn into a 404.

The reply slip. Each answer is stored by :func:`hub.messaging.planning.record_answer` (for one pupil; a second answer
by the
same guardian replaces the first). Answering is open until the slip's deadline. When the slip takes one answer
per pupil, the first guardian to answer closes it for that pupil: the others see who answered, when and what,
and keep their form closed (separated parents do not overwrite each other). When every guardian must answer, one
form answers for all the pupils of the notice the guardian may answer for. A guardian without the right to
answer for a pupil (``may_answer``) sees the slip read-only. Refusals a person can fix are codes
(:class:`SlipRefused`, :class:`FieldErrors`) the pages translate; nothing is stored when one is raised.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.enums import (
    ActorKind,
    AnswerMode,
    Channel,
    MessageState,
    QuestionKind,
)
from hub.inputs import parse_count
from hub.messaging import access, rendering, translations
from hub.messaging.models import Acknowledgement, Attachment, Notice, NoticePupil, ReplySlip, SlipQuestion, SlipResponse
from hub.messaging.planning import PlanningError, record_acknowledgement, record_answer
from hub.people.models import Pupil
from hub.store import sql
from hub.store.audit import audit
from hub.store.db import ids_of

#: Messages per page of the inbox: a term's worth of news fits on a few pages, short enough for a phone.
PER_PAGE = 20
#: The longest free-text answer (a paragraph, as on the paper slip).
MAX_FREE_TEXT = 2000
#: The largest count for an amount with a unit price (tickets, meals), and the largest free amount in euro.
MAX_COUNT = 1000
MAX_AMOUNT = Decimal(100_000)
#: The longest typed signature (a full name).
MAX_SIGNATURE = 200


@dataclass(frozen=True)
class PupilRef:
    id: int
    name: str


# ------------------------------------------------------------------------------------------------- the inbox


@dataclass(frozen=True)
class InboxItem:
    notice_id: int
    subject: str
    sender: str
    sent_at: dt.datetime
    urgency: str
    pupils: tuple[str, ...]
    unread: bool
    #: The message asks for "I have read" and the guardian has not said it yet.
    to_acknowledge: bool
    #: The reply slip's deadline (None: no slip) and where it stands for this guardian: ``to_answer`` (open and
    #: still theirs to answer), ``answered`` (by them, or by the other guardian when one answer per pupil),
    #: ``closed`` (past the deadline unanswered), ``read_only`` (no right to answer), "" without a slip.
    deadline: dt.datetime | None
    slip_state: str
    has_attachments: bool

    @property
    def to_answer(self) -> bool:
        return self.slip_state == "to_answer"

    @property
    def to_do(self) -> bool:
        return self.to_acknowledge or self.to_answer


@dataclass(frozen=True)
class Inbox:
    items: list[InboxItem]
    #: Everything that needs doing, whatever the page (to acknowledge, slips to answer before their deadline).
    to_do: list[InboxItem]
    children: list[PupilRef]
    pupil_id: int | None
    page: int
    pages: int
    total: int
    unread: int


async def visible_pupils(guardian_id: int) -> list[PupilRef]:
    """The children this guardian may see (court-order bars excluded), by first name."""
    ids = await access.guardian_pupil_ids(guardian_id)
    rows = (
        await Pupil.filter(id__in=list(ids))
        .order_by("first_name", "last_name", "id")
        .values_list("id", "first_name", "last_name")
    )
    return [PupilRef(pid, f"{first} {last}") for pid, first, last in rows]


async def visible_notice_ids(guardian_id: int, pupil_id: int | None = None) -> set[int]:
    """This guardian's published notices naming a pupil they may still see (or naming ``pupil_id``)."""
    pupils = await access.guardian_pupil_ids(guardian_id)
    if pupil_id is not None:
        pupils &= {pupil_id}
    if not pupils:
        return set()
    rows = await ids_of(
        NoticePupil.filter(
            notice__guardian_id=guardian_id, notice__message__state=MessageState.PUBLISHED, pupil_id__in=list(pupils)
        ),
        "notice_id",
    )
    return set(rows)


async def inbox(guardian_id: int, *, now: dt.datetime, pupil_id: int | None = None, page: int = 1) -> Inbox | None:
    """The guardian's messages, newest first, ``PER_PAGE`` a page; None when ``pupil_id`` is not one of theirs.

    One statement whatever the inbox holds (two when the guardian reads another language than the school's: the
    subjects written in theirs): the family (the children they may see and those they may answer for) with the
    lines of the page and of what needs doing, and the counts of the whole inbox, each line carrying its
    acknowledgement, file, reply slip and the answers given for its pupils. Only those lines are read, however
    long the inbox."""
    family, rows = await _inbox_rows(guardian_id, pupil_id, now, page)
    children = [PupilRef(pid, name) for pid, name, _first, _answers in family.children]
    if pupil_id is not None and pupil_id not in {c.id for c in children}:
        return None
    total = int(rows[0]["total"]) if rows else 0
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(max(1, page), pages)
    items = await _inbox_lines(guardian_id, family, rows, now)
    shown = list(zip(rows, items, strict=True))
    return Inbox(
        items=[item for row, item in shown if (page - 1) * PER_PAGE < row["rn"] <= page * PER_PAGE],
        to_do=[item for _row, item in shown if item.to_do],
        children=children,
        pupil_id=pupil_id,
        page=page,
        pages=pages,
        total=total,
        unread=int(rows[0]["unread_total"]) if rows else 0,
    )


class _Params:
    """Numbers the placeholders of a statement as its arguments are added (``$1``, ``$2``...)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


@dataclass(frozen=True)
class _Family:
    """The guardian's language and ``(pupil, full name, first name, may answer)`` of each child they may see."""

    language: str
    children: list[tuple[int, str, str, bool]]


def _family_of(language: Any, document: Any) -> _Family:
    """The family as the inbox's statement gives it: the guardian's language and a JSON list of
    ``[pupil, first name, last name, may answer, rank]`` (rank: by first name, last name and id)."""
    kids = sorted(sql.as_json(document) or [], key=lambda kid: int(kid[4]))
    return _Family(
        str(language or ""),
        [(int(pid), f"{first} {last}", str(first), bool(answers)) for pid, first, last, answers, _rank in kids],
    )


async def _inbox_rows(
    guardian_id: int, pupil_id: int | None, now: dt.datetime, page: int
) -> tuple[_Family, list[dict[str, Any]]]:
    """One statement: the guardian's family (the children they may see: bars excluded, active pupils) and their
    published notices naming one of those children (or ``pupil_id``, when it is one of them), numbered newest
    first (``rn``), with the inbox's counts (``total``, ``unread_total``); only the page's rows and those that
    still ask something (an acknowledgement not given, a reply slip still open) come back. A page past the last
    gives the last."""
    p = _Params()
    postgres = sql.is_postgres()
    guardian = p(guardian_id)
    kids = (
        "SELECT p.id AS pupil_id, p.first_name, p.last_name, gs.may_answer, "
        "ROW_NUMBER() OVER (ORDER BY p.first_name, p.last_name, p.id) AS rank "
        f"FROM guardianship gs JOIN pupil p ON p.id = gs.pupil_id AND p.active = {p(True)} "
        f"WHERE gs.guardian_id = {guardian} AND gs.barred = {p(False)}"
    )
    shown_kids = "SELECT pupil_id FROM kids" + (f" WHERE pupil_id = {p(pupil_id)}" if pupil_id is not None else "")
    family = (
        "(SELECT json_agg(json_build_array(k.pupil_id, k.first_name, k.last_name, k.may_answer, k.rank)) FROM kids k)"
        if postgres
        else "(SELECT json_group_array(json_array(k.pupil_id, k.first_name, k.last_name, k.may_answer, k.rank)) "
        "FROM kids k)"
    )
    answers = (
        "string_agg(CAST(sr.pupil_id AS TEXT) || ':' || CAST(sr.guardian_id AS TEXT), ',')"
        if postgres
        else "group_concat(sr.pupil_id || ':' || sr.guardian_id, ',')"
    )
    ids = "string_agg(CAST(np2.pupil_id AS TEXT), ',')" if postgres else "group_concat(np2.pupil_id, ',')"
    published, size, wanted = p(MessageState.PUBLISHED.value), p(PER_PAGE), p(max(1, page))
    lines = (
        "SELECT n.id, n.first_read_at, n.created_at, n.message_id, m.subject, sc.default_language, m.published_at, "
        "m.urgency, m.needs_acknowledgement, st.first_name AS author_first, st.last_name AS author_last, "
        "COALESCE(m.published_at, n.created_at) AS sent_at, "
        "EXISTS (SELECT 1 FROM acknowledgement a WHERE a.notice_id = n.id) AS acknowledged, "
        "EXISTS (SELECT 1 FROM attachment f WHERE f.message_id = n.message_id) AS has_files, "
        "rs.id AS slip_id, rs.deadline, rs.answer_mode, "
        f"(SELECT {ids} FROM notice_pupil np2 WHERE np2.notice_id = n.id "
        "AND np2.pupil_id IN (SELECT pupil_id FROM shown)) AS pupil_ids, "
        f"(SELECT {answers} FROM slip_response sr WHERE sr.slip_id = rs.id) AS answers "
        "FROM notice n JOIN message m ON m.id = n.message_id JOIN school sc ON sc.id = m.school_id "
        "JOIN staff st ON st.id = m.author_id LEFT JOIN reply_slip rs ON rs.message_id = m.id "
        f"WHERE n.guardian_id = {guardian} AND m.state = {published} "
        "AND EXISTS (SELECT 1 FROM notice_pupil np WHERE np.notice_id = n.id "
        "AND np.pupil_id IN (SELECT pupil_id FROM shown))"
    )
    numbered = (
        "SELECT x.*, ROW_NUMBER() OVER (ORDER BY x.sent_at DESC, x.id DESC) AS rn, COUNT(*) OVER () AS total, "
        "SUM(CASE WHEN x.first_read_at IS NULL THEN 1 ELSE 0 END) OVER () AS unread_total "
        f"FROM ({lines}) x"
    )
    last = f"((y.total + {size} - 1) / {size})"
    shown = f"(CASE WHEN {wanted} < {last} THEN {wanted} ELSE {last} END)"
    chosen = (
        f"SELECT y.* FROM ({numbered}) y WHERE (y.rn > ({shown} - 1) * {size} AND y.rn <= {shown} * {size}) "
        f"OR (y.needs_acknowledgement AND NOT y.acknowledged) OR (y.slip_id IS NOT NULL AND y.deadline >= {p(now)})"
    )
    # The guardian's row carries the family; the lines join it (none: one row whose line columns are null).
    found = await sql.query(
        f"WITH kids AS ({kids}), shown AS ({shown_kids}) "
        f'SELECT g.language AS "family__language", {family} AS "family__kids", z.* '
        f"FROM guardian g LEFT JOIN ({chosen}) z ON 1 = 1 WHERE g.id = {guardian} ORDER BY z.rn",
        p.values,
    )
    if not found:
        return _Family("", []), []
    first = found[0]
    family_of = _family_of(first["family__language"], first["family__kids"])
    for row in found:
        del row["family__language"], row["family__kids"]
    return family_of, [row for row in found if row["id"] is not None]


async def _inbox_lines(
    guardian_id: int, family: _Family, rows: Sequence[dict[str, Any]], now: dt.datetime
) -> list[InboxItem]:
    """The inbox lines of these rows, in their order (the subjects in the reader's language: no statement when
    it is the school's)."""
    if not rows:
        return []
    names = {pid: name for pid, name, _first, _answers in family.children}
    order = {pid: (first, pid) for pid, _name, first, _answers in family.children}  # as the notice's pupils sort
    answerable = {pid for pid, _name, _first, answers in family.children if answers}
    subjects = await translations.subjects_for(
        family.language, rows[0]["default_language"], {row["message_id"]: row["subject"] for row in rows}
    )

    def slip_state(row: dict[str, Any], pupils: list[int]) -> str:
        if row["slip_id"] is None:
            return ""
        answered: dict[int, set[int]] = defaultdict(set)
        for pair in (row["answers"] or "").split(","):
            if pair:
                pupil, guardian = pair.split(":")
                answered[int(pupil)].add(int(guardian))
        one_per_pupil = AnswerMode(row["answer_mode"]) is AnswerMode.ONE_PER_PUPIL
        mine = [pid for pid in pupils if pid in answerable]
        if not mine:
            return "read_only"
        if all(bool(answered[pid]) if one_per_pupil else guardian_id in answered[pid] for pid in mine):
            return "answered"
        return "closed" if now > sql.as_datetime(row["deadline"]) else "to_answer"  # type: ignore[operator]

    items = []
    for row in rows:
        pupils = sorted({int(x) for x in (row["pupil_ids"] or "").split(",") if x}, key=lambda pid: order[pid])
        items.append(
            InboxItem(
                notice_id=row["id"],
                subject=subjects[row["message_id"]],
                sender=f"{row['author_first']} {row['author_last']}",
                sent_at=sql.as_datetime(row["sent_at"]),  # type: ignore[arg-type]
                urgency=str(row["urgency"]),
                pupils=tuple(names[pid] for pid in pupils),
                unread=row["first_read_at"] is None,
                to_acknowledge=bool(row["needs_acknowledgement"]) and not row["acknowledged"],
                deadline=sql.as_datetime(row["deadline"]),
                slip_state=slip_state(row, pupils),
                has_attachments=bool(row["has_files"]),
            )
        )
    return items


# ----------------------------------------------------------------------------------------- one message page


@dataclass(frozen=True)
class Question:
    position: int
    kind: str
    text: str
    choices: tuple[str, ...]
    required: bool
    unit_price_cents: int | None


@dataclass(frozen=True)
class Answer:
    """One guardian's stored answer for one pupil, ready to show."""

    guardian_id: int
    guardian: str
    at: dt.datetime
    channel: str
    signed_name: str
    #: ``(question, value, euro cents of an amount or None)`` in the questions' order; an unanswered optional
    #: question has no line.
    lines: tuple[tuple[Question, Any, int | None], ...]
    values: Mapping[str, Any]
    #: "link" for an answer given through the personal link (``channel`` then says the portal), else "".
    via: str = ""

    @property
    def way(self) -> str:
        """How the answer came, as the pages name it: ``link``, ``portal``, ``sms``, ``telegram``, ``letter``…"""
        return "link" if self.via == "link" and self.channel == Channel.PORTAL else self.channel


@dataclass(frozen=True)
class SlipTarget:
    """What one answer form of the slip is for: a pupil (one answer per pupil), or every pupil of the notice the
    guardian may answer for (every guardian answers); ``key`` is what the form posts."""

    key: str
    pupils: tuple[PupilRef, ...]
    may_answer: bool
    #: This guardian's own answer (the first pupil's, when the form answers for several).
    own: Answer | None
    #: One answer per pupil: another guardian's answer, which closes the slip for this pupil.
    other: Answer | None

    @property
    def can_answer(self) -> bool:
        return self.may_answer and self.other is None


@dataclass(frozen=True)
class Slip:
    id: int
    deadline: dt.datetime
    is_open: bool
    answer_mode: str
    needs_signature: bool
    questions: tuple[Question, ...]
    targets: tuple[SlipTarget, ...]

    @property
    def one_per_pupil(self) -> bool:
        return self.answer_mode == AnswerMode.ONE_PER_PUPIL

    def target(self, key: str) -> SlipTarget | None:
        return next((t for t in self.targets if t.key == key), None)


@dataclass(frozen=True)
class File:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MessagePage:
    notice_id: int
    school: str
    guardian_id: int
    guardian: str
    subject: str
    body: str
    urgency: str
    category: str
    pupils: tuple[PupilRef, ...]
    sender: str
    sent_at: dt.datetime
    needs_acknowledgement: bool
    acknowledged_at: dt.datetime | None
    attachments: tuple[File, ...]
    slip: Slip | None
    #: Pupils named by the notice this guardian may answer for (the others are read-only, and why).
    answerable: frozenset[int] = field(default_factory=frozenset)
    #: The language the text is in, and the note saying it is not the guardian's or is a machine translation.
    text_language: str = ""
    language_note: str = ""


async def own_notice(guardian_id: int, notice_id: int) -> Notice | None:
    """The signed-in guardian's notice with this id if it is visible to them now (published, names a pupil they
    may see), else None: another family's notice is not found, like an unknown one."""
    notice = await access.guardian_notice(guardian_id, notice_id)
    if notice is None or notice.id not in await visible_notice_ids(guardian_id):
        return None
    return notice


#: The longest token a notice stores (its column's length).
_TOKEN_LENGTH: int = Notice._meta.fields_map["token"].max_length  # type: ignore[attr-defined]


async def notice_by_token(token: str) -> Notice | None:
    """The notice of a personal link if its guardian may see it now (not erased, not barred since), else None
    (a token longer than any stored one too: the ORM would refuse to look it up)."""
    if not token or len(token) > _TOKEN_LENGTH:
        return None
    notice = await Notice.filter(token=token, guardian__erased_at__isnull=True).first()
    if notice is None or notice.id not in await visible_notice_ids(notice.guardian_id):
        return None
    return notice


async def mark_read(notice: Notice, now: dt.datetime) -> bool:
    """A person read the message (the signed-in portal's page; on a personal link an action or the page's
    signal): the first time only. True when this recorded the first reading."""
    if notice.first_read_at is not None:
        return False
    return bool(await Notice.filter(id=notice.id, first_read_at__isnull=True).update(first_read_at=now))


async def mark_opened(notice: Notice, now: dt.datetime) -> bool:
    """The personal link was fetched: by a person or by a mail provider's link scanner, which fetches every link
    of an email. Never a reading: the first time only. True when this recorded the first opening."""
    if notice.opened_at is not None:
        return False
    return bool(await Notice.filter(id=notice.id, opened_at__isnull=True).update(opened_at=now))


async def message_page(notice: Notice, now: dt.datetime) -> MessagePage:
    """What the message page shows of this (already authorised) notice."""
    await notice.fetch_related("message__school", "message__author", "guardian")
    message, guardian = notice.message, notice.guardian
    visible = await access.guardian_pupil_ids(guardian.id)
    pupils = tuple(
        PupilRef(pid, f"{first} {last}")
        for pid, first, last in await NoticePupil.filter(notice_id=notice.id, pupil_id__in=list(visible))
        .order_by("pupil__first_name", "pupil_id")
        .values_list("pupil_id", "pupil__first_name", "pupil__last_name")
    )
    answerable = frozenset(await access.guardian_answerable_pupil_ids(guardian.id)) & {p.id for p in pupils}
    ack = await Acknowledgement.filter(notice_id=notice.id).first()
    files = (
        await Attachment.filter(message_id=message.id).order_by("id").values("id", "filename", "content_type", "size")
    )
    slip = await ReplySlip.get_or_none(message_id=message.id)
    # The message in the guardian's language when it was written in it, else the school's with a note.
    school_text = translations.Version(str(message.school.default_language), message.subject, message.body)
    versions = (await translations.versions_of([message.id])).get(message.id, {})
    text = translations.choose(guardian.language, school_text, versions)
    shown_slip = await _slip(slip, guardian.id, pupils, answerable, now) if slip else None
    if shown_slip is not None and text is not school_text:
        shown_slip = replace(shown_slip, questions=_translated(shown_slip.questions, text))
    return MessagePage(
        text_language=text.language,
        language_note=rendering.language_note(guardian.language, text.language, text.machine),
        notice_id=notice.id,
        school=message.school.name,
        guardian_id=guardian.id,
        guardian=f"{guardian.first_name} {guardian.last_name}",
        subject=text.subject,
        body=text.body,
        urgency=str(message.urgency),
        category=str(message.category),
        pupils=pupils,
        sender=f"{message.author.first_name} {message.author.last_name}",
        sent_at=message.published_at or notice.created_at,
        needs_acknowledgement=message.needs_acknowledgement,
        acknowledged_at=ack.at if ack else None,
        attachments=tuple(File(**row) for row in files),
        slip=shown_slip,
        answerable=answerable,
    )


def _translated(questions: Sequence[Question], text: translations.Version) -> tuple[Question, ...]:
    """The questions as the guardian reads them (the answers keep the school's words: a choice is its index)."""
    out = []
    for index, question in enumerate(questions):
        words = text.questions[index] if index < len(text.questions) else None
        if words is None or not words.text:
            out.append(question)
            continue
        choices = words.choices if len(words.choices) == len(question.choices) else question.choices
        out.append(replace(question, text=words.text, choices=choices))
    return tuple(out)


async def _questions(slip_id: int) -> tuple[Question, ...]:
    rows = await SlipQuestion.filter(slip_id=slip_id).order_by("position")
    return tuple(
        Question(q.position, str(q.kind), q.text, tuple(q.choices or ()), q.required, q.unit_price_cents) for q in rows
    )


async def _slip(
    slip: ReplySlip,
    guardian_id: int,
    pupils: Sequence[PupilRef],
    answerable: frozenset[int],
    now: dt.datetime,
) -> Slip:
    questions = await _questions(slip.id)
    one_per_pupil = AnswerMode(slip.answer_mode) is AnswerMode.ONE_PER_PUPIL
    # Only the answers about these pupils: this guardian's, and with one answer per pupil the one that closed it.
    rows = (
        await SlipResponse.filter(slip_id=slip.id, pupil_id__in=[p.id for p in pupils])
        .order_by("at", "id")
        .prefetch_related("guardian")
    )
    own = {r.pupil_id: r for r in rows if r.guardian_id == guardian_id}
    others: dict[int, SlipResponse] = {}
    for r in rows:
        if r.guardian_id != guardian_id:
            others.setdefault(r.pupil_id, r)
    if one_per_pupil:
        targets = tuple(
            SlipTarget(
                key=str(p.id),
                pupils=(p,),
                may_answer=p.id in answerable,
                own=_answer(own[p.id], questions) if p.id in own else None,
                # The first answer closes the slip for this pupil: another guardian's, unless this one's came first.
                other=_answer(others[p.id], questions)
                if p.id in others and (p.id not in own or others[p.id].at < own[p.id].at)
                else None,
            )
            for p in pupils
        )
    else:
        mine = [p for p in pupils if p.id in answerable] or list(pupils)
        first_own = next((own[p.id] for p in mine if p.id in own), None)
        targets = (
            SlipTarget(
                key="all",
                pupils=tuple(mine),
                may_answer=bool(answerable),
                own=_answer(first_own, questions) if first_own else None,
                other=None,
            ),
        )
    return Slip(
        id=slip.id,
        deadline=slip.deadline,
        is_open=now <= slip.deadline,
        answer_mode=str(slip.answer_mode),
        needs_signature=slip.needs_signature,
        questions=questions,
        targets=targets,
    )


def _answer(response: SlipResponse, questions: Sequence[Question]) -> Answer:
    values = dict(response.answers or {})
    guardian = response.guardian
    return Answer(
        guardian_id=guardian.id,
        guardian=f"{guardian.first_name} {guardian.last_name}",
        at=response.at,
        channel=str(response.channel),
        signed_name=response.signed_name,
        via=response.via,
        lines=tuple(
            (
                q,
                values[str(q.position)],
                amount_cents(q, values[str(q.position)]) if q.kind == QuestionKind.AMOUNT else None,
            )
            for q in questions
            if str(q.position) in values
        ),
        values=values,
    )


def amount_cents(question: Question, value: Any) -> int | None:
    """The euro cents an amount answer stands for (a count times the unit price, or the amount itself)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if question.unit_price_cents is not None:
        return int(number) * question.unit_price_cents
    return int((number * 100).to_integral_value())


# ------------------------------------------------------------------------------------------- acknowledging


async def acknowledge(notice: Notice, *, guardian_id: int, now: dt.datetime, via: str) -> bool:
    """ "I have read" from the portal or the personal link; audited the first time. True the first time."""
    first = await record_acknowledgement(notice.id, channel=Channel.PORTAL, now=now)
    if first:
        await audit(
            "notice.acknowledged",
            at=now,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian_id,
            subject_type="notice",
            subject_id=notice.id,
            via=via,
        )
    return first


# ------------------------------------------------------------------------------------------- answering a slip


class SlipRefused(Exception):
    """The slip cannot be answered now: ``code`` is one of ``no_slip``, ``closed``, ``no_right``, ``answered``,
    ``unknown_pupil``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class FieldErrors(Exception):
    """Answers that cannot be stored as typed: ``errors`` maps a field (``q<position>``, ``signed_name``) to a
    code (``required``, ``choice``, ``count``, ``amount``, ``too_long``)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_answers(
    questions: Sequence[Question], form: Mapping[str, Sequence[str]], *, needs_signature: bool
) -> tuple[dict[str, Any], str]:
    """The answers of a posted form as stored (yes/no as "yes"/"no" like the SMS, paper and API answers; a
    choice as its text; a count for an amount with a unit price, else euro), and the typed signature.

    ``form`` maps a field name to its values: ``q<position>`` (a choice is posted as its index, several choices
    as several values) and ``signed_name``. Raises :class:`FieldErrors` listing every field at fault.
    """
    errors: dict[str, str] = {}
    answers: dict[str, Any] = {}
    for question in questions:
        name = f"q{question.position}"
        raw = [v.strip() for v in form.get(name, ()) if v.strip()]
        if not raw:
            if question.required:
                errors[name] = "required"
            continue
        try:
            answers[str(question.position)] = _parse_one(question, raw)
        except ValueError as exc:
            errors[name] = str(exc)
    signed = " ".join(" ".join(form.get("signed_name", ())).split())
    if needs_signature and not signed:
        errors["signed_name"] = "required"
    elif len(signed) > MAX_SIGNATURE:
        errors["signed_name"] = "too_long"
    if errors:
        raise FieldErrors(errors)
    return answers, signed


def _parse_one(question: Question, raw: list[str]) -> Any:
    kind = QuestionKind(question.kind)
    if kind is QuestionKind.YES_NO:
        if raw[0] not in ("yes", "no"):
            raise ValueError("choice")
        return raw[0]
    if kind in (QuestionKind.ONE_CHOICE, QuestionKind.MANY_CHOICES):
        last = len(question.choices) - 1
        indexes = [i for v in raw if (i := parse_count(v, last)) is not None] if last >= 0 else []
        if len(indexes) != len(raw) or (kind is QuestionKind.ONE_CHOICE and len(indexes) != 1):
            raise ValueError("choice")
        chosen = [question.choices[i] for i in sorted(set(indexes))]
        return chosen[0] if kind is QuestionKind.ONE_CHOICE else chosen
    if kind is QuestionKind.FREE_TEXT:
        text = "\n".join(raw)
        if len(text) > MAX_FREE_TEXT:
            raise ValueError("too_long")
        return text
    if question.unit_price_cents is not None:
        count = parse_count(raw[0], MAX_COUNT)
        if count is None:
            raise ValueError("count")
        return count
    try:
        amount = Decimal(raw[0].replace(",", ".").replace("€", "").strip())
    except InvalidOperation:
        raise ValueError("amount") from None
    if not amount.is_finite() or not 0 <= amount <= MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise ValueError("amount")
    return float(amount)


async def answer_slip(
    notice: Notice,
    target_key: str,
    form: Mapping[str, Sequence[str]],
    *,
    guardian_id: int,
    now: dt.datetime,
    via: str,
) -> list[int]:
    """Answer the slip of this (already authorised) notice for the form's target: one pupil, or all (every
    guardian answers). Returns the pupils answered for. Raises :class:`SlipRefused` or :class:`FieldErrors`
    (nothing stored) when the slip is closed, the guardian may not answer, another guardian already answered
    for the pupil (one answer per pupil), or the answers are wrong."""
    page = await message_page(notice, now)
    slip = page.slip
    if slip is None:
        raise SlipRefused("no_slip")
    if not slip.is_open:
        raise SlipRefused("closed")
    target = slip.target(target_key)
    if target is None:
        raise SlipRefused("unknown_pupil")
    if not target.may_answer:
        raise SlipRefused("no_right")
    if target.other is not None:
        raise SlipRefused("answered")
    answers, signed = parse_answers(slip.questions, form, needs_signature=slip.needs_signature)
    pupils = [p.id for p in target.pupils if p.id in page.answerable]
    try:
        for pupil_id in pupils:
            await record_answer(notice.id, pupil_id, answers, channel=Channel.PORTAL, now=now, signed_name=signed)
    except PlanningError as exc:  # the deadline passed or a right changed since the page was read
        raise SlipRefused("closed" if now > slip.deadline else "no_right") from exc
    # The answer says how it came: the personal link, or the signed-in portal (a replaced answer too).
    await SlipResponse.filter(slip_id=slip.id, guardian_id=guardian_id, pupil_id__in=pupils).update(
        via="link" if via == "link" else ""
    )
    await audit(
        "slip.answered",
        at=now,
        actor_kind=ActorKind.GUARDIAN,
        actor_id=guardian_id,
        subject_type="notice",
        subject_id=notice.id,
        pupils=pupils,
        replaced=target.own is not None,
        via=via,
    )
    return pupils


# ------------------------------------------------------------------------------------------------ attachments


async def guardian_attachment(guardian_id: int, attachment_id: int) -> Attachment | None:
    """An attachment of a message of which this guardian has a visible notice, else None."""
    attachment = await Attachment.get_or_none(id=attachment_id)
    if attachment is None:
        return None
    notices = await ids_of(Notice.filter(guardian_id=guardian_id, message_id=attachment.message_id))
    visible = await visible_notice_ids(guardian_id)
    return attachment if visible.intersection(notices) else None


async def notice_attachment(notice: Notice, attachment_id: int) -> Attachment | None:
    """An attachment of the message of this (already authorised) notice, else None."""
    return await Attachment.get_or_none(id=attachment_id, message_id=notice.message_id)


__all__ = [
    "Answer",
    "FieldErrors",
    "File",
    "Inbox",
    "InboxItem",
    "MessagePage",
    "PupilRef",
    "Question",
    "Slip",
    "SlipRefused",
    "SlipTarget",
    "acknowledge",
    "amount_cents",
    "answer_slip",
    "guardian_attachment",
    "inbox",
    "mark_opened",
    "mark_read",
    "message_page",
    "notice_attachment",
    "notice_by_token",
    "own_notice",
    "parse_answers",
    "visible_notice_ids",
    "visible_pupils",
]
