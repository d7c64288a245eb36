"""Writing announcements and following them: the staff side of messages, without the web.

The composer's pages (``hub/web/compose.py``) and the JSON API share these functions:

* :func:`audience_options` — what a member of staff may address (``hub.messaging.access``): a teacher their classes,
courses
  and pupils; the secretary, the principal and administrators every class, course, level and pupil; the whole
  school only the principal and administrators. :func:`check_audience` refuses anything else (a forged id).
* :func:`parse_form` — the composer's form (plain strings) into a :class:`Draft`, with an error per field.
* :func:`save_draft` / :func:`draft_fields` — a draft is a ``Message`` in state DRAFT (with its audience, reply
  slip and attachments): the preview reads it, ``planning.publish`` sends it.
* :func:`preview` — how many families and pupils, on which channels, what the SMS costs, when it goes out, and
  the message rendered per channel and language for a sample family (``hub.messaging.rendering``).
* :func:`send` — ``planning.publish`` and the audit log.
* :func:`message_page`, :func:`family_rows`, :func:`family_progress`, :func:`responses_csv`, :func:`dashboard` —
  following what was sent. Progress is counted in families (notices), the unit of the preview: each family's
  copy is in one state (:func:`family_standing`), so "held until Monday 07:30" and "being sent" never mix, and a
  message the charter holds is never said to be on its way.

Times from the form are wall-clock times of the charter's zone; everything stored is UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from channels.base import Rendered
from channels.letter import Letter, LetterRecipient, LetterSchool
from charter import Charter, may_send
from hub.enums import (
    ActorKind,
    AnswerMode,
    AudienceKind,
    Category,
    Channel,
    DeliveryPurpose,
    DeliveryState,
    GroupKind,
    MessageState,
    QuestionKind,
    StaffRole,
    Urgency,
)
from hub.inputs import parse_datetime_local, parse_id, parse_ids, parse_page
from hub.messaging import access, planning, rendering, responses, routing, sms_hints, threads, translations
from hub.messaging.links import personal_link, short_code
from hub.messaging.models import (
    Acknowledgement,
    Attachment,
    Delivery,
    Message,
    MessageAudience,
    Notice,
    NoticePupil,
    ReplySlip,
    SlipQuestion,
    SlipResponse,
)
from hub.messaging.paper import WAITING as LETTERS_WAITING
from hub.messaging.pupil_messages import FAMILIES, RECIPIENTS, pupils_only_problem, recipients_of
from hub.messaging.sms_segments import SegmentCount
from hub.people.labels import group_label
from hub.people.models import Group, Guardian, Guardianship, Membership, Pupil, School, Staff
from hub.store.audit import audit
from hub.store.db import ids_of

E = TypeVar("E", bound=StrEnum)

# ------------------------------------------------------------------------------------------------ limits

MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_REASON = 2000
MAX_QUESTION = 1000
MAX_CHOICE = 200
MAX_CHOICES = 20
MAX_QUESTIONS = 30
#: Question rows the form shows at first (more through "add a question", with or without JavaScript).
QUESTION_ROWS = 3
#: A file's limit: what a family's phone downloads without pain, and what a school's scanner makes of a form.
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 5
#: The types a family's phone opens everywhere, told by their first bytes (never by the name or the browser).
ATTACHMENT_TYPES: Mapping[bytes, str] = {
    b"%PDF-": "application/pdf",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}
#: The reminder times the form offers (hours before the deadline).
REMINDER_CHOICES = (72, 24, 4)
#: Messages per page of the list, families per page of a message.
PAGE_SIZE = 20
FAMILIES_PAGE = 50
#: The roles that may write to the whole school at once (a level or a class is enough for the office).
WHOLE_SCHOOL_SENDERS = frozenset({StaffRole.PRINCIPAL, StaffRole.ADMIN})
#: The channels a message is shown in by the preview, in the order of a family's day.
PREVIEW_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WEBPUSH, Channel.TELEGRAM)
_REACHED = (DeliveryState.SENT, DeliveryState.DELIVERED)
_PENDING = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE, DeliveryState.CLAIMED)


class ComposeRefused(Exception):
    """A request nobody should be able to make from the form: an audience outside the sender's reach, an urgency
    their role may not send, a draft that is not theirs. The page answers 403 and stores nothing."""


class Member(Protocol):
    """Who composes or reads: the web kit's ``Actor`` fits."""

    @property
    def id(self) -> int: ...
    @property
    def school_id(self) -> int: ...
    @property
    def roles(self) -> frozenset[StaffRole]: ...


# --------------------------------------------------------------------------------------------- the audience


@dataclass(frozen=True)
class Option:
    id: int
    label: str


@dataclass(frozen=True)
class AudienceOptions:
    """What the composer offers this member: ids they may address, by kind, with labels."""

    classes: tuple[Option, ...]
    courses: tuple[Option, ...]
    levels: tuple[Option, ...]
    #: Pupils grouped by class code (a pupil in no class under "").
    pupils: tuple[tuple[str, tuple[Option, ...]], ...]
    whole_school: bool

    @property
    def group_ids(self) -> set[int]:
        return {o.id for o in (*self.classes, *self.courses, *self.levels)}

    @property
    def pupil_ids(self) -> set[int]:
        return {o.id for _label, options in self.pupils for o in options}


def may_address_school(roles: Iterable[StaffRole]) -> bool:
    return bool(WHOLE_SCHOOL_SENDERS.intersection(roles))


async def audience_options(member: Member) -> AudienceOptions:
    """The classes, courses, levels and pupils this member may address (``hub.messaging.access``), in four queries."""
    group_ids = await access.staff_group_ids(member.id, member.roles, member.school_id)
    groups = await Group.filter(id__in=list(group_ids)).order_by("code").values("id", "kind", "code", "name")
    by_kind: dict[GroupKind, list[Option]] = defaultdict(list)
    for row in groups:
        by_kind[GroupKind(row["kind"])].append(Option(row["id"], group_label(row["kind"], row["code"], row["name"])))
    pupil_ids = await access.staff_pupil_ids(member.id, member.roles, member.school_id)
    pupils = (
        await Pupil.filter(id__in=list(pupil_ids))
        .order_by("last_name", "first_name", "id")
        .values("id", "first_name", "last_name")
    )
    class_of = dict(
        await Membership.filter(pupil_id__in=list(pupil_ids), group__kind=GroupKind.CLASS).values_list(
            "pupil_id", "group__code"
        )
    )
    by_class: dict[str, list[Option]] = defaultdict(list)
    for row in pupils:
        by_class[class_of.get(row["id"], "")].append(Option(row["id"], f"{row['last_name']} {row['first_name']}"))
    return AudienceOptions(
        classes=tuple(by_kind[GroupKind.CLASS]),
        courses=tuple(by_kind[GroupKind.COURSE]),
        levels=tuple(by_kind[GroupKind.LEVEL]) if access.sees_whole_school(member.roles) else (),
        pupils=tuple((code, tuple(options)) for code, options in sorted(by_class.items())),
        whole_school=may_address_school(member.roles),
    )


@dataclass(frozen=True)
class Term:
    """One term of an audience: a pupil, a group (class, course, level) or the whole school."""

    kind: AudienceKind
    id: int | None = None

    def __post_init__(self) -> None:  # a plain "group" becomes AudienceKind.GROUP, anything else is refused
        object.__setattr__(self, "kind", AudienceKind(self.kind))


async def check_audience(member: Member, terms: Sequence[Term]) -> None:
    """Raise :class:`ComposeRefused` if a term names something this member may not address."""
    options = await audience_options(member)
    groups, pupils = options.group_ids, options.pupil_ids
    for term in terms:
        if term.kind == AudienceKind.SCHOOL and not options.whole_school:
            raise ComposeRefused("only the principal and administrators write to the whole school")
        if term.kind == AudienceKind.GROUP and term.id not in groups:
            raise ComposeRefused(f"group {term.id} is not one you may address")
        if term.kind == AudienceKind.PUPIL and term.id not in pupils:
            raise ComposeRefused(f"pupil {term.id} is not one you may address")


def allowed_urgencies(charter: Charter, roles: Iterable[StaffRole]) -> tuple[Urgency, ...]:
    """The urgencies the charter lets these roles send (``charter.may_send``, the rule ``publish`` applies)."""
    names = [str(role) for role in roles]
    return tuple(u for u in Urgency if may_send(charter, names, u))


# ------------------------------------------------------------------------------------------------- the form


class Fields:
    """A posted form as lists of strings per name; the composer's templates read it to fill the form again."""

    def __init__(self, values: Mapping[str, Sequence[str]] | None = None) -> None:
        self.values: dict[str, list[str]] = {k: [str(v) for v in vs] for k, vs in (values or {}).items()}

    def one(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0] if found else default

    def all(self, name: str) -> list[str]:
        return list(self.values.get(name, ()))

    def has(self, name: str, value: object = "1") -> bool:
        return str(value) in self.values.get(name, ())

    def set(self, name: str, *values: object) -> None:
        self.values[name] = [str(v) for v in values]

    @property
    def question_rows(self) -> int:
        given = self.one("question_rows")
        used = max((n for k in self.values if (n := _question_number(k)) is not None), default=0)
        rows = parse_page(given, QUESTION_ROWS)
        return max(1, min(MAX_QUESTIONS, max(rows, used)))


def _question_number(name: str) -> int | None:
    """The question a form key belongs to (``q3_text`` is question 3), None for another key (``q²_text`` too)."""
    head = name.split("_")[0]
    number = parse_id(head[1:]) if head.startswith("q") else None
    return number if number is not None and number <= MAX_QUESTIONS else None


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    #: What the browser said; the stored type comes from the file's first bytes.
    declared_type: str = ""


@dataclass(frozen=True)
class QuestionDraft:
    kind: QuestionKind
    text: str
    choices: tuple[str, ...] = ()
    required: bool = True
    unit_price_cents: int | None = None


@dataclass(frozen=True)
class SlipDraft:
    deadline: dt.datetime
    answer_mode: AnswerMode
    needs_signature: bool
    reminder_hours: tuple[int, ...]
    questions: tuple[QuestionDraft, ...]


@dataclass
class Draft:
    subject: str = ""
    body: str = ""
    category: Category = Category.INFORMATION
    urgency: Urgency = Urgency.NORMAL
    urgency_reason: str = ""
    needs_acknowledgement: bool = False
    scheduled_at: dt.datetime | None = None
    audience: list[Term] = field(default_factory=list)
    #: Who reads it: the pupils' families, the pupils themselves, or both (``pupil_messages.RECIPIENTS``).
    recipients: str = FAMILIES
    slip: SlipDraft | None = None
    uploads: list[Upload] = field(default_factory=list)
    #: Attachments of the stored draft to drop.
    remove_attachments: set[int] = field(default_factory=set)
    #: The message in the other languages families read (``hub.messaging.translations.parse_versions``).
    versions: list[translations.Version] = field(default_factory=list)


def _enum(kind: type[E], value: str, default: E) -> E | None:
    """``kind(value)``, ``default`` when nothing was chosen, None for a value the list does not offer."""
    try:
        return kind(value) if value else default
    except ValueError:
        return None


def _local_time(text: str, charter: Charter) -> dt.datetime | None:
    """A ``datetime-local`` value (``2026-11-30T14:00``) of the charter's zone, in UTC; None if unreadable or
    outside the years 1900..2999 (:func:`hub.inputs.parse_datetime_local`)."""
    return parse_datetime_local(text, charter.tz)


def local_input(value: dt.datetime | None, charter: Charter) -> str:
    """The ``datetime-local`` value of a stored time (the reverse of the form's reading)."""
    return value.astimezone(charter.tz).strftime("%Y-%m-%dT%H:%M") if value else ""


def _euro_cents(text: str) -> int | None:
    try:
        amount = Decimal(text.replace("€", "").replace(" ", "").replace(",", "."))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount > 10_000 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def _ids(values: Iterable[str]) -> list[int]:
    return parse_ids(values)


def parse_form(
    fields: Fields, *, charter: Charter, now: dt.datetime, uploads: Sequence[Upload] = ()
) -> tuple[Draft, dict[str, str]]:
    """The composer's form as a :class:`Draft`, and the errors by field name (English, translated by the page).

    Ids are only read here; whether the member may address them is :func:`check_audience`'s business.
    """
    errors: dict[str, str] = {}
    draft = Draft()
    draft.subject = " ".join(fields.one("subject").split())
    draft.body = fields.one("body").replace("\r\n", "\n").strip()
    if not draft.subject:
        errors["subject"] = "Write a subject."
    elif len(draft.subject) > MAX_SUBJECT:
        errors["subject"] = "The subject is too long (200 characters at most)."
    if not draft.body:
        errors["body"] = "Write the message."
    elif len(draft.body) > MAX_BODY:
        errors["body"] = "The message is too long (20,000 characters at most)."

    category = _enum(Category, fields.one("category"), Category.INFORMATION)
    if category is None:
        errors["category"] = "Choose a category from the list."
    else:
        draft.category = category
    urgency = _enum(Urgency, fields.one("urgency"), Urgency.NORMAL)
    if urgency is None:
        errors["urgency"] = "Choose an urgency from the list."
    else:
        draft.urgency = urgency
    draft.urgency_reason = fields.one("urgency_reason").strip()
    if draft.urgency is Urgency.EMERGENCY and not draft.urgency_reason:
        errors["urgency_reason"] = "An emergency needs its reason: it is written to the audit log."
    elif len(draft.urgency_reason) > MAX_REASON:
        errors["urgency_reason"] = "The reason is too long (2,000 characters at most)."
    if draft.urgency is not Urgency.EMERGENCY:
        draft.urgency_reason = ""
    draft.needs_acknowledgement = fields.has("needs_acknowledgement")
    draft.recipients = fields.one("recipients") or FAMILIES
    if draft.recipients not in RECIPIENTS:
        errors["recipients"] = "Choose who reads the message from the list."
        draft.recipients = FAMILIES

    if fields.one("scheduled_at").strip():
        draft.scheduled_at = _local_time(fields.one("scheduled_at"), charter)
        if draft.scheduled_at is None:
            errors["scheduled_at"] = "Give a date and a time, or leave empty to send as soon as allowed."
        elif draft.scheduled_at <= now:
            errors["scheduled_at"] = "Choose a time to come, or leave empty to send as soon as allowed."

    if fields.has("school"):
        draft.audience.append(Term(AudienceKind.SCHOOL))
    draft.audience += [Term(AudienceKind.GROUP, g) for g in dict.fromkeys(_ids(fields.all("group")))]
    draft.audience += [Term(AudienceKind.PUPIL, p) for p in dict.fromkeys(_ids(fields.all("pupil")))]
    if not draft.audience:
        errors["audience"] = "Choose who receives the message: a class, a course, a level, pupils or the school."

    if fields.has("slip"):
        draft.slip = _parse_slip(fields, charter, now, draft.scheduled_at, errors)
    problem = pupils_only_problem(
        draft.recipients, has_slip=fields.has("slip"), needs_acknowledgement=draft.needs_acknowledgement
    )
    if problem:
        errors["recipients"] = problem

    draft.remove_attachments = set(_ids(fields.all("remove_attachment")))
    for upload in uploads:
        if not upload.filename and not upload.data:
            continue  # an empty file input
        problem = attachment_problem(upload)
        if problem:
            errors["attachments"] = problem
        draft.uploads.append(upload)
    if len(draft.uploads) > MAX_ATTACHMENTS:
        errors["attachments"] = "Five files at most."
    return draft, errors


def _parse_slip(
    fields: Fields, charter: Charter, now: dt.datetime, scheduled_at: dt.datetime | None, errors: dict[str, str]
) -> SlipDraft | None:
    deadline = _local_time(fields.one("slip_deadline"), charter) if fields.one("slip_deadline").strip() else None
    if deadline is None:
        errors["slip_deadline"] = "Give the date and time by which families answer."
    elif deadline <= max(now, scheduled_at or now):
        errors["slip_deadline"] = "The deadline must come after the message goes out."
    mode = _enum(AnswerMode, fields.one("answer_mode"), AnswerMode.ONE_PER_PUPIL)
    if mode is None:
        errors["answer_mode"] = "Choose who answers from the list."
    reminders = tuple(sorted({h for h in _ids(fields.all("reminder")) if h in REMINDER_CHOICES}, reverse=True))
    questions: list[QuestionDraft] = []
    for row in range(1, fields.question_rows + 1):
        question = _parse_question(fields, row, errors)
        if question is not None:
            questions.append(question)
    if not questions and not any(k.startswith("q") and k in errors for k in errors):
        errors["questions"] = "A reply slip needs at least one question."
    if deadline is None or mode is None:
        return None
    return SlipDraft(deadline, mode, fields.has("needs_signature"), reminders, tuple(questions))


def _parse_question(fields: Fields, row: int, errors: dict[str, str]) -> QuestionDraft | None:
    """Row ``row`` of the slip builder; None for a row left blank (a kind alone does not make a question)."""
    key = f"q{row}"
    text = fields.one(f"{key}_text").strip()
    choices = tuple(dict.fromkeys(c.strip() for c in fields.one(f"{key}_choices").splitlines() if c.strip()))
    price = fields.one(f"{key}_price").strip()
    if not (text or choices or price):
        return None
    kind = _enum(QuestionKind, fields.one(f"{key}_kind"), QuestionKind.YES_NO)
    if kind is None:
        errors[f"{key}_kind"] = "Choose the kind of answer from the list."
        return None
    if not text:
        errors[f"{key}_text"] = "Write the question."
    elif len(text) > MAX_QUESTION:
        errors[f"{key}_text"] = "The question is too long (1,000 characters at most)."
    with_choices = kind in (QuestionKind.ONE_CHOICE, QuestionKind.MANY_CHOICES)
    if with_choices and len(choices) < 2:
        errors[f"{key}_choices"] = "Give at least two choices, one per line."
    elif with_choices and (len(choices) > MAX_CHOICES or any(len(c) > MAX_CHOICE for c in choices)):
        errors[f"{key}_choices"] = "Twenty choices at most, 200 characters each."
    elif not with_choices and choices:
        errors[f"{key}_choices"] = "Only a choice question has choices."
    cents = None
    if price:
        cents = _euro_cents(price)
        if kind is not QuestionKind.AMOUNT:
            errors[f"{key}_price"] = "Only an amount question has a unit price."
        elif cents is None:
            errors[f"{key}_price"] = "Write a price in euro, e.g. 3.50."
    return QuestionDraft(kind, text, choices if with_choices else (), not fields.has(f"{key}_optional"), cents)


def attachment_type(data: bytes) -> str | None:
    """The file's type by its first bytes (PDF, JPEG or PNG), None for anything else."""
    return next((kind for magic, kind in ATTACHMENT_TYPES.items() if data.startswith(magic)), None)


def attachment_problem(upload: Upload) -> str:
    """Why this file may not be attached (English, for the page to translate), or ""."""
    if len(upload.data) > MAX_ATTACHMENT_BYTES:
        return "A file is too big: 5 MB at most."
    if not upload.data:
        return "A file is empty."
    if attachment_type(upload.data) is None:
        return "Only PDF, JPEG and PNG files can be attached."
    return ""


# ----------------------------------------------------------------------------------------------- the draft


async def save_draft(member: Member, draft: Draft, *, now: dt.datetime, message_id: int | None = None) -> Message:
    """Store ``draft`` as a new draft message or over this member's draft ``message_id`` (all or nothing).

    The audience is checked first (:class:`ComposeRefused`; the urgency is :func:`send`'s and the page's to
    check); attachments are stored with their SHA-256, typed by their first bytes.
    """
    await check_audience(member, draft.audience)
    values: dict[str, Any] = {
        "subject": draft.subject,
        "body": draft.body,
        "category": draft.category,
        "urgency": draft.urgency,
        "urgency_reason": draft.urgency_reason,
        "needs_acknowledgement": draft.needs_acknowledgement,
        "scheduled_at": draft.scheduled_at,
    }
    values["to_families"], values["to_pupils"] = RECIPIENTS[draft.recipients]
    async with in_transaction():
        if message_id is None:
            message = await Message.create(school_id=member.school_id, author_id=member.id, **values)
        else:
            existing = await own_draft(member, message_id)
            if existing is None:
                raise ComposeRefused(f"message {message_id} is not a draft of yours")
            message = existing
            await Message.filter(id=message.id).update(**values)
            await MessageAudience.filter(message_id=message.id).delete()
            await ReplySlip.filter(message_id=message.id).delete()
            if draft.remove_attachments:
                await Attachment.filter(message_id=message.id, id__in=list(draft.remove_attachments)).delete()
        await MessageAudience.bulk_create(
            [
                MessageAudience(
                    message_id=message.id,
                    kind=term.kind,
                    group_id=term.id if term.kind == AudienceKind.GROUP else None,
                    pupil_id=term.id if term.kind == AudienceKind.PUPIL else None,
                )
                for term in draft.audience
            ]
        )
        if draft.slip is not None:
            await _save_slip(message.id, draft.slip)
        await translations.save_versions(message.id, draft.versions)
        for upload in draft.uploads:
            await Attachment.create(
                message_id=message.id,
                filename=_safe_filename(upload.filename),
                content_type=attachment_type(upload.data) or "application/octet-stream",
                size=len(upload.data),
                sha256=hashlib.sha256(upload.data).hexdigest(),
                data=upload.data,
            )
        if await Attachment.filter(message_id=message.id).count() > MAX_ATTACHMENTS:
            raise ComposeRefused("five files at most")
        await audit(
            "message.draft_saved",
            at=now,
            actor_kind=ActorKind.STAFF,
            actor_id=member.id,
            subject_type="message",
            subject_id=message.id,
            terms=len(draft.audience),
            questions=len(draft.slip.questions) if draft.slip else 0,
            files=len(draft.uploads),
        )
    return await Message.get(id=message.id)


async def _save_slip(message_id: int, slip: SlipDraft) -> None:
    stored = await ReplySlip.create(
        message_id=message_id,
        deadline=slip.deadline,
        answer_mode=slip.answer_mode,
        needs_signature=slip.needs_signature,
        reminder_hours=list(slip.reminder_hours),
    )
    await SlipQuestion.bulk_create(
        [
            SlipQuestion(
                slip_id=stored.id,
                position=position,
                kind=q.kind,
                text=q.text,
                choices=list(q.choices),
                required=q.required,
                unit_price_cents=q.unit_price_cents,
            )
            for position, q in enumerate(slip.questions, start=1)
        ]
    )


def _safe_filename(name: str) -> str:
    """The file's own name without a path or control characters (what the family's download is called)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    return cleaned[:200] or "piece-jointe"


async def own_draft(member: Member, message_id: int) -> Message | None:
    """This member's own draft with this id, else None (another's draft, a sent message: not found)."""
    return await Message.filter(
        id=message_id, school_id=member.school_id, author_id=member.id, state=MessageState.DRAFT
    ).first()


async def delete_draft(member: Member, message_id: int, *, now: dt.datetime) -> bool:
    deleted = await Message.filter(
        id=message_id, school_id=member.school_id, author_id=member.id, state=MessageState.DRAFT
    ).delete()
    if deleted:
        await audit(
            "message.draft_deleted",
            at=now,
            actor_kind=ActorKind.STAFF,
            actor_id=member.id,
            subject_type="message",
            subject_id=message_id,
        )
    return bool(deleted)


async def draft_fields(message: Message, charter: Charter) -> Fields:
    """The form's values of a stored draft, to edit it."""
    fields = Fields()
    fields.set("subject", message.subject)
    fields.set("body", message.body)
    fields.set("category", message.category)
    fields.set("urgency", message.urgency)
    fields.set("urgency_reason", message.urgency_reason)
    if message.needs_acknowledgement:
        fields.set("needs_acknowledgement", "1")
    fields.set("recipients", recipients_of(message.to_families, message.to_pupils))
    fields.set("scheduled_at", local_input(message.scheduled_at, charter))
    terms = await MessageAudience.filter(message_id=message.id).values("kind", "group_id", "pupil_id")
    if any(t["kind"] == AudienceKind.SCHOOL for t in terms):
        fields.set("school", "1")
    fields.set("group", *[t["group_id"] for t in terms if t["kind"] == AudienceKind.GROUP])
    fields.set("pupil", *[t["pupil_id"] for t in terms if t["kind"] == AudienceKind.PUPIL])
    slip = await ReplySlip.get_or_none(message_id=message.id)
    if slip is not None:
        fields.set("slip", "1")
        fields.set("slip_deadline", local_input(slip.deadline, charter))
        fields.set("answer_mode", slip.answer_mode)
        if slip.needs_signature:
            fields.set("needs_signature", "1")
        fields.set("reminder", *slip.reminder_hours)
        questions = await SlipQuestion.filter(slip_id=slip.id).order_by("position")
        for row, q in enumerate(questions, start=1):
            fields.set(f"q{row}_kind", q.kind)
            fields.set(f"q{row}_text", q.text)
            fields.set(f"q{row}_choices", "\n".join(q.choices or ()))
            if q.unit_price_cents is not None:
                fields.set(f"q{row}_price", f"{q.unit_price_cents / 100:.2f}")
            if not q.required:
                fields.set(f"q{row}_optional", "1")
        fields.set("question_rows", max(QUESTION_ROWS, len(questions)))
    translations.fill_fields(fields, (await translations.versions_of([message.id])).get(message.id, {}).values())
    return fields


@dataclass(frozen=True)
class FileRef:
    id: int
    filename: str
    content_type: str
    size: int


async def attachments_of(message_id: int) -> list[FileRef]:
    rows = (
        await Attachment.filter(message_id=message_id).order_by("id").values("id", "filename", "content_type", "size")
    )
    return [FileRef(**row) for row in rows]


async def staff_attachment(member: Member, attachment_id: int) -> Attachment | None:
    """An attachment of a message this member may read (or of their own draft), else None."""
    attachment = await Attachment.get_or_none(id=attachment_id)
    if attachment is None:
        return None
    message_id: int = attachment.message_id
    if await own_draft(member, message_id) is not None:
        return attachment
    visible = await access.staff_message(member.id, member.roles, member.school_id, message_id)
    return attachment if visible is not None else None


# -------------------------------------------------------------------------------------------- the preview


@dataclass(frozen=True)
class SmsEstimate:
    language: str
    recipients: int
    text: str
    count: SegmentCount
    cost: Decimal
    #: The characters forcing UCS-2 and what the GSM-7 form saves (``hub.messaging.sms_hints``), None if GSM-7.
    hint: sms_hints.Ucs2Hint | None = None


@dataclass(frozen=True)
class Preview:
    message: Message
    pupils: int
    families: int
    #: Families whose first channel (after the portal inbox) is each channel.
    first_channels: dict[Channel, int]
    #: Families who also find it in their portal inbox.
    in_portal: int
    languages: dict[str, int]
    sms: tuple[SmsEstimate, ...]
    #: When it may first go out (the sender's time, the charter's hours), and whether that is later than now.
    goes_out_at: dt.datetime
    held: bool
    #: Rendered for a sample family: ``{language: {channel: Rendered}}`` and the letter per language.
    renderings: dict[str, dict[Channel, Rendered]]
    letters: dict[str, Letter]
    sample_guardian: str
    attachments: list[FileRef]
    slip: ReplySlip | None
    questions: list[SlipQuestion]
    #: The families per language they read, and the language each gets the message in (a missing one warned).
    audience_languages: tuple[translations.AudienceLanguage, ...] = ()
    school_language: str = rendering.DEFAULT_LANGUAGE

    @property
    def sms_cost(self) -> Decimal:
        return sum((s.cost for s in self.sms), Decimal(0))

    @property
    def sms_recipients(self) -> int:
        return sum(s.recipients for s in self.sms)


async def preview(
    message: Message,
    *,
    charter: Charter,
    available_channels: frozenset[Channel],
    base_url: str,
    now: dt.datetime,
) -> Preview:
    """What publishing ``message`` would do, computed as ``planning.publish`` will (no row written)."""
    pupil_ids = await planning.audience_pupil_ids(message)
    links = await planning.guardian_links(pupil_ids)
    if Category(message.category) in routing.RECORD_CATEGORIES:
        links = routing.records_only(links)
    notices_for = routing.resolve_notices(pupil_ids, links)
    if not message.to_families:  # to the pupils only: they read it on their page, no family is sent anything
        notices_for = {}
    profiles = await planning.guardian_profiles(notices_for)
    guardians = sorted(g for g in notices_for if g in profiles)
    urgency = Urgency(message.urgency)
    first: Counter[Channel] = Counter()
    by_language: Counter[str] = Counter()
    sms_languages: Counter[str] = Counter()
    in_portal = 0
    for g in guardians:
        plan = routing.channel_plan(profiles[g], available_channels=available_channels, urgency=urgency)
        reachable = planning.reachable_step(
            [c.value for c in plan], routing.first_active_step(plan), profiles[g].contacts
        )
        channel = plan[reachable[0]] if reachable else Channel.LETTER
        first[channel] += 1
        in_portal += plan[0] is Channel.PORTAL
        language = rendering.language_of(profiles[g].language)
        by_language[language] += 1
        if channel is Channel.SMS:
            sms_languages[language] += 1
    sample = await _sample(message, guardians, notices_for)
    head = await _letterhead(message)
    versions = (await translations.versions_of([message.id])).get(message.id, {})
    views = {lang: _view(message, head, sample, lang, base_url, versions) for lang in rendering.LANGUAGES}
    renderings = {lang: {c: rendering.render(view, c) for c in PREVIEW_CHANNELS} for lang, view in views.items()}
    address = tuple(line for line in head.school.address.splitlines() if line.strip())
    letters = {
        lang: rendering.render_letter(
            view,
            school=LetterSchool(head.school.name, address, timezone=head.school.timezone),
            recipient=LetterRecipient(sample.name, sample.address),
            site=base_url,
        )
        for lang, view in views.items()
    }
    sms = []
    for lang, recipients in sorted(sms_languages.items()):
        rendered, _count = rendering.render_sms(views[lang])
        count, cost = routing.sms_preview(rendered.text, recipients)
        sms.append(
            SmsEstimate(lang, recipients, rendered.text, count, cost, sms_hints.ucs2_hint(rendered.text, recipients))
        )
    goes_out = routing.initial_due(charter, now, urgency, message.scheduled_at)
    slip = await ReplySlip.get_or_none(message_id=message.id)
    return Preview(
        message=message,
        pupils=len(pupil_ids),
        families=len(guardians),
        first_channels=dict(first.most_common()),
        in_portal=in_portal,
        languages=dict(by_language.most_common()),
        sms=tuple(sms),
        goes_out_at=goes_out,
        held=goes_out > now + dt.timedelta(minutes=1),
        renderings=renderings,
        letters=letters,
        sample_guardian=sample.name,
        attachments=await attachments_of(message.id),
        slip=slip,
        questions=list(await SlipQuestion.filter(slip_id=slip.id).order_by("position")) if slip else [],
        audience_languages=tuple(
            translations.audience_languages(by_language, str(head.school.default_language), versions)
        ),
        school_language=rendering.language_of(head.school.default_language),
    )


@dataclass(frozen=True)
class _Sample:
    name: str
    pupils: tuple[str, ...]
    address: tuple[str, ...]


async def _sample(message: Message, guardians: Sequence[int], notices_for: Mapping[int, frozenset[int]]) -> _Sample:
    """The first family of the audience, as the preview shows the message to them (a placeholder if none)."""
    if not guardians:
        return _Sample("…", (), ())
    guardian = await Guardian.get(id=guardians[0]).prefetch_related("household")
    pupils = (
        await Pupil.filter(id__in=list(notices_for[guardian.id]))
        .order_by("first_name")
        .values_list("first_name", "last_name")
    )
    home = guardian if guardian.street else guardian.household
    address: tuple[str, ...] = ()
    if home is not None:
        address = tuple(x for x in (home.street, f"{home.postal_code} {home.city}".strip()) if x)
    return _Sample(f"{guardian.first_name} {guardian.last_name}", tuple(f"{f} {la}" for f, la in pupils), address)


@dataclass(frozen=True)
class _Letterhead:
    """What every rendering of the message shares: the school, the sender, the slip as the families see it."""

    school: School
    sender: str
    slip: rendering.SlipView | None


async def _letterhead(message: Message) -> _Letterhead:
    school = await School.get(id=message.school_id)
    author = await Staff.get(id=message.author_id)
    slip = await ReplySlip.get_or_none(message_id=message.id)
    view = None
    if slip is not None:
        questions = await SlipQuestion.filter(slip_id=slip.id).order_by("position")
        view = rendering.SlipView(
            slip.deadline,
            tuple(
                rendering.QuestionView(q.position, QuestionKind(q.kind), q.text, tuple(q.choices or ()))
                for q in questions
            ),
            slip.needs_signature,
        )
    return _Letterhead(school, f"{author.first_name} {author.last_name}", view)


def _view(
    message: Message,
    head: _Letterhead,
    sample: _Sample,
    lang: str,
    base_url: str,
    versions: Mapping[str, translations.Version] | None = None,
) -> rendering.NoticeView:
    token = "apercu" + "x" * 26  # a sample personal link: the real one is made per family when it is sent
    school_text = translations.Version(str(head.school.default_language), message.subject, message.body)
    text = translations.choose(lang, school_text, versions or {})
    slip = head.slip
    if slip is not None and text is not school_text:
        slip = rendering.SlipView(
            slip.deadline, translations.translated_questions(slip.questions, text), slip.needs_signature
        )
    return rendering.NoticeView(
        language=lang,
        text_language=text.language,
        machine_translation=text.machine,
        school_name=head.school.name,
        guardian_name=sample.name,
        subject=text.subject,
        body=text.body,
        urgency=Urgency(message.urgency),
        pupils=sample.pupils,
        link=personal_link(base_url, token),
        short_code=short_code(token),
        sender_name=head.sender,
        needs_acknowledgement=message.needs_acknowledgement,
        slip=slip,
        timezone=head.school.timezone,
    )


# ------------------------------------------------------------------------------------------------ sending


async def send(
    member: Member,
    message_id: int,
    *,
    charter: Charter,
    available_channels: frozenset[Channel],
    now: dt.datetime,
    via: str = "web",
) -> planning.PublishResult:
    """Publish this member's draft (``planning.publish``: the charter's rules, the audit of an emergency).
    ``via`` names what was used (the pages, the API) in the audit entry.

    The audience is checked again (the member's classes may have changed since the draft was saved). Raises
    :class:`ComposeRefused` or :class:`planning.PlanningError`; either way nothing is published.
    """
    message = await own_draft(member, message_id)
    if message is None:
        raise ComposeRefused(f"message {message_id} is not a draft of yours")
    terms = [
        Term(AudienceKind(t["kind"]), t["group_id"] or t["pupil_id"])
        for t in await MessageAudience.filter(message_id=message_id).values("kind", "group_id", "pupil_id")
    ]
    await check_audience(member, terms)
    if Urgency(message.urgency) not in allowed_urgencies(charter, member.roles):
        raise ComposeRefused(f"your role may not send {message.urgency} messages")
    result = await planning.publish(
        message_id, now=now, charter=charter, available_channels=available_channels, actor_staff_id=member.id
    )
    await audit(
        "message.published",
        at=now,
        actor_kind=ActorKind.STAFF,
        actor_id=member.id,
        subject_type="message",
        subject_id=message_id,
        notices=result.notices,
        due=result.due,
        held=result.held,
        via=via,
    )
    return result


# ------------------------------------------------------------------------------------------- following up


async def visible_message_ids(member: Member) -> set[int]:
    """The messages this member may read (the rule of ``access.staff_message``, as a set): whole-school roles
    all of their school's, a teacher what they wrote and what was addressed to their groups or pupils."""
    school = Message.filter(school_id=member.school_id)
    if access.sees_whole_school(member.roles):
        return set(await ids_of(school))
    groups = list(await access.taught_group_ids(member.id))
    pupils = await ids_of(Membership.filter(group_id__in=groups), "pupil_id")
    mine = await ids_of(school.filter(author_id=member.id))
    to_groups = await ids_of(
        MessageAudience.filter(kind=AudienceKind.GROUP, group_id__in=groups, message__school_id=member.school_id),
        "message_id",
    )
    to_pupils = await ids_of(
        MessageAudience.filter(kind=AudienceKind.PUPIL, pupil_id__in=list(pupils), message__school_id=member.school_id),
        "message_id",
    )
    return {*mine, *to_groups, *to_pupils}


@dataclass
class Counts:
    families: int = 0
    delivered: int = 0
    read: int = 0
    acknowledged: int = 0
    answered: int = 0
    failed: int = 0
    #: Personal links fetched with no sign of a person reading (a mail scanner, perhaps): not in ``read``.
    opened: int = 0
    #: Families reached by nothing but a printed letter: "letter printed", not known delivered (not in
    #: ``delivered``), as the delivery report counts them.
    printed: int = 0

    def rate(self, part: int) -> float:
        return part / self.families if self.families else 0.0


async def counts_of(message_ids: Sequence[int]) -> dict[int, Counts]:
    """Per message, families (notices), delivered (a channel other than the inbox took it), read, acknowledged,
    answered (at least one slip answer), failed (a delivery failed and no channel took it), opened (the personal
    link fetched, no sign of reading) and printed (nothing but a printed letter took it: not in delivered). Seven
    queries."""
    ids = list(message_ids)
    counts = {m: Counts() for m in ids}
    if not ids:
        return counts

    async def per_message(query: QuerySet[Any], key: str) -> dict[int, int]:
        rows = await query.annotate(n=Count("id")).group_by(key).values_list(key, "n")
        return {m: int(n) for m, n in rows}

    for m, n in (await per_message(Notice.filter(message_id__in=ids), "message_id")).items():
        counts[m].families = n
    read = Notice.filter(message_id__in=ids, first_read_at__isnull=False)
    for m, n in (await per_message(read, "message_id")).items():
        counts[m].read = n
    opened = Notice.filter(message_id__in=ids, first_read_at__isnull=True, opened_at__isnull=False)
    for m, n in (await per_message(opened, "message_id")).items():
        counts[m].opened = n
    acks = Acknowledgement.filter(notice__message_id__in=ids)
    for m, n in (await per_message(acks, "notice__message_id")).items():
        counts[m].acknowledged = n
    reached_by = await (
        Delivery.filter(notice__message_id__in=ids, state__in=_REACHED)
        .exclude(channel=Channel.PORTAL)
        .values_list("notice__message_id", "notice_id", "channel")
    )
    reached = {(m, n) for m, n, _c in reached_by}
    others = {(m, n) for m, n, c in reached_by if c != Channel.LETTER}  # a printed letter is not "delivered"
    failed = set(
        await Delivery.filter(notice__message_id__in=ids, state=DeliveryState.FAILED).values_list(
            "notice__message_id", "notice_id"
        )
    )
    answered = set(await SlipResponse.filter(notice__message_id__in=ids).values_list("notice__message_id", "notice_id"))
    for m, _n in others:
        counts[m].delivered += 1
    for m, _n in reached - others:
        counts[m].printed += 1
    for m, _n in failed - reached:
        counts[m].failed += 1
    for m, _n in answered:
        counts[m].answered += 1
    return counts


@dataclass(frozen=True)
class MessageRow:
    message: Message
    author: str
    counts: Counts
    has_slip: bool


@dataclass(frozen=True)
class MessageList:
    rows: list[MessageRow]
    page: int
    pages: int
    total: int


async def _rows(messages: Sequence[Message]) -> list[MessageRow]:
    ids = [m.id for m in messages]
    counts = await counts_of(ids)
    slips = set(await ids_of(ReplySlip.filter(message_id__in=ids), "message_id"))
    authors = {
        sid: f"{first} {last}"
        for sid, first, last in await Staff.filter(id__in={m.author_id for m in messages}).values_list(
            "id", "first_name", "last_name"
        )
    }
    return [MessageRow(m, authors.get(m.author_id, ""), counts[m.id], m.id in slips) for m in messages]


async def sent_messages(member: Member, page: int = 1) -> MessageList:
    """The messages this member may read that went out or will (drafts apart), newest first, one page."""
    query = Message.filter(school_id=member.school_id).exclude(state=MessageState.DRAFT)
    if not access.sees_whole_school(member.roles):  # the whole school's list needs no id list
        query = query.filter(id__in=list(await visible_message_ids(member)))
    total = await query.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = max(1, min(page, pages))
    messages = await query.order_by("-created_at", "-id").offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    return MessageList(await _rows(messages), page, pages, total)


async def my_drafts(member: Member) -> list[Message]:
    return await Message.filter(school_id=member.school_id, author_id=member.id, state=MessageState.DRAFT).order_by(
        "-created_at", "-id"
    )


async def visible_message(member: Member, message_id: int) -> Message | None:
    """A sent message this member may read (``access.staff_message``), else None."""
    message = await access.staff_message(member.id, member.roles, member.school_id, message_id)
    if message is None or MessageState(message.state) is MessageState.DRAFT:
        return None
    return message


async def restricted_pupils(member: Member, message: Message) -> set[int] | None:
    """The pupils whose families this member follows on ``message``: None for all (its author, whole-school
    roles), else the pupils they teach (a class's other teachers follow their own pupils' families only)."""
    if access.sees_whole_school(member.roles) or message.author_id == member.id:
        return None
    return await access.staff_pupil_ids(member.id, member.roles, member.school_id)


@dataclass(frozen=True)
class AudienceLabel:
    kind: AudienceKind
    label: str


async def audience_labels(message: Message, visible: set[int] | None) -> list[AudienceLabel]:
    terms = await MessageAudience.filter(message_id=message.id).order_by("id").prefetch_related("group", "pupil")
    labels = []
    for term in terms:
        if term.kind == AudienceKind.GROUP and term.group is not None:
            labels.append(
                AudienceLabel(AudienceKind.GROUP, group_label(term.group.kind, term.group.code, term.group.name))
            )
        elif term.kind == AudienceKind.PUPIL and term.pupil is not None:
            shown = visible is None or term.pupil.id in visible
            labels.append(
                AudienceLabel(AudienceKind.PUPIL, f"{term.pupil.first_name} {term.pupil.last_name}" if shown else "")
            )
        elif term.kind == AudienceKind.SCHOOL:
            labels.append(AudienceLabel(AudienceKind.SCHOOL, ""))
    return labels


@dataclass(frozen=True)
class PupilAnswer:
    """One pupil of a family's notice and where their slip stands for this guardian."""

    pupil_id: int
    name: str
    #: ``answered`` (by this guardian), ``by_other`` (another guardian closed it: one answer per pupil),
    #: ``waiting``, ``no_right`` (this guardian may not answer for the pupil).
    status: str
    answers: tuple[tuple[str, str], ...] = ()
    signed_name: str = ""
    at: dt.datetime | None = None


@dataclass(frozen=True)
class FamilyRow:
    notice_id: int
    guardian: str
    #: The channel that reached the family (a channel other than the inbox took it), else None.
    channel: Channel | None
    #: Where the family's copy stands: one of :data:`FAMILY_STATES` (:func:`family_standing`).
    state: str
    #: When ``held``: the release time of its first held delivery.
    held_until: dt.datetime | None
    read_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    pupils: tuple[PupilAnswer, ...]
    #: When the personal link was first fetched (not a read: a mail scanner fetches links too).
    opened_at: dt.datetime | None = None


@dataclass(frozen=True)
class FamilyPage:
    rows: list[FamilyRow]
    page: int
    pages: int
    total: int


def answer_text(question: SlipQuestion, value: object) -> str:
    """An answer as a reader sees it: yes/no in English words for the page to translate, lists joined, a count
    times the unit price with its total."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if question.kind == QuestionKind.AMOUNT and question.unit_price_cents is not None:
        try:
            count = int(str(value))
        except ValueError:
            return str(value)
        return f"{count} × {question.unit_price_cents / 100:.2f} € = {count * question.unit_price_cents / 100:.2f} €"
    if question.kind == QuestionKind.AMOUNT:
        return f"{value} €"
    return str(value)


async def _visible_notices(message: Message, visible: set[int] | None) -> QuerySet[Notice]:
    notices = Notice.filter(message_id=message.id)
    if visible is not None:
        named = await ids_of(NoticePupil.filter(notice__message_id=message.id, pupil_id__in=list(visible)), "notice_id")
        notices = notices.filter(id__in=list(set(named)))
    return notices


async def family_rows(message: Message, visible: set[int] | None, page: int = 1, *, now: dt.datetime) -> FamilyPage:
    """One page of the families of ``message`` (those of ``visible`` pupils when restricted), in a fixed number of
    queries: who they are, which channel reached them, whether they read, acknowledged and answered, pupil by
    pupil. One answer per pupil: a pupil answered by the other parent is closed for this family too."""
    notices = await _visible_notices(message, visible)
    total = await notices.count()
    pages = max(1, math.ceil(total / FAMILIES_PAGE))
    page = max(1, min(page, pages))
    rows = (
        await notices.order_by("guardian__last_name", "guardian__first_name", "id")
        .offset((page - 1) * FAMILIES_PAGE)
        .limit(FAMILIES_PAGE)
        .values("id", "guardian_id", "guardian__first_name", "guardian__last_name", "first_read_at", "opened_at")
    )
    ids = [r["id"] for r in rows]
    deliveries = await _plan_deliveries(Delivery.filter(notice_id__in=ids))
    acks = dict(await Acknowledgement.filter(notice_id__in=ids).values_list("notice_id", "at"))
    links = (
        await NoticePupil.filter(notice_id__in=ids)
        .order_by("pupil__first_name")
        .values("notice_id", "pupil_id", "pupil__first_name", "pupil__last_name")
    )
    slip = await ReplySlip.get_or_none(message_id=message.id)
    questions = list(await SlipQuestion.filter(slip_id=slip.id).order_by("position")) if slip else []
    responses: list[SlipResponse] = []
    rights: set[tuple[int, int]] = set()
    if slip is not None:
        pupil_ids = list({link["pupil_id"] for link in links})
        responses = list(await SlipResponse.filter(slip_id=slip.id, pupil_id__in=pupil_ids))
        rights = set(
            await Guardianship.filter(
                pupil_id__in=pupil_ids, guardian_id__in=[r["guardian_id"] for r in rows], may_answer=True, barred=False
            ).values_list("guardian_id", "pupil_id")
        )
    by_notice: dict[int, list[dict]] = defaultdict(list)
    for d in deliveries:
        by_notice[d["notice_id"]].append(d)
    families = []
    for row in rows:
        standing = family_standing(by_notice[row["id"]], now)
        pupils = tuple(
            _pupil_answer(link, row["guardian_id"], slip, questions, responses, rights)
            for link in links
            if link["notice_id"] == row["id"] and (visible is None or link["pupil_id"] in visible)
        )
        families.append(
            FamilyRow(
                notice_id=row["id"],
                guardian=f"{row['guardian__first_name']} {row['guardian__last_name']}",
                channel=standing.channel,
                state=standing.state,
                held_until=standing.held_until,
                read_at=row["first_read_at"],
                acknowledged_at=acks.get(row["id"]),
                pupils=pupils,
                opened_at=row["opened_at"],
            )
        )
    return FamilyPage(families, page, pages, total)


def _pupil_answer(
    link: dict,
    guardian_id: int,
    slip: ReplySlip | None,
    questions: Sequence[SlipQuestion],
    responses: Sequence[SlipResponse],
    rights: set[tuple[int, int]],
) -> PupilAnswer:
    pupil_id = link["pupil_id"]
    name = f"{link['pupil__first_name']} {link['pupil__last_name']}"
    if slip is None:
        return PupilAnswer(pupil_id, name, "")
    own = next((r for r in responses if r.pupil_id == pupil_id and r.guardian_id == guardian_id), None)
    if own is not None:
        values = dict(own.answers or {})
        lines = tuple((q.text, answer_text(q, values[str(q.position)])) for q in questions if str(q.position) in values)
        return PupilAnswer(pupil_id, name, "answered", lines, own.signed_name, own.at)
    if (guardian_id, pupil_id) not in rights:
        return PupilAnswer(pupil_id, name, "no_right")
    other = any(r.pupil_id == pupil_id for r in responses)
    if other and AnswerMode(slip.answer_mode) is AnswerMode.ONE_PER_PUPIL:
        return PupilAnswer(pupil_id, name, "by_other")
    return PupilAnswer(pupil_id, name, "waiting")


# ------------------------------------------------------------------------------------ where each family stands

#: Where a family's copy of a message stands, one state per family (the first that applies, in this order):
#: ``delivered`` (a channel other than the inbox took it: sent, or confirmed delivered), ``sending`` (a worker
#: has it or may take it now), ``held`` (its next delivery waits for its time: the charter's hours, the
#: guardian's own quiet hours, the daily limit, a retry's wait), ``failed`` (every channel tried failed, nothing
#: is left to try) and ``portal`` (nothing but the inbox: the guardian acknowledged before any channel went).
#: ``printed``: the only channel that took it is a printed letter, handed over but not known delivered.
FAMILY_STATES = ("delivered", "printed", "sending", "held", "failed", "portal")
_WAITING = (DeliveryState.PLANNED, DeliveryState.HELD)
_GOING = (DeliveryState.DUE, DeliveryState.CLAIMED)


@dataclass(frozen=True)
class Standing:
    state: str
    #: ``delivered``: the channel that reached the family.
    channel: Channel | None = None
    #: ``held``: the release time of its first held delivery.
    held_until: dt.datetime | None = None


def family_standing(deliveries: Iterable[Mapping[str, Any]], now: dt.datetime) -> Standing:
    """Where one family's copy stands, from its deliveries (``channel``, ``state``, ``due_at``, ``purpose``, in
    the order of the plan). The inbox and the reminders are left out: the portal step is in the inbox from the
    start (it alerts nobody), and a reminder is about answering, not about reaching the family. A held row whose
    time has come counts as being sent: the next worker pass takes it."""
    plan = [d for d in deliveries if d["purpose"] != DeliveryPurpose.REMINDER and d["channel"] != Channel.PORTAL]
    reached = [d for d in plan if d["state"] in _REACHED]
    others = [d for d in reached if d["channel"] != Channel.LETTER]
    if others:
        return Standing("delivered", channel=Channel(others[-1]["channel"]))
    if reached:  # a printed letter only: "letter printed", never delivered
        return Standing("printed", channel=Channel.LETTER)
    waiting = [d["due_at"] for d in plan if d["state"] in _WAITING]
    if any(d["state"] in _GOING for d in plan) or any(due <= now for due in waiting):
        return Standing("sending")
    if waiting:
        return Standing("held", held_until=min(waiting))
    if any(d["state"] == DeliveryState.FAILED for d in plan):
        return Standing("failed")
    return Standing("portal")


async def _plan_deliveries(query: QuerySet[Delivery]) -> list[dict[str, Any]]:
    """The rows :func:`family_standing` reads, in the order of the plan (the inbox and reminders left out)."""
    return list(
        await query.exclude(channel=Channel.PORTAL)
        .exclude(purpose=DeliveryPurpose.REMINDER)
        .order_by("step", "id")
        .values("notice_id", "channel", "state", "due_at", "purpose")
    )


@dataclass(frozen=True)
class FamilyProgress:
    """A message's families by where their copy stands (:data:`FAMILY_STATES`, each family counted once: the
    counts add up to ``families``), the unit the preview counts in."""

    families: int = 0
    delivered: int = 0
    #: Families reached by nothing but a printed letter (not known delivered).
    printed: int = 0
    sending: int = 0
    held: int = 0
    failed: int = 0
    portal: int = 0
    #: The release time of the first held delivery (None when no family is held).
    held_until: dt.datetime | None = None
    #: Families who find the message in their portal inbox now (its inbox step delivered).
    in_portal: int = 0

    @property
    def done(self) -> int:
        """Families for whom nothing is left to do: reached, failed everywhere, or read in the inbox."""
        return self.delivered + self.printed + self.failed + self.portal

    @property
    def phase(self) -> str:
        """``held`` (nothing went or is going out yet: every family left waits for its time), ``sending``
        (deliveries are going out now), ``partly_held`` (some went out, the others wait for their time) or
        ``done`` (every delivery went out or failed for good)."""
        if self.sending:
            return "sending"
        if self.held:
            return "partly_held" if self.delivered or self.printed or self.portal else "held"
        return "done"

    def as_json(self) -> dict[str, Any]:
        return {
            "families": self.families,
            "delivered": self.delivered,
            "printed": self.printed,
            "sending": self.sending,
            "held": self.held,
            "failed": self.failed,
            "portal": self.portal,
            "done": self.done,
            "in_portal": self.in_portal,
            "held_until": self.held_until.astimezone(dt.UTC).isoformat() if self.held_until else None,
            "phase": self.phase,
        }


async def family_progress(message_id: int, *, now: dt.datetime) -> FamilyProgress:
    """Where every family of ``message_id`` stands (:func:`family_standing`), in three queries."""
    notices = list(await ids_of(Notice.filter(message_id=message_id)))
    by_notice: dict[int, list[dict[str, Any]]] = {n: [] for n in notices}
    for row in await _plan_deliveries(Delivery.filter(notice__message_id=message_id)):
        by_notice.setdefault(row["notice_id"], []).append(row)
    in_portal = await Delivery.filter(
        notice__message_id=message_id, channel=Channel.PORTAL, state=DeliveryState.DELIVERED
    ).count()
    piles: Counter[str] = Counter()
    releases: list[dt.datetime] = []
    for rows in by_notice.values():
        standing = family_standing(rows, now)
        piles[standing.state] += 1
        if standing.held_until is not None:
            releases.append(standing.held_until)
    return FamilyProgress(
        families=len(by_notice),
        delivered=piles["delivered"],
        printed=piles["printed"],
        sending=piles["sending"],
        held=piles["held"],
        failed=piles["failed"],
        portal=piles["portal"],
        held_until=min(releases, default=None),
        in_portal=in_portal,
    )


@dataclass(frozen=True)
class MessagePage:
    message: Message
    author: str
    audience: list[AudienceLabel]
    counts: Counts
    #: Where the families stand (all of the message's, whoever reads the page).
    standing: FamilyProgress
    slip: ReplySlip | None
    questions: list[SlipQuestion]
    attachments: list[FileRef]
    families: FamilyPage
    restricted: bool


async def message_page(member: Member, message: Message, page: int = 1, *, now: dt.datetime) -> MessagePage:
    visible = await restricted_pupils(member, message)
    author = await Staff.get(id=message.author_id)
    slip = await ReplySlip.get_or_none(message_id=message.id)
    return MessagePage(
        message=message,
        author=f"{author.first_name} {author.last_name}",
        audience=await audience_labels(message, visible),
        counts=(await counts_of([message.id]))[message.id],
        standing=await family_progress(message.id, now=now),
        slip=slip,
        questions=list(await SlipQuestion.filter(slip_id=slip.id).order_by("position")) if slip else [],
        attachments=await attachments_of(message.id),
        families=await family_rows(message, visible, page, now=now),
        restricted=visible is not None,
    )


async def channel_progress(message_id: int) -> dict[str, int]:
    """Like ``dispatch.progress`` (deliveries per state) without the portal inbox, which is "delivered" the moment
    a message is published: what is left is what the channels are doing."""
    rows = (
        await Delivery.filter(notice__message_id=message_id)
        .exclude(channel=Channel.PORTAL)
        .annotate(n=Count("id"))
        .group_by("state")
        .values_list("state", "n")
    )
    return {str(state): int(n) for state, n in rows}


def progress_summary(states: Mapping[str, int]) -> dict[str, int]:
    """Deliveries in piles a sender understands: done (sent or delivered), sending (due or claimed now), waiting
    (held, planned: charter hours, the next channel, reminders), failed, and cancelled (the steps an
    acknowledgement made unnecessary)."""
    return {
        "done": sum(states.get(s, 0) for s in _REACHED),
        "sending": states.get(DeliveryState.DUE, 0) + states.get(DeliveryState.CLAIMED, 0),
        "waiting": sum(states.get(s, 0) for s in _PENDING),
        "failed": states.get(DeliveryState.FAILED, 0),
        "cancelled": states.get(DeliveryState.CANCELLED, 0),
        "total": sum(states.values()),
    }


async def responses_csv(message: Message, visible: set[int] | None, *, tz: str, words: Mapping[str, str]) -> str:
    """The slip's answers as a spreadsheet expects them: see :func:`hub.messaging.responses.responses_csv`."""
    return await responses.responses_csv(message, visible, tz=tz, words=words)


# ------------------------------------------------------------------------------------------------ the home


@dataclass(frozen=True)
class Dashboard:
    recent: list[MessageRow]
    drafts: list[Message]
    #: Threads with a family's post not read yet, and threads whose last post is a family's.
    unread_threads: int
    waiting_threads: int
    #: Letters waiting to be printed (None: this member does not print).
    letters: int | None


async def dashboard(member: threads.Viewer) -> Dashboard:
    """The staff home: a member's five latest messages with their rates, their drafts, the replies waiting and
    (for the office) the letters to print. A handful of queries."""
    mine = (
        await Message.filter(school_id=member.school_id, author_id=member.id)
        .exclude(state=MessageState.DRAFT)
        .order_by("-created_at", "-id")
        .limit(5)
    )
    inbox = await threads.inbox(member)
    letters = None
    if member.roles & access.WHOLE_SCHOOL_ROLES:
        letters = await Delivery.filter(
            channel=Channel.LETTER, state__in=LETTERS_WAITING, notice__message__school_id=member.school_id
        ).count()
    return Dashboard(
        recent=await _rows(mine),
        drafts=await my_drafts(member),
        unread_threads=sum(1 for e in inbox if e.unread),
        waiting_threads=sum(1 for e in inbox if not e.answered),
        letters=letters,
    )
