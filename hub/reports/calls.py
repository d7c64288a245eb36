"""Call lists: per class, the families someone at school must phone, with their numbers and what they missed.

A family is on a class's list for a message of the period (or one message) when one of its guardians' notices
names a pupil of the class and

* the message **did not reach** them: no channel that alerts (email, SMS, push, Telegram, a printed letter)
  handed it over, they have not read it, and nothing will go out on its own (their letter waits to be printed,
  every channel failed, or none was planned); a notice only held by the quiet hours, or being sent, goes by
  itself and is not listed;
* or, for an **emergency**, it reached them **only by paper**: a letter (printed or not) and no electronic
  channel, and they have not read it. A letter takes a day; an emergency does not wait: they are listed at once.

Each line is one guardian with every phone number they have (dead ones last, marked), the pupils of the class
they are responsible for, and what they missed. The page, the PDF and the CSV read the same :func:`call_list`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from hub import csvfile
from hub.enums import Channel, ContactKind, DeliveryPurpose, DeliveryState, GroupKind, Urgency
from hub.messaging.models import Delivery, Notice, NoticePupil
from hub.pdf import UnicodePDF, find_unicode_fonts
from hub.people.models import Contact, Group, Membership
from hub.reports.delivery import Period

#: Why a family is on the list.
NOT_REACHED, PAPER_ONLY = "not_reached", "paper_only"
_OK = (DeliveryState.SENT, DeliveryState.DELIVERED)
_PENDING = (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE, DeliveryState.CLAIMED)


@dataclass(frozen=True)
class Missed:
    message_id: int
    subject: str
    urgency: str
    #: ``NOT_REACHED`` or ``PAPER_ONLY``.
    reason: str
    #: For a message not reached: ``letter_waiting``, ``failed_everywhere`` or ``not_planned``; "" for paper only.
    detail: str = ""


@dataclass(frozen=True)
class Phone:
    number: str
    dead: bool = False


@dataclass
class CallLine:
    guardian_id: int
    name: str
    pupils: list[str] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    missed: list[Missed] = field(default_factory=list)

    @property
    def emergency(self) -> bool:
        return any(m.urgency == Urgency.EMERGENCY for m in self.missed)


@dataclass(frozen=True)
class CallList:
    group_id: int
    code: str
    period: Period
    message_id: int | None
    #: Emergencies first, then by name.
    lines: list[CallLine]


def _standing(channel_states: list[tuple[str, str, bool]]) -> tuple[bool, bool, bool, str]:
    """From a notice's deliveries (channel, state, due now): reached electronically, by a letter printed, has a
    letter at all (not failed), and why it is not reached ("" when it goes by itself)."""
    electronic = any(c not in (Channel.LETTER, Channel.PORTAL) and s in _OK for c, s, _ in channel_states)
    printed = any(c == Channel.LETTER and s in _OK for c, s, _ in channel_states)
    letter = any(
        c == Channel.LETTER and s not in (DeliveryState.FAILED, DeliveryState.CANCELLED) for c, s, _ in channel_states
    )
    steps = [(c, s, now) for c, s, now in channel_states if c != Channel.PORTAL]
    if not steps:
        why = "not_planned"
    elif any(c == Channel.LETTER and s in _PENDING for c, s, _ in steps):
        why = "letter_waiting"
    elif any(s in _PENDING for _, s, _ in steps):
        why = ""  # held or being sent: it goes by itself
    else:
        why = "failed_everywhere"
    return electronic, printed, letter, why


async def call_list(
    school_id: int, group_id: int, period: Period, *, now: datetime, message_id: int | None = None
) -> CallList | None:
    """The class's call list over ``period`` (or one message); None when the school has no such class."""
    group = await Group.get_or_none(id=group_id, school_id=school_id, kind=GroupKind.CLASS)
    if group is None:
        return None
    pupil_ids = list(await Membership.filter(group_id=group.id).values_list("pupil_id", flat=True))
    notices = Notice.filter(
        message__school_id=school_id,
        message__published_at__gte=period.start,
        message__published_at__lt=period.end,
        pupils__pupil_id__in=pupil_ids,
    ).distinct()
    if message_id is not None:
        notices = notices.filter(message_id=message_id)
    rows = await notices.values(
        "id",
        "message__published_at",
        "guardian_id",
        "first_read_at",
        "message_id",
        "message__subject",
        "message__urgency",
        "guardian__first_name",
        "guardian__last_name",
    )
    rows.sort(key=lambda r: (r["message__published_at"], r["id"]))
    ids = [r["id"] for r in rows]
    steps: dict[int, list[tuple[str, str, bool]]] = defaultdict(list)
    for notice_id, channel, state, due_at in (
        await Delivery.filter(notice_id__in=ids)
        .exclude(purpose=DeliveryPurpose.REMINDER)
        .values_list("notice_id", "channel", "state", "due_at")
    ):
        steps[notice_id].append((str(channel), str(state), due_at <= now))
    lines: dict[int, CallLine] = {}
    for r in rows:
        if r["first_read_at"] is not None:
            continue
        electronic, printed, letter, why = _standing(steps[r["id"]])
        if electronic:
            continue
        emergency = r["message__urgency"] == Urgency.EMERGENCY
        if emergency and letter:
            missed = Missed(r["message_id"], r["message__subject"], str(r["message__urgency"]), PAPER_ONLY)
        elif not printed and why:
            missed = Missed(r["message_id"], r["message__subject"], str(r["message__urgency"]), NOT_REACHED, why)
        else:
            continue
        line = lines.setdefault(
            r["guardian_id"],
            CallLine(r["guardian_id"], f"{r['guardian__first_name']} {r['guardian__last_name']}"),
        )
        if all(m.message_id != missed.message_id for m in line.missed):
            line.missed.append(missed)
    if lines:
        named = await NoticePupil.filter(
            notice_id__in=ids, notice__guardian_id__in=list(lines), pupil_id__in=pupil_ids
        ).values_list("notice__guardian_id", "pupil__first_name", "pupil__last_name")
        for guardian_id, first, last in sorted(named, key=lambda n: (n[1], n[2])):
            if f"{first} {last}" not in lines[guardian_id].pupils:
                lines[guardian_id].pupils.append(f"{first} {last}")
        for guardian_id, number, dead_at in (
            await Contact.filter(guardian_id__in=list(lines), kind=ContactKind.PHONE)
            .order_by("dead_at", "id")
            .values_list("guardian_id", "value", "dead_at")
        ):
            lines[guardian_id].phones.append(Phone(number, dead_at is not None))
        for line in lines.values():
            line.phones.sort(key=lambda p: p.dead)
    ordered = sorted(lines.values(), key=lambda line: (not line.emergency, line.name.casefold(), line.guardian_id))
    return CallList(group.id, group.code, period, message_id, ordered)


# ------------------------------------------------------------------------------------------------ the files

#: The words of the files, in the reader's language (the page has its own catalogue).
_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Liste d’appels – classe {code}",
        "period": "Du {first} au {last}",
        "guardian": "Responsable",
        "pupils": "Élève(s)",
        "phones": "Téléphone(s)",
        "missed": "Message manqué",
        "reason": "Pourquoi",
        "not_reached": "non atteint",
        "paper_only": "urgence, seulement par courrier",
        "letter_waiting": "lettre à imprimer",
        "failed_everywhere": "tous les canaux ont échoué",
        "not_planned": "aucun canal",
        "emergency": "URGENCE",
        "dead": "hors service",
        "none": "aucun numéro",
        "nobody": "Personne à appeler.",
    },
    "nl": {
        "title": "Belijst – klas {code}",
        "period": "Van {first} tot {last}",
        "guardian": "Ouder",
        "pupils": "Leerling(en)",
        "phones": "Telefoon",
        "missed": "Gemist bericht",
        "reason": "Waarom",
        "not_reached": "niet bereikt",
        "paper_only": "noodgeval, enkel per brief",
        "letter_waiting": "brief af te drukken",
        "failed_everywhere": "alle kanalen mislukt",
        "not_planned": "geen kanaal",
        "emergency": "NOODGEVAL",
        "dead": "buiten dienst",
        "none": "geen nummer",
        "nobody": "Niemand te bellen.",
    },
    "en": {
        "title": "Call list – class {code}",
        "period": "From {first} to {last}",
        "guardian": "Guardian",
        "pupils": "Pupil(s)",
        "phones": "Phone(s)",
        "missed": "Message missed",
        "reason": "Why",
        "not_reached": "not reached",
        "paper_only": "emergency, paper only",
        "letter_waiting": "letter to print",
        "failed_everywhere": "every channel failed",
        "not_planned": "no channel",
        "emergency": "EMERGENCY",
        "dead": "out of service",
        "none": "no number",
        "nobody": "Nobody to call.",
    },
}


def words(language: str) -> dict[str, str]:
    return _WORDS.get(language, _WORDS["fr"])


def why(missed: Missed, language: str) -> str:
    w = words(language)
    if missed.reason == PAPER_ONLY:
        return w["paper_only"]
    return f"{w['not_reached']}: {w[missed.detail]}" if missed.detail in w else w["not_reached"]


def _phones(line: CallLine, language: str) -> str:
    w = words(language)
    return ", ".join(f"{p.number} ({w['dead']})" if p.dead else p.number for p in line.phones) or w["none"]


def csv_bytes(calls: CallList, language: str = "fr") -> bytes:
    """One row per family and message missed, as a spreadsheet expects."""
    w = words(language)
    header: list[object] = [
        "class",
        w["guardian"],
        w["pupils"],
        w["phones"],
        "message_id",
        w["missed"],
        "urgency",
        w["reason"],
    ]
    rows: list[list[object]] = [header]
    for line in calls.lines:
        for missed in line.missed:
            rows.append(
                [
                    calls.code,
                    line.name,
                    ", ".join(line.pupils),
                    _phones(line, language),
                    missed.message_id,
                    missed.subject,
                    missed.urgency,
                    why(missed, language),
                ]
            )
    return csvfile.encode(rows)


def pdf_bytes(calls: CallList, language: str = "fr") -> bytes:
    """A printable A4 list: one block per family, the phone numbers large, a box to tick once called."""
    w = words(language)
    pdf = UnicodePDF(find_unicode_fonts(), orientation="P", unit="mm")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_creator("Carnet")
    pdf.set_title(pdf.text_of(w["title"].format(code=calls.code)))
    pdf.add_page()
    pdf.use(15, bold=True)
    pdf.cell(0, 8, pdf.text_of(w["title"].format(code=calls.code)), new_x="LMARGIN", new_y="NEXT")
    pdf.use(9)
    first, last = calls.period.first.isoformat(), calls.period.last.isoformat()
    pdf.cell(0, 5, pdf.text_of(w["period"].format(first=first, last=last)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    if not calls.lines:
        pdf.use(11)
        pdf.cell(0, 6, pdf.text_of(w["nobody"]), new_x="LMARGIN", new_y="NEXT")
    for line in calls.lines:
        if pdf.get_y() + 24 > pdf.page_break_trigger:
            pdf.add_page()
        top = pdf.get_y()
        pdf.set_line_width(0.3)
        pdf.rect(15, top + 1, 4, 4)
        pdf.set_x(22)
        pdf.use(11, bold=True)
        head = line.name + (f"  ({w['emergency']})" if line.emergency else "")
        pdf.cell(0, 6, pdf.text_of(head), new_x="LMARGIN", new_y="NEXT")
        pdf.set_x(22)
        pdf.use(12, bold=True)
        pdf.cell(0, 6, pdf.text_of(_phones(line, language)), new_x="LMARGIN", new_y="NEXT")
        pdf.use(9)
        pdf.set_x(22)
        pdf.multi_cell(0, 4.5, pdf.text_of(f"{w['pupils']}: {', '.join(line.pupils)}"), new_x="LMARGIN", new_y="NEXT")
        for missed in line.missed:
            pdf.set_x(22)
            text = f"• {missed.subject} – {why(missed, language)}"
            pdf.multi_cell(0, 4.5, pdf.text_of(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_draw_color(180)
        pdf.line(15, pdf.get_y(), pdf.w - 15, pdf.get_y())
        pdf.set_draw_color(0)
        pdf.ln(2)
    return bytes(pdf.output())
