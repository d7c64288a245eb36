"""The slip's answers as a spreadsheet expects them (``responses.csv``): one line per pupil and question.

Every pupil of the audience is there, answered or not (an unanswered pupil's lines have the question and empty
answers, so a filter on the answer column finds who to chase). A pupil answered by two guardians (a slip every
guardian answers) has one line per guardian and question. The channel is in words ("Portal", "Email", "Printed
letter", in the reader's language); an amount is a number the sheet can add up: in euros with a decimal comma,
as the Belgian (fr-BE, nl-BE) spreadsheets read it in a ``;`` file, and for a price per unit the count in its
own column beside the total. Written by :mod:`hub.csvfile` (formulas neutralised, BOM, ``;``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from hub import csvfile
from hub.enums import Channel, GroupKind, QuestionKind
from hub.messaging.models import Message, NoticePupil, ReplySlip, SlipQuestion, SlipResponse
from hub.people.models import Membership

#: The keys of ``words`` for each channel, as the web page translates them.
CHANNEL_WORDS = {
    "portal": "channel_portal",
    "email": "channel_email",
    "sms": "channel_sms",
    "webpush": "channel_webpush",
    "fcm": "channel_fcm",
    "telegram": "channel_telegram",
    "letter": "channel_letter",
    "link": "channel_link",
}


def _number(value: Decimal) -> str:
    """12.5 -> "12,50": a number for a Belgian spreadsheet reading a ``;`` file."""
    return f"{value.quantize(Decimal('0.01'))}".replace(".", ",")


def answer_cells(question: SlipQuestion, value: object, words: Mapping[str, str]) -> tuple[str, str, object]:
    """(answer in words, amount in euros as a number or "", count or "")."""
    if value is None or value == "":
        return "", "", ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value), "", ""
    if question.kind == QuestionKind.YES_NO:
        return words.get(str(value), str(value)), "", ""
    if question.kind == QuestionKind.AMOUNT:
        try:
            if question.unit_price_cents is not None:
                count = int(str(value))
                total = Decimal(count * question.unit_price_cents) / 100
                return f"{count} × {_number(Decimal(question.unit_price_cents) / 100)} €", _number(total), count
            amount = Decimal(str(value))
        except (ValueError, InvalidOperation):
            return str(value), "", ""
        return f"{_number(amount)} €", _number(amount), ""
    return str(value), "", ""


async def responses_csv(message: Message, visible: set[int] | None, *, tz: str, words: Mapping[str, str]) -> str:
    """The slip's answers of ``message`` (the ``visible`` pupils only, when restricted): one line per pupil of the
    audience and question, answered or not."""
    slip = await ReplySlip.get_or_none(message_id=message.id)
    questions = list(await SlipQuestion.filter(slip_id=slip.id).order_by("position")) if slip else []
    named = NoticePupil.filter(notice__message_id=message.id)
    if visible is not None:
        named = named.filter(pupil_id__in=list(visible))
    pupils = {
        pupil_id: (last, first)
        for pupil_id, last, first in await named.values_list("pupil_id", "pupil__last_name", "pupil__first_name")
    }
    classes = dict(
        await Membership.filter(pupil_id__in=list(pupils), group__kind=GroupKind.CLASS).values_list(
            "pupil_id", "group__code"
        )
    )
    answers: dict[int, list[SlipResponse]] = defaultdict(list)
    if slip is not None:
        for response in (
            await SlipResponse.filter(slip_id=slip.id, pupil_id__in=list(pupils))
            .order_by("guardian__last_name", "guardian__first_name", "id")
            .prefetch_related("guardian")
        ):
            answers[response.pupil_id].append(response)
    keys = ("pupil", "class", "guardian", "answered_at", "channel", "signed_name", "question", "answer")
    header: list[object] = [words[k] for k in (*keys, "amount", "count")]
    rows: list[Sequence[object]] = [header]
    zone = ZoneInfo(tz)
    for pupil_id, (last, first) in sorted(pupils.items(), key=lambda p: (p[1][0].casefold(), p[1][1].casefold())):
        pupil = [f"{last} {first}", classes.get(pupil_id, "")]
        found: list[SlipResponse | None] = list(answers.get(pupil_id, [])) or [None]
        for given in found:
            if given is None:
                who: list[object] = ["", "", "", ""]
                values: dict[str, object] = {}
            else:
                # How the answer came: the personal link is told from the portal (both store the portal channel).
                channel = "link" if given.via == "link" and given.channel == Channel.PORTAL else str(given.channel)
                who = [
                    f"{given.guardian.last_name} {given.guardian.first_name}",
                    given.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                    words.get(CHANNEL_WORDS.get(channel, ""), channel),
                    given.signed_name,
                ]
                values = dict(given.answers or {})
            for q in questions:
                answer, amount, count = answer_cells(q, values.get(str(q.position), ""), words)
                rows.append([*pupil, *who, f"{q.position}. {q.text}", answer, amount, count])
    return csvfile.text(rows)
