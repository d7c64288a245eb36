"""The printed letter: the end of every plan, for families without internet.

``render_letters`` turns a batch of letters (one per family and notice) into ONE PDF print batch (A4), every letter
starting on a new page: the school's letterhead, the recipient's address where a left-window envelope shows it
(DIN 5008 form B: 20 mm from the left, 45 mm from the top, 85 x 45 mm), the date and place, the subject, the
body, the pupils concerned, an acknowledgement box if asked, and, when the notice has a reply slip, a tear-off
*talon* below a dashed cut line: boxes to tick, lines to write on, name and signature, and a QR code of the
guardian's personal link with the short code to type instead.

The inputs are plain dataclasses, no database: the caller reads the notice, the guardian and the household and
builds ``Letter`` objects. The print queue of the web app (a later issue) calls ``render_letters`` directly for
the secretary's batch; ``LetterAdapter`` only lets the router treat the letter as a channel like the others: its
``send`` queues, and ``flush`` writes the batch.

Texts are in French, Dutch or English by the letter's language (anything else falls back to French).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import segno
from fpdf.enums import XPos, YPos

from hub import clock
from hub.dates import long_date as _long_date
from hub.enums import Channel, QuestionKind
from hub.pdf import UnicodePDF, find_unicode_fonts, printable

from .base import ChannelAdapter, Outcome, Rendered

# ------------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class LetterSchool:
    name: str
    address_lines: Sequence[str]  #: e.g. ("Rue de l’École 12", "1000 Bruxelles")
    phone: str = ""
    email: str = ""
    #: The place in "Bruxelles, le 23 novembre 2026"; by default the last address line without its postal code.
    place: str = ""
    #: How an aware deadline is shown on paper.
    timezone: str = "Europe/Brussels"

    @property
    def city(self) -> str:
        if self.place:
            return self.place
        if not self.address_lines:
            return ""
        words = self.address_lines[-1].split()
        return " ".join(words[1:]) if len(words) > 1 and any(ch.isdigit() for ch in words[0]) else " ".join(words)


@dataclass(frozen=True)
class LetterRecipient:
    name: str  #: "Madame Sophie Dupont" or "Famille Dupont-Peeters"
    address_lines: Sequence[str]  #: street, postal code and city, country if abroad


@dataclass(frozen=True)
class LetterQuestion:
    position: int
    kind: QuestionKind
    text: str
    choices: Sequence[str] = ()
    #: An amount priced per unit (tickets at 3 €): the family writes how many, not the sum.
    unit_price_cents: int | None = None


@dataclass(frozen=True)
class LetterSlip:
    deadline: datetime
    questions: Sequence[LetterQuestion]
    needs_signature: bool = False
    pupils: Sequence[str] = ()  #: the pupils this talon answers for


@dataclass(frozen=True)
class Letter:
    school: LetterSchool
    recipient: LetterRecipient
    language: str
    date: date
    subject: str
    body: str  #: paragraphs separated by blank lines
    pupils: Sequence[str] = ()  #: the pupils concerned
    link: str = ""  #: the guardian's personal link to read and answer
    short_code: str = ""  #: e.g. "K7P-4QX", typed on ``site`` instead of scanning
    slip: LetterSlip | None = None
    needs_acknowledgement: bool = False
    #: Where the short code is typed; by default the host of ``link``.
    site: str = ""
    #: A household's letter: the guardians living together whom it names (one copy for them all). Two or more:
    #: the talon asks which of them signed, or, with ``every_guardian``, has one signature line each.
    signers: Sequence[str] = ()
    #: The slip needs every guardian's answer, not only one's per pupil.
    every_guardian: bool = False

    @property
    def code_site(self) -> str:
        return self.site or urlsplit(self.link).netloc


# ------------------------------------------------------------------------------------------------ labels


_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "dated": "{place}, le {date}",
        "subject": "Objet : ",
        "pupils": "Élève(s) concerné(s) : ",
        "ack": "J’ai pris connaissance de ce courrier.",
        "ack_title": "Accusé de réception",
        "cut": "À découper et à rendre avant le {deadline}",
        "cut_any": "À découper et à rendre à l’école",
        "signed_by": "Signé par (cochez) : ",
        "each_signs": "Chaque responsable signe sur sa ligne :",
        "and": "et",
        "at": "{date} à {time}",
        "slip": "Talon-réponse",
        "about": "Concerne : ",
        "pupil": "Élève(s) : ",
        "yes": "Oui",
        "no": "Non",
        "one": "(une seule réponse)",
        "many": "(plusieurs réponses possibles)",
        "amount": "Montant : ",
        "count": "Nombre : ",
        "guardian": "Nom du responsable : ",
        "date": "Date : ",
        "signature": "Signature : ",
        "online": "Ou répondez en ligne : scannez le code ou tapez {code} sur {site}",
        "online_nocode": "Ou répondez en ligne : scannez le code.",
        "phone": "Tél. ",
    },
    "nl": {
        "dated": "{place}, {date}",
        "subject": "Betreft: ",
        "pupils": "Betrokken leerling(en): ",
        "ack": "Ik heb deze brief gelezen.",
        "ack_title": "Ontvangstbevestiging",
        "cut": "Afknippen en terugbezorgen vóór {deadline}",
        "cut_any": "Afknippen en terugbezorgen aan de school",
        "signed_by": "Ondertekend door (aankruisen): ",
        "each_signs": "Elke ouder tekent op de eigen lijn:",
        "and": "en",
        "at": "{date} om {time}",
        "slip": "Antwoordstrook",
        "about": "Betreft: ",
        "pupil": "Leerling(en): ",
        "yes": "Ja",
        "no": "Nee",
        "one": "(één antwoord)",
        "many": "(meerdere antwoorden mogelijk)",
        "amount": "Bedrag: ",
        "count": "Aantal: ",
        "guardian": "Naam van de ouder: ",
        "date": "Datum: ",
        "signature": "Handtekening: ",
        "online": "Of antwoord online: scan de code of typ {code} op {site}",
        "online_nocode": "Of antwoord online: scan de code.",
        "phone": "Tel. ",
    },
    "en": {
        "dated": "{place}, {date}",
        "subject": "Subject: ",
        "pupils": "Pupil(s) concerned: ",
        "ack": "I have read this letter.",
        "ack_title": "Acknowledgement of receipt",
        "cut": "Cut off and return before {deadline}",
        "cut_any": "Cut off and return to the school",
        "signed_by": "Signed by (tick): ",
        "each_signs": "Each parent or guardian signs on their own line:",
        "and": "and",
        "at": "{date} at {time}",
        "slip": "Reply slip",
        "about": "About: ",
        "pupil": "Pupil(s): ",
        "yes": "Yes",
        "no": "No",
        "one": "(one answer)",
        "many": "(several answers possible)",
        "amount": "Amount: ",
        "count": "Number: ",
        "guardian": "Name of the parent or guardian: ",
        "date": "Date: ",
        "signature": "Signature: ",
        "online": "Or answer online: scan the code or type {code} on {site}",
        "online_nocode": "Or answer online: scan the code.",
        "phone": "Tel. ",
    },
}


def _lang(language: str) -> str:
    code = str(language).lower()[:2]
    return code if code in _LABELS else "fr"


def long_date(day: date, language: str, *, weekday: bool = False) -> str:
    """``lundi 30 novembre 2026``, ``maandag 30 november 2026``, ``Monday 30 November 2026``."""
    return _long_date(day, _lang(language), weekday=weekday)


def deadline_text(deadline: datetime, language: str, timezone: str = "Europe/Brussels") -> str:
    """The deadline as the family reads it: in the school's time zone, the hour only when it is not midnight."""
    if deadline.tzinfo is not None:
        deadline = deadline.astimezone(ZoneInfo(timezone))
    day = long_date(deadline.date(), language, weekday=True)
    if deadline.time() == time(0, 0):
        return day
    return _LABELS[_lang(language)]["at"].format(date=day, time=deadline.strftime("%H:%M"))


# --------------------------------------------------------------------------------------------------- PDF

_SCISSORS = "✂"
_LEFT, _RIGHT, _TOP, _BOTTOM = 20.0, 20.0, 14.0, 14.0
#: DIN 5008 form B, left window: the address zone.
_WINDOW_X, _WINDOW_Y, _WINDOW_W, _WINDOW_H = 20.0, 45.0, 85.0, 45.0
_BOX = 3.6  #: the side of a box to tick, in mm


def _qr_png(link: str) -> io.BytesIO:
    buffer = io.BytesIO()
    # Quiet zone of 4 modules (the standard), 8 px per module: sharp when printed at 28 mm, easy to decode.
    segno.make(link, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    buffer.seek(0)
    return buffer


class _LetterPDF(UnicodePDF):
    def __init__(self, fonts: tuple[Path, Path] | None) -> None:
        super().__init__(fonts, orientation="P", unit="mm")
        self.set_margins(_LEFT, _TOP, _RIGHT)
        self.set_auto_page_break(True, margin=_BOTTOM)

    # -- text

    def line_of(self, text: str, height: float, *, align: str = "L", width: float = 0) -> None:
        self.multi_cell(width, height, self.text_of(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def labelled(self, label: str, value: str, height: float = 5) -> None:
        """``Objet : `` in bold then the value, wrapped as one paragraph."""
        self.use(10, bold=True)
        self.write(height, self.text_of(label))
        self.use(10)
        self.write(height, self.text_of(value))
        self.ln(height)

    # -- drawing

    def box(self, x: float, y: float) -> None:
        self.set_line_width(0.3)
        self.rect(x, y, _BOX, _BOX)

    def writing_line(self, x1: float, x2: float, y: float) -> None:
        self.set_line_width(0.2)
        with self.local_context(dash_pattern={"dash": 0.6, "gap": 0.8}):
            self.line(x1, y, x2, y)

    def options(self, labels: Sequence[str]) -> None:
        """One box per option, as many on a line as fit, each followed by its label."""
        self.use(10)
        x, y = self.l_margin + 4, self.get_y() + 1
        right = self.w - self.r_margin
        for label in labels:
            text = self.text_of(label)
            width = _BOX + 2 + min(self.get_string_width(text), right - self.l_margin - 4 - _BOX - 2) + 7
            if x + width > right and x > self.l_margin + 4:
                x, y = self.l_margin + 4, y + 6.5
            if y + 6.5 > self.page_break_trigger:
                self.add_page()
                x, y = self.l_margin + 4, self.get_y() + 1
            self.box(x, y + 0.6)
            self.set_xy(x + _BOX + 2, y)
            self.cell(width - _BOX - 9, 5, text)
            x += width
        self.set_xy(self.l_margin, y + 7)


def _letterhead(pdf: _LetterPDF, letter: Letter) -> None:
    school, labels = letter.school, _LABELS[_lang(letter.language)]
    pdf.set_xy(_LEFT, _TOP)
    pdf.use(14, bold=True)
    pdf.line_of(school.name, 7)
    pdf.use(9)
    for line in school.address_lines:
        pdf.line_of(line, 4.2)
    contact = " · ".join(
        part for part in (labels["phone"] + school.phone if school.phone else "", school.email) if part
    )
    if contact:
        pdf.line_of(contact if pdf.can_draw("·") else contact.replace(" · ", " - "), 4.2)
    pdf.set_draw_color(120)
    pdf.set_line_width(0.3)
    pdf.line(_LEFT, pdf.get_y() + 1.5, pdf.w - _RIGHT, pdf.get_y() + 1.5)
    pdf.set_draw_color(0)


def _address_block(pdf: _LetterPDF, letter: Letter) -> None:
    """The window: a one-line return address in small print, then the recipient, inside 85 x 45 mm."""
    school = letter.school
    # The first 17.7 mm of the zone are for the return address; the address proper starts below.
    pdf.set_xy(_WINDOW_X, _WINDOW_Y + 11)
    pdf.use(6.5)
    sender = pdf.text_of(", ".join([school.name, *school.address_lines]))
    while sender and pdf.get_string_width(sender) > _WINDOW_W:
        sender = sender[:-1]
    pdf.cell(_WINDOW_W, 3, sender)
    pdf.set_xy(_WINDOW_X, _WINDOW_Y + 17.7)
    pdf.use(10.5)
    for line in [letter.recipient.name, *letter.recipient.address_lines][:6]:
        pdf.set_x(_WINDOW_X)
        pdf.cell(_WINDOW_W, 4.5, pdf.text_of(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _body(pdf: _LetterPDF, letter: Letter) -> None:
    labels = _LABELS[_lang(letter.language)]
    pdf.set_xy(_LEFT, _WINDOW_Y + _WINDOW_H + 6)
    pdf.use(10)
    place = letter.school.city
    when = long_date(letter.date, letter.language)
    dated = labels["dated"].format(place=place, date=when) if place else when
    pdf.line_of(dated, 5, align="R")
    pdf.ln(5)
    pdf.use(11, bold=True)
    pdf.write(5.5, pdf.text_of(labels["subject"] + letter.subject))
    pdf.ln(9)
    pdf.use(10)
    for paragraph in (chunk.strip() for chunk in printable(letter.body).split("\n\n")):
        if paragraph:
            pdf.line_of(paragraph, 5, align="L")
            pdf.ln(2.5)
    if letter.pupils:
        pdf.ln(1)
        pdf.labelled(labels["pupils"], ", ".join(letter.pupils))


def _slip(pdf: _LetterPDF, letter: Letter, slip: LetterSlip | None) -> None:
    """The cut line and the talon, from the current position: the reply slip's questions when there is one, the
    acknowledgement box when the letter asks for one (on the part that comes back to school, never on the part
    the family keeps), then who signs."""
    labels = _LABELS[_lang(letter.language)]
    right = pdf.w - _RIGHT
    # The cut line: dashed from edge to edge, the instruction in the middle.
    y = pdf.get_y() + 3
    if slip is not None:
        deadline = deadline_text(slip.deadline, letter.language, letter.school.timezone)
        cut = labels["cut"].format(deadline=deadline)
    else:
        cut = labels["cut_any"]
    mark = _SCISSORS if pdf.can_draw(_SCISSORS) else "8<"
    pdf.use(8)
    text = pdf.text_of(f"{mark} {cut}")
    width = pdf.get_string_width(text) + 4
    middle = pdf.w / 2
    pdf.set_line_width(0.3)
    with pdf.local_context(dash_pattern={"dash": 2, "gap": 1.5}):
        pdf.line(5, y, middle - width / 2, y)
        pdf.line(middle + width / 2, y, pdf.w - 5, y)
    pdf.set_xy(middle - width / 2, y - 2)
    pdf.cell(width, 4, text, align="C")
    pdf.set_xy(_LEFT, y + 5)

    pdf.use(12, bold=True)
    pdf.line_of(labels["slip"] if slip is not None else labels["ack_title"], 6)
    pdf.labelled(labels["about"], letter.subject)
    pupils = (slip.pupils if slip is not None else ()) or letter.pupils
    if pupils:
        pdf.labelled(labels["pupil"], ", ".join(pupils))
    pdf.ln(2)
    if letter.needs_acknowledgement:
        if slip is not None:
            pdf.use(10, bold=True)
            pdf.line_of(labels["ack_title"], 5)
        y = pdf.get_y() + 1
        pdf.box(_LEFT + 4, y + 0.6)
        pdf.set_xy(_LEFT + 4 + _BOX + 2, y)
        pdf.use(10)
        pdf.cell(0, 5, pdf.text_of(labels["ack"]))
        pdf.set_xy(_LEFT, y + 8)

    questions = sorted(slip.questions, key=lambda q: q.position) if slip is not None else []
    for number, question in enumerate(questions, start=1):
        if pdf.get_y() + 14 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.use(10, bold=True)
        hint = {QuestionKind.ONE_CHOICE: labels["one"], QuestionKind.MANY_CHOICES: labels["many"]}.get(question.kind)
        pdf.line_of(f"{number}. {question.text}" + (f" {hint}" if hint else ""), 5)
        if question.kind == QuestionKind.YES_NO:
            pdf.options((labels["yes"], labels["no"]))
        elif question.kind in (QuestionKind.ONE_CHOICE, QuestionKind.MANY_CHOICES):
            pdf.options(question.choices)
        elif question.kind == QuestionKind.FREE_TEXT:
            for _ in range(2):
                pdf.ln(6.5)
                pdf.writing_line(_LEFT + 4, right, pdf.get_y())
            pdf.ln(3)
        else:  # an amount: a sum in euros, or how many at a unit price
            pdf.use(10)
            pdf.set_x(_LEFT + 4)
            per_unit = question.unit_price_cents is not None
            label = pdf.text_of(labels["count" if per_unit else "amount"])
            pdf.cell(pdf.get_string_width(label) + 1, 6, label)
            x = pdf.get_x()
            pdf.writing_line(x, x + 30, pdf.get_y() + 5)
            pdf.set_x(x + 31)
            unit = f"× {question.unit_price_cents / 100:.2f} €".replace(".", ",") if per_unit else "€"  # type: ignore[operator]
            pdf.cell(pdf.get_string_width(pdf.text_of(unit)) + 2, 6, pdf.text_of(unit))
            pdf.ln(8)

    # Who answers on the left; on the right the QR code, and beside it the short code to type instead.
    qr_size, column = 28.0, 50.0
    if pdf.get_y() + qr_size + 4 > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y() + 2
    lines_right = right - qr_size - column - 8 if letter.link else right
    pdf.use(10)
    needs_signature = slip.needs_signature if slip is not None else True
    y = top
    if len(letter.signers) > 1 and letter.every_guardian:
        # Every guardian's answer is needed: one line each, named, to sign.
        pdf.set_xy(_LEFT, y)
        pdf.cell(0, 6, pdf.text_of(labels["each_signs"]))
        y += 8
        for name in letter.signers:
            # The name on its line, the signature on the next, as wide as the column allows.
            pdf.set_xy(_LEFT, y)
            pdf.cell(lines_right - _LEFT, 6, pdf.text_of(name))
            text = pdf.text_of(labels["signature"])
            pdf.set_xy(_LEFT + 4, y + 7)
            pdf.cell(pdf.get_string_width(text) + 1, 6, text)
            pdf.writing_line(pdf.get_x(), lines_right, y + 12)
            y += 16
        rows = [labels["date"]]
    elif len(letter.signers) > 1:
        # One household, one copy: either guardian answers; the box ticked says whose answer it is.
        text = pdf.text_of(labels["signed_by"])
        pdf.set_xy(_LEFT, y)
        pdf.cell(0, 6, text)
        y += 6.5
        for name in letter.signers:
            pdf.box(_LEFT + 4, y + 0.6)
            pdf.set_xy(_LEFT + 4 + _BOX + 2, y)
            pdf.cell(lines_right - _LEFT - 10, 5, pdf.text_of(name))
            y += 6.5
        y += 2
        rows = [labels["date"]] + ([labels["signature"]] if needs_signature else [])
    else:
        rows = [labels["guardian"], labels["date"]] + ([labels["signature"]] if needs_signature else [])
    for label in rows:
        text = pdf.text_of(label)
        pdf.set_xy(_LEFT, y)
        pdf.cell(pdf.get_string_width(text) + 1, 6, text)
        pdf.writing_line(pdf.get_x(), lines_right, y + 5)
        y += 9 if label != labels["signature"] else 14
    bottom = y
    if letter.link:
        pdf.image(_qr_png(letter.link), x=right - qr_size, y=top, w=qr_size, h=qr_size)
        online = (
            labels["online"].format(code=letter.short_code, site=letter.code_site)
            if letter.short_code
            else labels["online_nocode"]
        )
        left = right - qr_size - column - 3
        pdf.set_xy(left, top + 3)
        pdf.use(8)
        pdf.multi_cell(column, 3.8, pdf.text_of(online), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
        if letter.short_code:
            pdf.use(13, bold=True)
            pdf.set_xy(left, pdf.get_y() + 1)
            pdf.cell(column, 7, pdf.text_of(letter.short_code), align="R")
        bottom = max(bottom, top + qr_size + 2)
    pdf.set_xy(_LEFT, bottom)


def _slip_height(pdf: _LetterPDF, letter: Letter, slip: LetterSlip | None) -> tuple[float, bool]:
    """Render the slip on a scratch copy: how tall it is, and whether it needs a page break."""
    start = pdf.get_y()
    with pdf.offset_rendering() as dummy:
        _slip(dummy, letter, slip)  # type: ignore[arg-type]
        end = dummy.y  # read before the context rewinds the document
    return end - start, dummy.page_break_triggered


def _letter(pdf: _LetterPDF, letter: Letter) -> None:
    pdf.add_page()
    _letterhead(pdf, letter)
    _address_block(pdf, letter)
    _body(pdf, letter)
    if letter.slip is not None or letter.needs_acknowledgement:
        height, breaks = _slip_height(pdf, letter, letter.slip)
        if breaks:
            # The talon does not fit under the letter: it gets a page of its own, at the top.
            pdf.add_page()
        else:
            # It fits: push it to the bottom of the page, where it is torn off without cutting the letter.
            pdf.set_y(max(pdf.get_y(), pdf.page_break_trigger - height - 1))
        _slip(pdf, letter, letter.slip)


def render_letters(letters: Sequence[Letter]) -> bytes:
    """One PDF print batch (A4): every letter starts on a new page. Uses DejaVu Sans when the system has it,
    else the Latin-1 core fonts (then ``✂`` becomes ``8<`` and ``œ`` becomes ``oe``)."""
    if not letters:
        raise ValueError("an empty print batch: no letter to render")
    pdf = _LetterPDF(find_unicode_fonts())
    # A fixed date rather than the clock: the same batch gives the same file.
    first = letters[0].date
    pdf.set_creation_date(datetime.combine(first, time(), UTC))
    pdf.set_title(pdf.text_of(f"{letters[0].school.name}: {len(letters)}"))
    pdf.set_author(printable(letters[0].school.name))
    pdf.set_creator("Carnet")
    for letter in letters:
        _letter(pdf, letter)
    return bytes(pdf.output())


# ------------------------------------------------------------------------------------------------ adapter


class LetterAdapter(ChannelAdapter):
    """The letter as a channel: ``send`` queues, nothing leaves the building until ``flush``.

    ``queue`` takes a full ``Letter`` (with its talon and short code); ``send`` builds a plain one from a
    ``Rendered`` message and the contact, which for a letter is the postal address, one line per row, the
    first being the recipient's name. The print queue of the web app does not use this class: it builds the
    letters of a batch and calls ``render_letters`` directly.
    """

    channel = Channel.LETTER

    def __init__(self, school: LetterSchool, *, today: date | None = None) -> None:
        self.school = school
        self.today = today  #: the date printed on letters built by ``send``; by default the day of sending
        self.batch: list[Letter] = []

    def queue(self, letter: Letter) -> Outcome:
        if not letter.recipient.address_lines:
            return Outcome.permanent("no postal address", dead_contact=True)
        self.batch.append(letter)
        return Outcome.sent(provider_id=f"print-batch:{len(self.batch)}")

    async def send(self, contact: str, message: Rendered) -> Outcome:
        lines = [line.strip() for line in contact.splitlines() if line.strip()]
        if len(lines) < 2:
            return Outcome.permanent("no postal address", dead_contact=True)
        letter = Letter(
            school=self.school,
            recipient=LetterRecipient(lines[0], tuple(lines[1:])),
            language=message.language,
            date=self.today or clock.now().astimezone(ZoneInfo(self.school.timezone)).date(),
            subject=message.subject,
            body=message.text,
            link=message.link,
        )
        return self.queue(letter)

    def render_batch(self) -> bytes:
        """The queued letters as one PDF; raises ValueError when nothing is queued."""
        return render_letters(self.batch)

    def flush(self, path: str | Path) -> Path:
        """Write the queued letters to ``path`` and empty the queue."""
        target = Path(path)
        target.write_bytes(self.render_batch())
        self.batch.clear()
        return target


__all__ = [
    "Letter",
    "LetterAdapter",
    "LetterQuestion",
    "LetterRecipient",
    "LetterSchool",
    "LetterSlip",
    "deadline_text",
    "long_date",
    "render_letters",
]
