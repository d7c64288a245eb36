"""The school office's paper work, for the web pages and the JSON API: the print queue grouped by message, print
batches kept as a record, and the reply slips that come back on paper.

A print batch is recorded in the audit log (``paper.batch_printed``, with the ids of the deliveries it printed),
not as a file: the batch's PDF is rendered again from those deliveries when it is downloaded, dated the day it
was printed. So no letter (a family's name and address) lies on the server's disk, a GDPR erasure needs nothing
more, and every web process of the school can serve any batch. Every batch is printed and recorded by
:func:`print_letters`, from the print queue's page as from ``carnet paper print``, so the page lists them all.

Printing is a staff action: it works at any hour (see :mod:`hub.messaging.paper` for which letters a batch takes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tortoise.queryset import QuerySet

from hub.enums import ActorKind, AnswerMode, QuestionKind
from hub.inputs import parse_count
from hub.messaging import paper, translations
from hub.messaging.models import Delivery, Notice, NoticePupil, ReplySlip, SlipQuestion, SlipResponse
from hub.people.models import Guardian, Guardianship, Staff
from hub.store.audit import AuditEntry, audit

BATCH_ACTION = "paper.batch_printed"
#: How many past batches the print queue lists.
PAST_BATCHES = 20
#: Where a batch was printed: the print queue's page, or the ``carnet paper print`` command.
FROM_PAGE, FROM_COMMAND = "page", "command"


# ------------------------------------------------------------------------------------------------ the queue


@dataclass
class QueueGroup:
    """The letters of one message: waiting to be printed, or (in :attr:`PrintQueue.later`) waiting for the time
    the sender chose."""

    message_id: int
    subject: str
    count: int = 0
    #: How many wait because the family has only paper, and how many as the last step of a plan.
    paper_only: int = 0
    fallback: int = 0
    oldest: dt.datetime | None = None
    #: How many the quiet hours hold (printed all the same when asked for) or, for a message scheduled for later,
    #: the sender's chosen time; and the earliest time one of them is released.
    held: int = 0
    held_until: dt.datetime | None = None
    guardians: list[str] = field(default_factory=list)
    #: The letters themselves: the page's "print these" button prints exactly them.
    delivery_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PrintQueue:
    #: The letters a batch prints now, one group per message, the oldest message first.
    groups: list[QueueGroup]
    #: Letters of messages scheduled for later by their sender: not printable before that time.
    later: list[QueueGroup]

    @property
    def count(self) -> int:
        return sum(group.count for group in self.groups)

    @property
    def delivery_ids(self) -> list[int]:
        return [i for group in self.groups for i in group.delivery_ids]


def _groups(items: list[paper.PaperItem]) -> list[QueueGroup]:
    groups: dict[int, QueueGroup] = {}
    for item in items:
        group = groups.setdefault(item.message_id, QueueGroup(item.message_id, item.subject))
        group.count += 1
        if item.reason == "only channel":
            group.paper_only += 1
        else:
            group.fallback += 1
        if item.held:
            group.held += 1
            group.held_until = min(group.held_until or item.due_at, item.due_at)
        else:
            group.oldest = min(group.oldest or item.due_at, item.due_at)
        group.guardians.append(item.guardian_name)
        group.delivery_ids.append(item.delivery_id)
    return list(groups.values())


async def print_queue(school_id: int, now: dt.datetime) -> PrintQueue:
    """The school's print queue at ``now``: what a batch prints now (exactly :func:`hub.messaging.paper.paper_list`),
    and
    the letters waiting for their sender's chosen time."""
    return PrintQueue(
        groups=_groups(await paper.paper_list(now=now, school_id=school_id)),
        later=_groups(await paper.letters_for_later(now=now, school_id=school_id)),
    )


@dataclass(frozen=True)
class BatchRecord:
    id: int
    at: dt.datetime
    count: int
    message_id: int | None
    staff_id: int | None
    #: ``FROM_PAGE`` or ``FROM_COMMAND``.
    source: str = FROM_PAGE
    #: The staff member who printed it ("" when unknown: a command run without ``--staff``).
    by: str = ""


@dataclass(frozen=True)
class PrintedBatch:
    pdf: bytes  #: every letter of the batch, one PDF
    count: int
    #: The batch as each school's print queue lists it (one record; several when a command printed for all).
    records: list[BatchRecord]


async def print_letters(
    *,
    school_id: int | None,
    staff_id: int | None,
    now: dt.datetime,
    base_url: str,
    message_id: int | None = None,
    delivery_ids: Iterable[int] | None = None,
    source: str = FROM_PAGE,
) -> PrintedBatch | None:
    """Print what the print queue holds now (one school's or, from the command, every school's; one message's or
    all; only ``delivery_ids`` when the page says which it showed) with :func:`hub.messaging.paper.print_batch`, which
    marks them handed over, at any hour; and record the batch, once per school, so that the school's print
    queue lists it with its PDF. None when nothing was printable."""
    batch = await paper.print_batch(
        now=now, base_url=base_url, school_id=school_id, message_id=message_id, delivery_ids=delivery_ids
    )
    if not batch.count:
        return None
    school_of = dict(await Delivery.filter(id__in=batch.delivery_ids).values_list("id", "notice__message__school_id"))
    by_school: dict[int, list[int]] = {}
    for delivery_id in batch.delivery_ids:  # in the PDF's order
        by_school.setdefault(int(school_of[delivery_id]), []).append(delivery_id)
    records = []
    for of_school, ids in sorted(by_school.items()):
        entry = await audit(
            BATCH_ACTION,
            at=now,
            actor_kind=ActorKind.STAFF if staff_id is not None else ActorKind.SYSTEM,
            actor_id=staff_id,
            subject_type="school",
            subject_id=of_school,
            message_id=message_id,
            count=len(ids),
            delivery_ids=ids,
            source=source,
        )
        records.append(_record(entry, await _names([entry])))
    return PrintedBatch(pdf=batch.pdf, count=batch.count, records=records)


async def _names(entries: list[AuditEntry]) -> dict[int, str]:
    ids = {e.actor_id for e in entries if e.actor_id is not None and e.actor_kind == ActorKind.STAFF}
    rows = await Staff.filter(id__in=sorted(ids)).values_list("id", "first_name", "last_name") if ids else []
    return {int(i): f"{first} {last}" for i, first, last in rows}


def _record(entry: AuditEntry, names: dict[int, str]) -> BatchRecord:
    staff_id = entry.actor_id if entry.actor_kind == ActorKind.STAFF else None
    return BatchRecord(
        id=entry.id,
        at=entry.at,
        count=int(entry.details.get("count", 0)),
        message_id=entry.details.get("message_id"),
        staff_id=staff_id,
        source=str(entry.details.get("source", FROM_PAGE)),
        by=names.get(staff_id, "") if staff_id is not None else "",
    )


async def past_batches(school_id: int, limit: int = PAST_BATCHES) -> list[BatchRecord]:
    """The school's last print batches (from the page and from the command alike), newest first."""
    entries = await _batches(school_id).order_by("-at", "-id").limit(limit)
    names = await _names(entries)
    return [_record(e, names) for e in entries]


async def batch(batch_id: int, school_id: int) -> BatchRecord | None:
    """One print batch of this school, or None."""
    entry = await _batches(school_id).filter(id=batch_id).first()
    return _record(entry, await _names([entry])) if entry is not None else None


def _batches(school_id: int) -> QuerySet[AuditEntry]:
    return AuditEntry.filter(action=BATCH_ACTION, subject_type="school", subject_id=str(school_id))


async def batch_pdf(batch_id: int, school_id: int, base_url: str) -> bytes | None:
    """The PDF of a past batch of this school (None if there is none), rendered again from its deliveries."""
    entry = await _batches(school_id).filter(id=batch_id).first()
    if entry is None:
        return None
    ids = [int(i) for i in entry.details.get("delivery_ids", [])]
    deliveries = Delivery.filter(id__in=ids, notice__message__school_id=school_id)
    return await paper.render_batch(deliveries, base_url=base_url, at=entry.at) or None


# --------------------------------------------------------------------------------------- slips back on paper


@dataclass(frozen=True)
class Question:
    position: int
    kind: QuestionKind
    text: str
    choices: tuple[str, ...]
    required: bool
    #: An amount priced per unit: the letter asks how many, and so does the form (see ``hub.slips``).
    unit_price_cents: int | None = None


@dataclass(frozen=True)
class PupilSlip:
    """One pupil of the letter: the answer already recorded (by any channel), if any."""

    pupil_id: int
    name: str
    may_answer: bool
    answer: SlipResponse | None


@dataclass(frozen=True)
class Signer:
    """A guardian a household letter names: the one who signed the slip is the one the answer is recorded for."""

    guardian_id: int
    name: str


@dataclass(frozen=True)
class PaperLetter:
    notice: Notice
    code: str
    subject: str
    guardian_name: str
    deadline: dt.datetime
    needs_signature: bool
    questions: tuple[Question, ...]
    pupils: tuple[PupilSlip, ...]
    #: The guardians the letter names: one, or those of a household that shared one copy.
    signers: tuple[Signer, ...] = ()
    #: The slip needs every guardian's answer: each signer's is recorded apart.
    every_guardian: bool = False


class LetterProblem(paper.PaperError):
    """Why a code gives no form: ``malformed`` (not 8 characters as printed), ``ambiguous`` (two letters share
    it: use the long link), ``unknown`` (no letter of this school) or ``no_slip`` (nothing to answer)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


async def find_letter(code: str, school_id: int) -> PaperLetter:
    """The letter with this short code, with its slip's questions and each pupil's answer so far; raises
    ``LetterProblem``. Another school's letter is unknown here."""
    try:
        normalised = paper.normalise_code(code)
    except paper.PaperError:
        raise LetterProblem("malformed") from None
    try:
        notice = await paper.find_notice_by_code(normalised)
    except paper.PaperError:
        raise LetterProblem("ambiguous") from None
    if notice is None:
        raise LetterProblem("unknown")
    await notice.fetch_related("message", "guardian")
    if notice.message.school_id != school_id:
        raise LetterProblem("unknown")
    slip = await ReplySlip.get_or_none(message_id=notice.message.id)
    if slip is None:
        raise LetterProblem("no_slip")
    questions = tuple(
        Question(q.position, QuestionKind(q.kind), q.text, tuple(q.choices or ()), q.required, q.unit_price_cents)
        for q in await SlipQuestion.filter(slip_id=slip.id).order_by("position")
    )
    answers = await _answers_so_far(slip, notice)
    household = await paper.household_notices(notice)
    signer_ids = [n.guardian_id for n in household]
    rights: dict[int, bool] = {}
    for pupil_id, may_answer in await Guardianship.filter(guardian_id__in=signer_ids, barred=False).values_list(
        "pupil_id", "may_answer"
    ):
        rights[pupil_id] = rights.get(pupil_id, False) or bool(may_answer)
    names = dict(await Guardian.filter(id__in=signer_ids).values_list("id", "first_name"))
    last_names = dict(await Guardian.filter(id__in=signer_ids).values_list("id", "last_name"))
    pupil_rows = (
        await NoticePupil.filter(notice_id__in=[n.id for n in household])
        .order_by("pupil__first_name")
        .values_list("pupil_id", "pupil__first_name", "pupil__last_name")
    )
    pupils = tuple(
        PupilSlip(pupil_id, f"{first} {last}", bool(rights.get(pupil_id)), answers.get(pupil_id))
        for pupil_id, (first, last) in {p: (f, la) for p, f, la in pupil_rows}.items()
    )
    subjects = await translations.subjects_for(  # as the letter printed it: in the guardian's language if written
        notice.guardian.language,
        await translations.school_language(school_id),
        {notice.message.id: notice.message.subject},
    )
    return PaperLetter(
        notice=notice,
        code=normalised,
        subject=subjects[notice.message.id],
        guardian_name=f"{notice.guardian.first_name} {notice.guardian.last_name}",
        deadline=slip.deadline,
        needs_signature=slip.needs_signature,
        questions=questions,
        pupils=pupils,
        signers=tuple(Signer(g, f"{names[g]} {last_names[g]}") for g in signer_ids),
        every_guardian=AnswerMode(slip.answer_mode) is AnswerMode.EVERY_GUARDIAN,
    )


async def _answers_so_far(slip: ReplySlip, notice: Notice) -> dict[int, SlipResponse]:
    """Per pupil, the answer that closes the slip for this letter: anyone's when one answer per pupil is
    enough, else this guardian's own (each signer's own: see :func:`record_letter_answer`)."""
    responses = SlipResponse.filter(slip_id=slip.id).order_by("at")
    if AnswerMode(slip.answer_mode) is not AnswerMode.ONE_PER_PUPIL:
        responses = responses.filter(guardian_id=notice.guardian.id)
    return {r.pupil_id: r for r in await responses}


class AnswerError(ValueError):
    """A typed-in answer the slip does not allow; ``position`` says which question (0: the slip as a whole)."""

    def __init__(self, position: int, problem: str) -> None:
        super().__init__(f"question {position}: {problem}")
        self.position = position
        self.problem = problem


def read_answers(letter: PaperLetter, form: dict[str, list[str]]) -> dict[str, Any]:
    """The answers of the form (``q<position>`` fields), checked against the slip's questions.

    Stored as the other channels store them: yes/no as "yes"/"no", a choice as its text, several choices as a
    list of texts, an amount in euros as "12.50", free text as typed. Raises ``AnswerError`` with the problem
    (``required``, ``choice``, ``amount``)."""
    answers: dict[str, Any] = {}
    for q in letter.questions:
        values = [v.strip() for v in form.get(f"q{q.position}", []) if v.strip()]
        if not values:
            if q.required:
                raise AnswerError(q.position, "required")
            continue
        if q.kind is QuestionKind.YES_NO:
            if values[0] not in (paper.YES, paper.NO):
                raise AnswerError(q.position, "choice")
            answers[str(q.position)] = values[0]
        elif q.kind is QuestionKind.ONE_CHOICE:
            if values[0] not in q.choices:
                raise AnswerError(q.position, "choice")
            answers[str(q.position)] = values[0]
        elif q.kind is QuestionKind.MANY_CHOICES:
            if any(v not in q.choices for v in values):
                raise AnswerError(q.position, "choice")
            answers[str(q.position)] = [c for c in q.choices if c in values]
        elif q.kind is QuestionKind.AMOUNT and q.unit_price_cents is not None:
            answers[str(q.position)] = _count(values[0], q.position)
        elif q.kind is QuestionKind.AMOUNT:
            answers[str(q.position)] = _euros(values[0], q.position)
        else:
            answers[str(q.position)] = values[0]
    return answers


#: More than any family would order: a typo, not an answer.
MAX_COUNT = 100


def _count(text: str, position: int) -> int:
    """How many, for an amount priced per unit (stored as the count, like the portal does)."""
    count = parse_count(text, MAX_COUNT)
    if count is None:
        raise AnswerError(position, "count")
    return count


def _euros(text: str, position: int) -> str:
    try:
        amount = Decimal(text.replace("€", "").replace(" ", "").replace(",", "."))
    except InvalidOperation:
        raise AnswerError(position, "amount") from None
    if not amount.is_finite() or amount < 0 or amount > 100_000:
        raise AnswerError(position, "amount")
    return f"{amount.quantize(Decimal('0.01'))}"


async def record_letter_answer(
    letter: PaperLetter,
    *,
    pupil_id: int,
    answers: dict[str, Any],
    signed_name: str,
    staff_id: int,
    now: dt.datetime,
    signer_id: int | None = None,
) -> SlipResponse:
    """Record a slip that came back, once: a pupil already answered for (by any channel) is refused, the page
    shows that answer instead. ``signer_id``: which guardian of a household letter signed (the answer is theirs;
    by default the guardian of the code). When every guardian must answer, each signer answers once.
    The audit entry is written by :func:`hub.messaging.paper.record_paper_answer`."""
    pupil = next((p for p in letter.pupils if p.pupil_id == pupil_id), None)
    if pupil is None:
        raise paper.PaperError("pupil not on the letter")
    signer = signer_id if signer_id is not None else letter.notice.guardian_id
    if all(s.guardian_id != signer for s in letter.signers):
        raise paper.PaperError("guardian not named on the letter")
    if letter.every_guardian:
        own = await SlipResponse.filter(
            slip__message_id=letter.notice.message_id, pupil_id=pupil_id, guardian_id=signer
        ).first()
        if own is not None:
            raise AlreadyAnswered(own)
    elif pupil.answer is not None:
        raise AlreadyAnswered(pupil.answer)
    return await paper.record_paper_answer(
        letter.code,
        pupil_id=pupil_id,
        answers=answers,
        signed_name=signed_name,
        staff_id=staff_id,
        now=now,
        guardian_id=signer,
    )


class AlreadyAnswered(paper.PaperError):
    def __init__(self, response: SlipResponse) -> None:
        super().__init__("already answered")
        self.response = response
