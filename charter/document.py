"""The charter as a document families can download: HTML (accessible, printable) and PDF.

The prose comes from ``[document]`` of the charter file; the hours, the holidays, the limits and the senders
are generated from the rules themselves (``Summary``), so the document cannot say something Carnet does not
do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from babel.dates import get_day_names
from fpdf.enums import XPos, YPos
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from hub import clock
from hub.dates import long_date
from hub.enums import Language, StaffRole, Urgency
from hub.pdf import UnicodePDF, find_unicode_fonts, printable

from .rules import WEEKDAYS, Charter, CharterDocument, Window, _public_holidays

# ----------------------------------------------------------------------------------- words per language

#: The document's own words in each language the product speaks; the prose comes from the charter file.
WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "from_to": "de {start} à {end}",
        "next_day": " (le lendemain)",
        "all_day": "toute la journée",
        "and": " et ",
        "no_sending": "aucun envoi",
        "closed": "fermé",
        "holidays_row": "Jours fériés et congés scolaires",
        "on_day": "le {day}",
        "from_day_to_day": "du {start} au {end}",
        "nobody": "personne",
        "principal": "la direction",
        "secretary": "le secrétariat",
        "admin": "les administrateurs de Carnet",
        "teacher": "les enseignants",
        "generated": "Ces horaires et ce calendrier sont ceux qu’applique Carnet : ils sont tirés des règles mêmes "
        "de la plateforme.",
        "emergency_always": "Les alertes de sécurité sont délivrées à tout moment, y compris la nuit, le week-end "
        "et pendant les congés.",
        "per_day": "Vous recevez au plus {n} messages ordinaires par jour ; les suivants sont regroupés en un seul "
        "résumé.",
        "spread": "Les messages retenus en dehors des heures d’envoi sont délivrés progressivement, au cours des "
        "{n} minutes qui suivent l’ouverture de la plage suivante.",
        "urgent_senders": "Peuvent envoyer un message urgent : {who}.",
        "emergency_senders": "Peuvent envoyer une alerte de sécurité : {who}.",
        "school_day": "jour d’école",
        "school_days": "jours d’école",
        "reply": "Réponse de l’école attendue dans les {n} {days} qui suivent la réception de votre message "
        "pendant les heures de disponibilité du personnel.",
        "version": "Version {version}",
        "adopted": ", adoptée le {day}",
        "contents": "Sommaire",
        "hours_title": "Horaires et calendrier {year}",
        "hours_caption": "Heures d’envoi des messages et disponibilité du personnel",
        "day": "Jour",
        "normal": "Messages ordinaires",
        "urgent": "Messages urgents",
        "staff": "Disponibilité du personnel",
        "days_off_title": "Congés et jours fériés {year}",
        "no_days_off": "Aucun congé n’est encore inscrit pour cette année scolaire.",
        "dpo_unset": "le secrétariat de l’école, qui transmet",
        "languages": "Cette charte existe en",
        "colon": " : ",
    },
    "nl": {
        "from_to": "van {start} tot {end}",
        "next_day": " (de volgende dag)",
        "all_day": "de hele dag",
        "and": " en ",
        "no_sending": "geen verzending",
        "closed": "gesloten",
        "holidays_row": "Feestdagen en schoolvakanties",
        "on_day": "op {day}",
        "from_day_to_day": "van {start} tot {end}",
        "nobody": "niemand",
        "principal": "de directie",
        "secretary": "het secretariaat",
        "admin": "de beheerders van Carnet",
        "teacher": "de leerkrachten",
        "generated": "Deze uren en deze kalender zijn die welke Carnet toepast: ze komen uit de regels van het "
        "platform zelf.",
        "emergency_always": "Veiligheidswaarschuwingen worden op elk moment bezorgd, ook 's nachts, in het weekend "
        "en tijdens de vakanties.",
        "per_day": "U ontvangt hoogstens {n} gewone berichten per dag; de volgende worden in één overzicht gebundeld.",
        "spread": "Berichten die buiten de verzenduren werden tegengehouden, worden geleidelijk bezorgd in de {n} "
        "minuten na de opening van het volgende tijdvak.",
        "urgent_senders": "Mogen een dringend bericht sturen: {who}.",
        "emergency_senders": "Mogen een veiligheidswaarschuwing sturen: {who}.",
        "school_day": "schooldag",
        "school_days": "schooldagen",
        "reply": "Antwoord van de school verwacht binnen {n} {days} na de ontvangst van uw bericht tijdens de "
        "beschikbaarheidsuren van het personeel.",
        "version": "Versie {version}",
        "adopted": ", aangenomen op {day}",
        "contents": "Inhoud",
        "hours_title": "Uren en kalender {year}",
        "hours_caption": "Verzenduren van de berichten en beschikbaarheid van het personeel",
        "day": "Dag",
        "normal": "Gewone berichten",
        "urgent": "Dringende berichten",
        "staff": "Beschikbaarheid van het personeel",
        "days_off_title": "Vakanties en feestdagen {year}",
        "no_days_off": "Er is nog geen vakantie ingeschreven voor dit schooljaar.",
        "dpo_unset": "het secretariaat van de school, dat doorgeeft",
        "languages": "Dit charter bestaat in het",
        "colon": ": ",
    },
    "en": {
        "from_to": "from {start} to {end}",
        "next_day": " (the next day)",
        "all_day": "all day",
        "and": " and ",
        "no_sending": "no sending",
        "closed": "closed",
        "holidays_row": "Public and school holidays",
        "on_day": "on {day}",
        "from_day_to_day": "from {start} to {end}",
        "nobody": "nobody",
        "principal": "the principal",
        "secretary": "the school office",
        "admin": "Carnet's administrators",
        "teacher": "the teachers",
        "generated": "These hours and this calendar are those Carnet applies: they come from the platform's own rules.",
        "emergency_always": "Safety alerts are delivered at any time, at night, at weekends and in the holidays too.",
        "per_day": "You receive at most {n} ordinary messages a day; any more are gathered into one summary.",
        "spread": "Messages held outside the sending hours are delivered gradually, over the {n} minutes after "
        "the next window opens.",
        "urgent_senders": "May send an urgent message: {who}.",
        "emergency_senders": "May send a safety alert: {who}.",
        "school_day": "school day",
        "school_days": "school days",
        "reply": "The school's answer is expected within {n} {days} of receiving your message during the staff's "
        "hours.",
        "version": "Version {version}",
        "adopted": ", adopted on {day}",
        "contents": "Contents",
        "hours_title": "Hours and calendar {year}",
        "hours_caption": "When messages are sent and when staff are available",
        "day": "Day",
        "normal": "Ordinary messages",
        "urgent": "Urgent messages",
        "staff": "Staff availability",
        "days_off_title": "Holidays and public holidays {year}",
        "no_days_off": "No holiday is entered for this school year yet.",
        "dpo_unset": "the school office, which passes your request on",
        "languages": "This charter exists in",
        "colon": ": ",
    },
}
#: How a family names each role, in the order they would look for it.
_ROLES = (StaffRole.PRINCIPAL, StaffRole.SECRETARY, StaffRole.ADMIN, StaffRole.TEACHER)
#: The languages' own names, to offer the other versions.
LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "en": "English"}


def _lang(language: object) -> str:
    code = str(getattr(language, "value", language) or "").lower()[:2]
    return code if code in WORDS else "fr"


def french_date(day: date, *, weekday: bool = True, year: bool = True) -> str:
    """``lundi 19 octobre 2026``: the charter's French document."""
    return long_date(day, "fr", weekday=weekday, year=year)


def describe_windows(windows: Sequence[Window], none: str, language: str = "fr") -> str:
    """``de 07:30 à 20:00``, ``de 22:00 à 02:00 (le lendemain)``, ``toute la journée``, or ``none``."""
    words = WORDS[_lang(language)]
    if not windows:
        return none
    parts: list[str] = []
    for window in windows:
        if window.start == 0 and window.end == 24 * 60:
            parts.append(words["all_day"])
            continue
        start, end = str(window).split("-")
        part = words["from_to"].format(start=start, end=end)
        if window.crosses_midnight and window.end != 0:
            part += words["next_day"]
        parts.append(part)
    return words["and"].join(parts)


def _roles_text(roles: Iterable[StaffRole], language: str = "fr") -> str:
    words = WORDS[_lang(language)]
    names = [words[str(role)] for role in _ROLES if role in set(roles)]
    if not names:
        return words["nobody"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + words["and"] + names[-1]


# --------------------------------------------------------------------------------- the summary of the rules


@dataclass(frozen=True)
class HoursRow:
    day: str
    normal: str
    urgent: str
    staff: str


@dataclass(frozen=True)
class DayOffItem:
    start: date
    end: date
    name: str
    language: str = "fr"

    @property
    def when(self) -> str:
        words = WORDS[_lang(self.language)]
        if self.start == self.end:
            return words["on_day"].format(day=long_date(self.start, self.language, weekday=True))
        same_year = self.start.year == self.end.year
        return words["from_day_to_day"].format(
            start=long_date(self.start, self.language, weekday=True, year=not same_year),
            end=long_date(self.end, self.language, weekday=True),
        )


@dataclass(frozen=True)
class Summary:
    """Everything the document states about the rules, computed from the charter and nothing else."""

    school_year: str  #: "2026-2027"
    hours: tuple[HoursRow, ...]
    days_off: tuple[DayOffItem, ...]
    max_per_day: int
    spread_minutes: int
    reply_days: int
    urgent_senders: str
    emergency_senders: str
    language: str = "fr"


def school_year_of(today: date) -> tuple[date, date]:
    """The school year containing ``today``: 1 August to 31 July, so that a charter published during the
    summer already shows the coming year (in Wallonia-Brussels the year now starts late in August)."""
    first = today.year if today.month >= 8 else today.year - 1
    return date(first, 8, 1), date(first + 1, 7, 31)


def _days_off(charter: Charter, first: date, last: date, language: str = "fr") -> tuple[DayOffItem, ...]:
    """School holidays touching the year, extra days off, and public holidays that would otherwise be
    school days (Easter Monday, 11 November...): one on a Sunday or inside the holidays tells nothing."""
    lang = _lang(language)
    items = [
        DayOffItem(p.start, p.end, p.name_in(lang), lang) for p in charter.closed if p.end >= first and p.start <= last
    ]
    items += [DayOffItem(d.day, d.day, d.name_in(lang), lang) for d in charter.extra_days_off if first <= d.day <= last]
    named_in = Language(lang) if lang != _lang(charter.language) else charter.language
    for year in range(first.year, last.year + 1):
        for day, name in _public_holidays(charter.country, named_in, year).items():
            in_closed = any(p.start <= day <= p.end for p in charter.closed)
            if first <= day <= last and day.weekday() in charter.school_weekdays and not in_closed:
                items.append(DayOffItem(day, day, name, lang))
    return tuple(sorted(set(items), key=lambda item: (item.start, item.end, item.name)))


def _weekday_names(language: str) -> tuple[str, ...]:
    """Monday first, as ``date.weekday()`` counts and as the charter's tables read."""
    names = get_day_names("wide", locale=_lang(language))
    return tuple(str(names[i]) for i in range(7))


def summarize(charter: Charter, today: date, language: str | None = None) -> Summary:
    lang = _lang(language or charter.language)
    words = WORDS[lang]
    first, last = school_year_of(today)
    weekdays = _weekday_names(lang)
    rows = [
        HoursRow(
            day=weekdays[i][:1].upper() + weekdays[i][1:],
            normal=describe_windows(charter.normal.days[i], words["no_sending"], lang),
            urgent=describe_windows(charter.urgent.days[i], words["no_sending"], lang),
            staff=describe_windows(charter.staff.days[i], words["closed"], lang),
        )
        for i in range(len(WEEKDAYS))
    ]
    rows.append(
        HoursRow(
            day=words["holidays_row"],
            normal=describe_windows(charter.normal.holiday, words["no_sending"], lang),
            urgent=describe_windows(charter.urgent.holiday, words["no_sending"], lang),
            staff=describe_windows(charter.staff.holiday, words["closed"], lang),
        )
    )
    return Summary(
        school_year=f"{first.year}-{last.year}",
        hours=tuple(rows),
        days_off=_days_off(charter, first, last, lang),
        max_per_day=charter.max_non_urgent_per_day,
        spread_minutes=charter.release_spread_minutes,
        reply_days=charter.reply_expected_within_days,
        urgent_senders=_roles_text(charter.senders(Urgency.URGENT), lang),
        emergency_senders=_roles_text(charter.senders(Urgency.EMERGENCY), lang),
        language=lang,
    )


#: Said before the generated part, in both formats: families should know these lines are not hand-written.
_GENERATED_NOTE = WORDS["fr"]["generated"]


def rule_sentences(summary: Summary) -> list[str]:
    """The rules that are not hours, one sentence each, in the summary's language: shared by the HTML and PDF."""
    words = WORDS[_lang(summary.language)]
    days = words["school_day"] if summary.reply_days == 1 else words["school_days"]
    sentences = [words["emergency_always"], words["per_day"].format(n=summary.max_per_day)]
    if summary.spread_minutes:
        sentences.append(words["spread"].format(n=summary.spread_minutes))
    sentences += [
        words["urgent_senders"].format(who=summary.urgent_senders),
        words["emergency_senders"].format(who=summary.emergency_senders),
        words["reply"].format(n=summary.reply_days, days=days),
    ]
    return sentences


# --------------------------------------------------------------------------------------- the school's own


@dataclass(frozen=True)
class SchoolDetails:
    """What the school's settings say of it, for the document: never a placeholder of the charter file."""

    name: str
    address: str = ""
    dpo: str = ""


def _school(charter: Charter, school: SchoolDetails | None) -> SchoolDetails:
    return school if school is not None else SchoolDetails(charter.name)


def _filled(body: str, school: SchoolDetails, language: str) -> str:
    """A section's body with the school's details: ``{school}``, ``{address}``, ``{dpo}``."""
    dpo = school.dpo or WORDS[_lang(language)]["dpo_unset"]
    return body.replace("{school}", school.name).replace("{address}", school.address).replace("{dpo}", dpo)


# ------------------------------------------------------------------------------------ Markdown-ish prose

#: A run of text, bold or not.
Run = tuple[str, bool]


@dataclass(frozen=True)
class Block:
    kind: str  #: "p" or "ul"
    items: tuple[tuple[Run, ...], ...]  #: one paragraph, or one entry per bullet


_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


def _runs(text: str) -> tuple[Run, ...]:
    runs: list[Run] = []
    position = 0
    for match in _BOLD.finditer(text):
        if match.start() > position:
            runs.append((text[position : match.start()], False))
        runs.append((match[1], True))
        position = match.end()
    if position < len(text):
        runs.append((text[position:], False))
    return tuple(runs)


def parse_body(body: str) -> tuple[Block, ...]:
    """Paragraphs split by blank lines; lines starting with "- " are bullets; **bold**. Nothing else: the
    charter is written by a school secretary, not a web designer."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", body.strip()):
        # Each line is either a new bullet, the continuation of the last bullet, or paragraph text.
        groups: list[tuple[str, list[str]]] = []
        for line in (line.strip() for line in chunk.splitlines()):
            if not line:
                continue
            if line.startswith(("- ", "* ")):
                if not groups or groups[-1][0] != "ul":
                    groups.append(("ul", []))
                groups[-1][1].append(line[2:].strip())
            elif groups and groups[-1][0] == "ul":
                groups[-1][1][-1] += " " + line
            elif groups:
                groups[-1][1].append(line)
            else:
                groups.append(("p", [line]))
        for kind, lines in groups:
            if kind == "p":
                blocks.append(Block("p", (_runs(" ".join(lines)),)))
            else:
                blocks.append(Block("ul", tuple(_runs(item) for item in lines)))
    return tuple(blocks)


def _runs_html(runs: Iterable[Run]) -> Markup:
    return Markup("").join(Markup("<strong>{}</strong>").format(text) if bold else escape(text) for text, bold in runs)


def _blocks_html(body: str) -> Markup:
    html: list[Markup] = []
    for block in parse_body(body):
        if block.kind == "p":
            html.append(Markup("<p>{}</p>").format(_runs_html(block.items[0])))
        else:
            items = Markup("").join(Markup("<li>{}</li>").format(_runs_html(item)) for item in block.items)
            html.append(Markup("<ul>{}</ul>").format(items))
    return Markup("\n").join(html)


# ------------------------------------------------------------------------------------------------- HTML

_ENV = Environment(
    loader=PackageLoader("charter", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["prose"] = _blocks_html
_ENV.filters["french_date"] = french_date


def _today(today: date | None) -> date:
    # "The current school year" of a document rendered without a date: today in the product's clock.
    return today if today is not None else clock.now().date()


def _document(charter: Charter, language: str | None) -> tuple[str, CharterDocument]:
    """The document in ``language`` when the charter is written in it, else in the charter's own."""
    document = charter.document_in(_lang(language)) if language else charter.document
    return _lang(document.language), document


def render_html(
    charter: Charter,
    today: date | None = None,
    language: str | None = None,
    school: SchoolDetails | None = None,
    link: str = "",
) -> str:
    """The charter as a standalone, accessible HTML5 page in ``language`` (the charter's own when it is not
    written in it); ``today`` picks the school year of the calendar; ``school`` the settings' name, address
    and data-protection officer; ``link`` the address of the other languages' versions (``?lang=`` added)."""
    lang, document = _document(charter, language)
    summary = summarize(charter, _today(today), lang)
    details = _school(charter, school)
    return _ENV.get_template("charter.html").render(
        charter=charter,
        lang=lang,
        w=WORDS[lang],
        document=document,
        sections=[(section.title, _filled(section.body, details, lang)) for section in document.sections],
        school=details,
        summary=summary,
        rules=rule_sentences(summary),
        generated_note=WORDS[lang]["generated"],
        adopted=long_date(document.adopted, lang) if document.adopted else "",
        others=[(code, LANGUAGE_NAMES[code]) for code in charter.languages if code != lang] if link else [],
        link=link,
    )


# -------------------------------------------------------------------------------------------------- PDF


class _CharterPDF(UnicodePDF):
    def __init__(self, fonts: tuple[Path, Path] | None) -> None:
        super().__init__(fonts)
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)

    def blocks(self, blocks: Iterable[Block]) -> None:
        """Paragraphs and bullet lists, bold runs included. A text region rather than ``write()``: it wraps
        whole words across a change of font, where ``write()`` would cut a word at the start of a bold run."""
        with self.text_columns(text_align="LEFT", line_height=1.35) as region:
            for block in blocks:
                for item in block.items:
                    bullet = block.kind == "ul"
                    with region.paragraph(
                        indent=6 if bullet else 0,
                        bullet_string=self.text_of("•") if bullet else "",
                        bottom_margin=1 if bullet else 2.2,
                    ) as paragraph:
                        for text, bold in item:
                            self.use(10, bold)
                            paragraph.write(self.text_of(text.replace("\n", " ")))
                        self.use(10)
        self.ln(1.5)

    def paragraph(self, text: str) -> None:
        self.blocks((Block("p", (((text, False),),)),))

    def heading(self, text: str, size: float = 13) -> None:
        self.ln(2)
        self.use(size, bold=True)
        self.multi_cell(0, size * 0.5, self.text_of(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)
        self.use(10)


def render_pdf(
    charter: Charter, today: date | None = None, language: str | None = None, school: SchoolDetails | None = None
) -> bytes:
    """The same document as a PDF (A4). Uses DejaVu Sans when the system has it, else Latin-1 core fonts."""
    day = _today(today)
    lang, document = _document(charter, language)
    words = WORDS[lang]
    summary = summarize(charter, day, lang)
    details = _school(charter, school)
    pdf = _CharterPDF(find_unicode_fonts())
    # A fixed date rather than the clock: the same charter on the same day gives the same file.
    pdf.set_creation_date(datetime.combine(day, time(), UTC))
    pdf.set_title(printable(document.title))
    pdf.set_author(printable(details.name))
    pdf.set_creator("Carnet")
    pdf.set_lang(lang)
    pdf.add_page()

    pdf.heading(document.title, size=17)
    pdf.use(11, bold=True)
    pdf.multi_cell(0, 5.5, pdf.text_of(details.name), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.use(9.5)
    if details.address:
        pdf.multi_cell(0, 5, pdf.text_of(details.address), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    adopted = words["adopted"].format(day=long_date(document.adopted, lang)) if document.adopted else ""
    version = words["version"].format(version=document.version) + adopted
    pdf.multi_cell(0, 5, pdf.text_of(version), align="L", new_x=XPos.LMARGIN)
    pdf.ln(3)

    for section in document.sections:
        pdf.heading(section.title)
        for block in parse_body(_filled(section.body, details, lang)):
            pdf.blocks((block,))

    pdf.heading(words["hours_title"].format(year=summary.school_year))
    pdf.paragraph(words["generated"])
    pdf.use(9)
    with pdf.table(
        col_widths=(30, 45, 45, 40),
        text_align="LEFT",
        line_height=4.6,
        padding=1.2,
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for label in (words["day"], words["normal"], words["urgent"], words["staff"]):
            header.cell(pdf.text_of(label))
        for row in summary.hours:
            cells = table.row()
            for value in (row.day, row.normal, row.urgent, row.staff):
                cells.cell(pdf.text_of(value))
    pdf.ln(3)
    pdf.blocks((Block("ul", tuple(((sentence, False),) for sentence in rule_sentences(summary))),))

    pdf.heading(words["days_off_title"].format(year=summary.school_year), size=11.5)
    if summary.days_off:
        items = tuple(((f"{item.when}{words['colon']}", False), (item.name, True)) for item in summary.days_off)
        pdf.blocks((Block("ul", items),))
    else:
        pdf.paragraph(words["no_days_off"])
    return bytes(pdf.output())


def render_to(
    charter: Charter,
    out_dir: str | Path,
    today: date | None = None,
    school: SchoolDetails | None = None,
    *,
    every_language: bool = False,
) -> list[Path]:
    """Write ``charte.html`` and ``charte.pdf`` into ``out_dir`` (created if needed), and with
    ``every_language`` ``charte.<lang>.html`` and ``charte.<lang>.pdf`` for each other language the charter is
    written in; return their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, lang in enumerate(charter.languages if every_language else charter.languages[:1]):
        suffix = "" if index == 0 else f".{lang}"
        html_path, pdf_path = folder / f"charte{suffix}.html", folder / f"charte{suffix}.pdf"
        html_path.write_text(render_html(charter, today, lang, school), encoding="utf-8")
        pdf_path.write_bytes(render_pdf(charter, today, lang, school))
        written += [html_path, pdf_path]
    return written


__all__ = ["SchoolDetails", "render_html", "render_pdf", "render_to", "summarize"]
