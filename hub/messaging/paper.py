"""The paper list: the families a printed letter must reach (the digital divide, guide 6967 section IV f).

A notice reaches the paper list when its plan comes to the letter: at once for families without internet, or
after the last electronic channel failed or went unacknowledged. The list is read from the deliveries themselves
(the queue is the report), so it is never out of step with what was sent.

Printing is a staff action, done whenever a person asks: the charter governs what families receive and when they
are disturbed, not when the office works. A letter rings nobody, and it reaches the family when it is handed over
or posted (in school hours), so a letter held by the quiet hours (the charter's, the daily limit's or the
guardian's own) is printed at once when asked for. Two kinds of letter wait all the same, because their time is
not the charter's to give: the letters of a message whose sender chose to send it later (``scheduled_at`` still
to come), and the steps of a plan whose own time has not come (PLANNED: a retry's wait, a slip's reminder). The
list (:func:`paper_list`) and the batch (:func:`print_batch`) read the same query (:func:`printable`), so the
print queue shows exactly what a click prints.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from channels.letter import LetterRecipient, LetterSchool, render_letters
from hub.enums import ActorKind, AnswerMode, Channel, DeliveryState, QuestionKind
from hub.messaging.links import notice_views
from hub.messaging.models import Delivery, Notice, NoticePupil, ReplySlip, SlipQuestion, SlipResponse
from hub.messaging.planning import LEASE, PlanningError, record_answer, record_outcome
from hub.messaging.rendering import language_of, render_letter
from hub.people.models import Guardian, School
from hub.store.audit import audit
from hub.store.db import ids_of

#: The states of a letter in the print queue: due, held by the quiet hours (or the sender's chosen time), or in a
#: batch being printed. Which of them a batch prints now is :func:`printable`'s to say.
WAITING = (DeliveryState.DUE, DeliveryState.HELD, DeliveryState.CLAIMED)


@dataclass(frozen=True)
class PaperItem:
    delivery_id: int
    notice_id: int
    message_id: int
    subject: str
    guardian_id: int
    guardian_name: str
    address_lines: tuple[str, ...]
    due_at: datetime
    #: Why paper: "only channel" for families without internet, "fallback" or "escalation" otherwise.
    reason: str
    #: Held until ``due_at`` by the quiet hours (printed all the same when asked for) or, for
    #: :func:`letters_for_later`, by the sender's chosen time (``due_at`` is that time).
    held: bool = False
    #: The guardian's household (the roster's): guardians of one household at one address share a letter.
    household_id: int | None = None


def _address(street: str, postal_code: str, city: str, country: str) -> tuple[str, ...]:
    lines = [street, f"{postal_code} {city}".strip()]
    if country and country != "BE":
        lines.append(country)
    return tuple(line for line in lines if line)


class PaperError(Exception):
    """What the secretary must be told: an unknown or ambiguous code, a pupil not on the letter, a bad answer."""


@dataclass(frozen=True)
class PrintBatch:
    pdf: bytes  #: one PDF, every letter on its own pages; b"" when nothing was waiting
    delivery_ids: list[int]
    count: int


def _letters(message_id: int | None, school_id: int | None) -> QuerySet[Delivery]:
    query = Delivery.filter(channel=Channel.LETTER)
    if message_id is not None:
        query = query.filter(notice__message_id=message_id)
    if school_id is not None:
        query = query.filter(notice__message__school_id=school_id)
    return query


def _sender_time_come(now: datetime) -> Q:
    """The message has no chosen sending time, or that time has come."""
    return Q(notice__message__scheduled_at__isnull=True) | Q(notice__message__scheduled_at__lte=now)


def printable(
    now: datetime,
    *,
    message_id: int | None = None,
    school_id: int | None = None,
    delivery_ids: Iterable[int] | None = None,
) -> QuerySet[Delivery]:
    """The letters a batch printed at ``now`` takes (one message's, one school's, or only ``delivery_ids``):

    - DUE letters;
    - HELD letters, held by the quiet hours (the charter's, the daily limit's, the guardian's own): a person asks
      for them, and a paper letter disturbs nobody; unless their message is SCHEDULED for a time still to come,
      which is the sender's choice, not the charter's;
    - PLANNED steps whose time has come (a retry, a reminder): those still to come are not in the queue yet;
    - letters CLAIMED by a batch that crashed, once its lease expired (a live claim is another batch printing).
    """
    query = _letters(message_id, school_id)
    if delivery_ids is not None:
        query = query.filter(id__in=sorted(set(delivery_ids)))
    return query.filter(
        Q(state=DeliveryState.DUE)
        | Q(Q(state=DeliveryState.HELD), _sender_time_come(now))
        | Q(state=DeliveryState.PLANNED, due_at__lte=now)
        | Q(state=DeliveryState.CLAIMED, lease_until__lt=now)
    )


async def paper_list(*, now: datetime, message_id: int | None = None, school_id: int | None = None) -> list[PaperItem]:
    """The letters to print at ``now``, oldest first, in one query: what :func:`print_batch` would print."""
    return await _items(printable(now, message_id=message_id, school_id=school_id), now)


async def letters_for_later(
    *, now: datetime, message_id: int | None = None, school_id: int | None = None
) -> list[PaperItem]:
    """The letters of messages their sender scheduled for later: printed once that time has come, not before."""
    query = _letters(message_id, school_id).filter(state=DeliveryState.HELD, notice__message__scheduled_at__gt=now)
    return await _items(query, now)


async def _items(query: QuerySet[Delivery], now: datetime | None = None) -> list[PaperItem]:
    rows = await query.order_by("due_at", "id").values(
        "id",
        "notice_id",
        "due_at",
        "state",
        "purpose",
        "step",
        "notice__message_id",
        "notice__message__subject",
        "notice__message__scheduled_at",
        "notice__guardian_id",
        "notice__guardian__first_name",
        "notice__guardian__last_name",
        "notice__guardian__street",
        "notice__guardian__postal_code",
        "notice__guardian__city",
        "notice__guardian__country",
        "notice__guardian__household__street",
        "notice__guardian__household__postal_code",
        "notice__guardian__household__city",
        "notice__guardian__household__country",
        "notice__guardian__household_id",
    )
    items = []
    for r in rows:
        own = _address(
            r["notice__guardian__street"] or "",
            r["notice__guardian__postal_code"] or "",
            r["notice__guardian__city"] or "",
            r["notice__guardian__country"] or "",
        )
        home = _address(
            r["notice__guardian__household__street"] or "",
            r["notice__guardian__household__postal_code"] or "",
            r["notice__guardian__household__city"] or "",
            r["notice__guardian__household__country"] or "",
        )
        scheduled_at = r["notice__message__scheduled_at"]
        if now is not None and scheduled_at is not None and scheduled_at > now:
            # The sender's chosen time: the letter may be printed from then on, whatever the quiet hours say.
            held, due_at = True, scheduled_at
        else:
            state = DeliveryState(r["state"])
            held = state in (DeliveryState.HELD, DeliveryState.PLANNED) and now is not None and r["due_at"] > now
            due_at = r["due_at"]
        items.append(
            PaperItem(
                delivery_id=r["id"],
                notice_id=r["notice_id"],
                message_id=r["notice__message_id"],
                subject=r["notice__message__subject"],
                guardian_id=r["notice__guardian_id"],
                guardian_name=f"{r['notice__guardian__first_name']} {r['notice__guardian__last_name']}",
                address_lines=own or home,
                due_at=due_at,
                reason=str(r["purpose"]) if r["purpose"] != "initial" else "only channel",
                held=held,
                household_id=r["notice__guardian__household_id"],
            )
        )
    return items


# ------------------------------------------------------------------------------------------------ printing


def _school_lines(address: str) -> tuple[str, ...]:
    """The letterhead's address lines, from one line per line or "Rue des Écoliers 12, 5000 Namur"."""
    parts = address.splitlines() if "\n" in address else address.split(",")
    return tuple(part.strip() for part in parts if part.strip())


async def _claim_letters(now: datetime, letters: QuerySet[Delivery]) -> str:
    """Take these printable letters under a lease (compare-and-set): two secretaries printing at once never
    print the same letter twice. A held letter (or a step whose time has come) becomes DUE first, as the worker
    would make it at its time; one held for later is due from ``now``, when a person asked for it. A claim left
    by a batch that crashed is taken back once its lease expired. Returns the claim's owner."""
    ids = list(await ids_of(letters))
    owner = f"print-{secrets.token_hex(8)}"
    if not ids:
        return owner
    waiting = (DeliveryState.HELD, DeliveryState.PLANNED)
    await Delivery.filter(id__in=ids, state__in=waiting, due_at__gt=now).update(state=DeliveryState.DUE, due_at=now)
    await Delivery.filter(id__in=ids, state__in=waiting).update(state=DeliveryState.DUE)
    await Delivery.filter(
        Q(state=DeliveryState.DUE) | Q(state=DeliveryState.CLAIMED, lease_until__lt=now), id__in=ids
    ).update(state=DeliveryState.CLAIMED, claimed_by=owner, lease_until=now + LEASE)
    return owner


def households(items: Sequence[PaperItem]) -> list[list[PaperItem]]:
    """The letters of a batch, one per household: the guardians who live together (one household of the roster,
    at one address) share one copy of a message's letter; separated parents, or a guardian whose own address is
    elsewhere, get their own. In the batch's order, each household where its first letter stood."""
    groups: dict[tuple[Any, ...], list[PaperItem]] = {}
    for item in items:
        if item.household_id is None:
            key: tuple[Any, ...] = ("delivery", item.delivery_id)
        else:
            key = ("household", item.message_id, item.household_id, item.address_lines)
        group = groups.setdefault(key, [])
        if all(other.guardian_id != item.guardian_id for other in group):
            group.append(item)
    return list(groups.values())


async def household_notices(notice: Notice) -> list[Notice]:
    """The notices of ``notice``'s message to the guardians of its household who are sent a letter: those one
    household letter names (``notice`` itself first, then by name). Just ``notice`` for a guardian alone."""
    guardian = await Guardian.get(id=notice.guardian_id)
    if guardian.household_id is None:
        return [notice]
    ids = await (
        Notice.filter(
            message_id=notice.message_id,
            guardian__household_id=guardian.household_id,
            guardian__street=guardian.street,
            guardian__postal_code=guardian.postal_code,
            guardian__city=guardian.city,
            deliveries__channel=Channel.LETTER,
        )
        .exclude(id=notice.id)
        .distinct()
        .values_list("id", flat=True)
    )
    found = await Notice.filter(id__in=list(ids)).prefetch_related("guardian")
    others = sorted(found, key=lambda n: (n.guardian.first_name, n.guardian.last_name, n.id))
    return [notice, *others]


def _joined(names: Sequence[str], language: str) -> str:
    """ "Joris Wouters et Veerle Smets", in the letter's language."""
    word = {"nl": "en", "en": "and"}.get(language_of(language), "et")
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {word} {names[-1]}"


async def render_batch(deliveries: QuerySet[Delivery], *, base_url: str, at: datetime) -> bytes:
    """One PDF of the letters of these deliveries, dated ``at`` in each school's time zone (b"" when none): one
    letter per household (see :func:`households`), naming its guardians, the slip signed by either (or by each
    when the slip needs every guardian's answer).

    Used to print a batch and to print a past batch again. The rendering (some tens of milliseconds a letter)
    runs in a thread, so a web app or a worker in the same process keeps answering meanwhile."""
    items = await _items(deliveries)
    if not items:
        return b""
    views = await notice_views(await deliveries.order_by("due_at", "id"), base_url)
    school_of = dict(
        await Delivery.filter(id__in=[i.delivery_id for i in items]).values_list("id", "notice__message__school_id")
    )
    schools = {s.id: s for s in await School.filter(id__in=set(school_of.values()))}
    heads = {
        s.id: LetterSchool(name=s.name, address_lines=_school_lines(s.address), timezone=s.timezone)
        for s in schools.values()
    }
    every = set(
        await ReplySlip.filter(
            message_id__in={i.message_id for i in items}, answer_mode=AnswerMode.EVERY_GUARDIAN
        ).values_list("message_id", flat=True)
    )
    letters = []
    for group in households(items):
        first = group[0]
        school = schools[school_of[first.delivery_id]]
        view = views[first.notice_id]
        pupils = list(dict.fromkeys(p for item in group for p in views[item.notice_id].pupils))
        view = replace(view, pupils=tuple(pupils))
        names = [item.guardian_name for item in group]
        # Each guardian's own code beside their name: typing it records the answer for them.
        signers = [f"{item.guardian_name} ({views[item.notice_id].short_code})" for item in group]
        letters.append(
            render_letter(
                view,
                school=heads[school.id],
                recipient=LetterRecipient(name=_joined(names, view.language), address_lines=first.address_lines),
                day=at.astimezone(ZoneInfo(school.timezone)).date(),
                signers=signers if len(group) > 1 else (),
                every_guardian=first.message_id in every,
            )
        )
    return await asyncio.to_thread(render_letters, letters)


async def print_batch(
    *,
    now: datetime,
    base_url: str,
    school_id: int | None = None,
    message_id: int | None = None,
    delivery_ids: Iterable[int] | None = None,
) -> PrintBatch:
    """Print the letters :func:`printable` gives at ``now`` (one school's, one message's, or only those of
    ``delivery_ids``: the ones a page showed) into ONE PDF, whatever the hour: printing is a person's action,
    and the charter's quiet hours hold what rings a family, which a letter does not. Each is recorded as
    DELIVERED (printed and handed over), sent at ``now``, so a second call prints nothing again.

    Letters of a message SCHEDULED for later, and plan steps whose time has not come, stay in the queue. Nothing
    printable: ``count`` 0 and an empty ``pdf``."""
    letters = printable(now, message_id=message_id, school_id=school_id, delivery_ids=delivery_ids)
    owner = await _claim_letters(now, letters)
    claimed = Delivery.filter(state=DeliveryState.CLAIMED, claimed_by=owner)
    items = await _items(claimed)
    if not items:
        return PrintBatch(pdf=b"", delivery_ids=[], count=0)
    try:
        pdf = await render_batch(claimed, base_url=base_url, at=now)
    except BaseException:
        # Nothing was printed: the letters go back to the queue for the next batch.
        await claimed.update(state=DeliveryState.DUE, claimed_by="", lease_until=None)
        raise
    for item in items:
        await record_outcome(item.delivery_id, now=now, ok=True, delivered=True)
    return PrintBatch(pdf=pdf, delivery_ids=[item.delivery_id for item in items], count=len(items))


# ------------------------------------------------------------------------------------------------ slips back

#: How a yes/no answer is stored (as the SMS and Telegram answers are), and what a secretary may type for it.
YES, NO = "yes", "no"
_YES_NO = {
    **dict.fromkeys(("yes", "y", "oui", "o", "ja", "j", "1", "true"), YES),
    **dict.fromkeys(("no", "n", "non", "nee", "0", "false"), NO),
}


def normalise_code(code: str) -> str:
    """The code as stored: "abcd efgh", "ABCD-EFGH", "abcdefgh" -> "ABCDEFGH".

    A token may itself hold "-" or "_" (base64url), so only blanks and the separator the letter prints (after
    the fourth character) are removed."""
    text = re.sub(r"\s+", "", code or "")
    if len(text) == 9 and text[4] == "-":
        text = text[:4] + text[5:]
    if len(text) != 8 or not re.fullmatch(r"[A-Za-z0-9_-]{8}", text):
        raise PaperError(f"{code!r} is not a letter code: 8 letters or digits, as printed (ABCD-EFGH)")
    return text.upper()


async def find_notice_by_code(code: str) -> Notice | None:
    """The notice whose letter printed ``code`` (the first 8 characters of its token, upper-cased), or None.

    Tokens are case-sensitive, the code is not: two tokens may share a code. Then the secretary must use the
    personal link (the QR code) instead, a ``PaperError`` says so."""
    prefix = normalise_code(code)
    candidates = [n for n in await Notice.filter(token__istartswith=prefix) if n.token[:8].upper() == prefix]
    if len(candidates) > 1:
        raise PaperError(
            f"the code {prefix[:4]}-{prefix[4:]} matches {len(candidates)} letters: "
            "type the long link printed under the QR code instead"
        )
    return candidates[0] if candidates else None


async def _checked_answers(notice: Notice, answers: Mapping[Any, Any]) -> dict[str, Any]:
    slip = await ReplySlip.get_or_none(message_id=notice.message_id)
    if slip is None:
        raise PaperError("this letter has no reply slip: there is nothing to record")
    kinds = dict(await SlipQuestion.filter(slip_id=slip.id).values_list("position", "kind"))
    checked: dict[str, Any] = {}
    for key, value in answers.items():
        try:
            position = int(str(key).strip())
        except ValueError:
            raise PaperError(f"{key!r} is not a question number") from None
        if position not in kinds:
            raise PaperError(f"the slip has no question {position} (questions: {sorted(kinds)})")
        if QuestionKind(kinds[position]) is QuestionKind.YES_NO:
            answer = _YES_NO.get(str(value).strip().lower())
            if answer is None:
                raise PaperError(f"question {position} is answered yes or no, not {value!r}")
            value = answer
        checked[str(position)] = value
    return checked


async def record_paper_answer(
    code: str,
    *,
    pupil_id: int,
    answers: Mapping[Any, Any],
    signed_name: str,
    staff_id: int | None,
    now: datetime,
    guardian_id: int | None = None,
) -> SlipResponse:
    """A secretary types in a paper slip that came back: answers keyed by question position. Recorded even
    after the deadline (the letter took its time), acknowledges the notice, and leaves an audit entry.

    ``guardian_id``: who signed, when the letter went to a household (see :func:`household_notices`): the
    answer is that guardian's, recorded on their own notice. By default the guardian the code belongs to."""
    notice = await find_notice_by_code(code)
    if notice is None:
        raise PaperError(f"no letter has the code {code!r}: check the code printed on the slip")
    if guardian_id is not None and guardian_id != notice.guardian_id:
        signer = next((n for n in await household_notices(notice) if n.guardian_id == guardian_id), None)
        if signer is None:
            raise PaperError(f"guardian {guardian_id} is not named on the letter {code!r}")
        notice = signer
    if not await NoticePupil.filter(notice_id=notice.id, pupil_id=pupil_id).exists():
        raise PaperError(f"pupil {pupil_id} is not named on the letter {code!r}")
    checked = await _checked_answers(notice, answers)
    async with in_transaction():
        try:
            response = await record_answer(
                notice.id,
                pupil_id,
                checked,
                channel=Channel.LETTER,
                now=now,
                signed_name=signed_name,
                recorded_by_staff_id=staff_id,
                late_ok=True,
            )
        except PlanningError as exc:
            raise PaperError(str(exc)) from exc
        await audit(
            "paper.answer_recorded",
            at=now,
            actor_kind=ActorKind.STAFF if staff_id is not None else ActorKind.SYSTEM,
            actor_id=staff_id,
            subject_type="slip_response",
            subject_id=response.id,
            notice_id=notice.id,
            pupil_id=pupil_id,
            guardian_id=notice.guardian_id,
        )
    return response
