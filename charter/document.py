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

from fpdf.enums import XPos, YPos
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from hub import clock
from hub.dates import long_date
from hub.enums import StaffRole, Urgency
from hub.pdf import UnicodePDF, find_unicode_fonts, printable

from .rules import WEEKDAYS, Charter, Window, public_holidays

# --------------------------------------------------------------------------------------------- French words

#: How a family names each role, in the order they would look for it.
_ROLE_NAMES: dict[StaffRole, str] = {
    StaffRole.PRINCIPAL: "la direction",
    StaffRole.SECRETARY: "le secrétariat",
    StaffRole.ADMIN: "les administrateurs de Carnet",
    StaffRole.TEACHER: "les enseignants",
}


def french_date(day: date, *, weekday: bool = True, year: bool = True) -> str:
    """``lundi 19 octobre 2026``: the charter is the school's French document."""
    return long_date(day, "fr", weekday=weekday, year=year)


def describe_windows(windows: Sequence[Window], none: str) -> str:
    """``de 07:30 à 20:00``, ``de 22:00 à 02:00 (le lendemain)``, ``toute la journée``, or ``none``."""
    if not windows:
        return none
    parts: list[str] = []
    for window in windows:
        if window.start == 0 and window.end == 24 * 60:
            parts.append("toute la journée")
            continue
        start, end = str(window).split("-")
        part = f"de {start} à {end}"
        if window.crosses_midnight and window.end != 0:
            part += " (le lendemain)"
        parts.append(part)
    return " et ".join(parts)


def _roles_text(roles: Iterable[StaffRole]) -> str:
    names = [name for role, name in _ROLE_NAMES.items() if role in set(roles)]
    if not names:
        return "personne"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " et " + names[-1]


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

    @property
    def when(self) -> str:
        if self.start == self.end:
            return f"le {french_date(self.start)}"
        same_year = self.start.year == self.end.year
        return f"du {french_date(self.start, year=not same_year)} au {french_date(self.end)}"


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


def school_year_of(today: date) -> tuple[date, date]:
    """The school year containing ``today``: 1 August to 31 July, so that a charter published during the
    summer already shows the coming year (in Wallonia-Brussels the year now starts late in August)."""
    first = today.year if today.month >= 8 else today.year - 1
    return date(first, 8, 1), date(first + 1, 7, 31)


def _days_off(charter: Charter, first: date, last: date) -> tuple[DayOffItem, ...]:
    """School holidays touching the year, extra days off, and public holidays that would otherwise be
    school days (Easter Monday, 11 November...): one on a Sunday or inside the holidays tells nothing."""
    items = [DayOffItem(p.start, p.end, p.name) for p in charter.closed if p.end >= first and p.start <= last]
    items += [DayOffItem(d.day, d.day, d.name) for d in charter.extra_days_off if first <= d.day <= last]
    for year in range(first.year, last.year + 1):
        for day, name in public_holidays(charter, year).items():
            in_closed = any(p.start <= day <= p.end for p in charter.closed)
            if first <= day <= last and day.weekday() in charter.school_weekdays and not in_closed:
                items.append(DayOffItem(day, day, name))
    return tuple(sorted(set(items), key=lambda item: (item.start, item.end, item.name)))


#: Monday first, as ``date.weekday()`` counts and as the charter's tables read.
_WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def summarize(charter: Charter, today: date) -> Summary:
    first, last = school_year_of(today)
    rows = [
        HoursRow(
            day=_WEEKDAY_NAMES[i].capitalize(),
            normal=describe_windows(charter.normal.days[i], "aucun envoi"),
            urgent=describe_windows(charter.urgent.days[i], "aucun envoi"),
            staff=describe_windows(charter.staff.days[i], "fermé"),
        )
        for i in range(len(WEEKDAYS))
    ]
    rows.append(
        HoursRow(
            day="Jours fériés et congés scolaires",
            normal=describe_windows(charter.normal.holiday, "aucun envoi"),
            urgent=describe_windows(charter.urgent.holiday, "aucun envoi"),
            staff=describe_windows(charter.staff.holiday, "fermé"),
        )
    )
    return Summary(
        school_year=f"{first.year}-{last.year}",
        hours=tuple(rows),
        days_off=_days_off(charter, first, last),
        max_per_day=charter.max_non_urgent_per_day,
        spread_minutes=charter.release_spread_minutes,
        reply_days=charter.reply_expected_within_days,
        urgent_senders=_roles_text(charter.senders(Urgency.URGENT)),
        emergency_senders=_roles_text(charter.senders(Urgency.EMERGENCY)),
    )


#: Said before the generated part, in both formats: families should know these lines are not hand-written.
_GENERATED_NOTE = (
    "Ces horaires et ce calendrier sont ceux qu’applique Carnet : ils sont tirés des règles mêmes de la plateforme."
)


def rule_sentences(summary: Summary) -> list[str]:
    """The rules that are not hours, one sentence each: shared by the HTML and the PDF."""
    days = "jour d’école" if summary.reply_days == 1 else "jours d’école"
    sentences = [
        "Les alertes de sécurité sont délivrées à tout moment, y compris la nuit, le week-end et pendant les congés.",
        f"Vous recevez au plus {summary.max_per_day} messages ordinaires par jour ; "
        "les suivants sont regroupés en un seul résumé.",
    ]
    if summary.spread_minutes:
        sentences.append(
            "Les messages retenus en dehors des heures d’envoi sont délivrés progressivement, "
            f"au cours des {summary.spread_minutes} minutes qui suivent l’ouverture de la plage suivante."
        )
    sentences += [
        f"Peuvent envoyer un message urgent : {summary.urgent_senders}.",
        f"Peuvent envoyer une alerte de sécurité : {summary.emergency_senders}.",
        f"Réponse de l’école attendue dans les {summary.reply_days} {days} qui suivent la réception de votre "
        "message pendant les heures de disponibilité du personnel.",
    ]
    return sentences


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


def render_html(charter: Charter, today: date | None = None) -> str:
    """The charter as a standalone, accessible HTML5 page; ``today`` picks the school year of the calendar."""
    summary = summarize(charter, _today(today))
    return _ENV.get_template("charter.html").render(
        charter=charter,
        document=charter.document,
        summary=summary,
        rules=rule_sentences(summary),
        generated_note=_GENERATED_NOTE,
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


def render_pdf(charter: Charter, today: date | None = None) -> bytes:
    """The same document as a PDF (A4). Uses DejaVu Sans when the system has it, else Latin-1 core fonts."""
    day = _today(today)
    summary = summarize(charter, day)
    document = charter.document
    pdf = _CharterPDF(find_unicode_fonts())
    # A fixed date rather than the clock: the same charter on the same day gives the same file.
    pdf.set_creation_date(datetime.combine(day, time(), UTC))
    pdf.set_title(printable(document.title))
    pdf.set_author(printable(charter.name))
    pdf.set_creator("Carnet")
    pdf.set_lang(charter.language.value)
    pdf.add_page()

    pdf.heading(document.title, size=17)
    pdf.use(11, bold=True)
    pdf.multi_cell(0, 5.5, pdf.text_of(charter.name), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.use(9.5)
    adopted = f", adoptée le {french_date(document.adopted, weekday=False)}" if document.adopted else ""
    pdf.multi_cell(0, 5, pdf.text_of(f"Version {document.version}{adopted}"), align="L", new_x=XPos.LMARGIN)
    pdf.ln(3)

    for section in document.sections:
        pdf.heading(section.title)
        for block in parse_body(section.body):
            pdf.blocks((block,))

    pdf.heading(f"Horaires et calendrier {summary.school_year}")
    pdf.paragraph(_GENERATED_NOTE)
    pdf.use(9)
    with pdf.table(
        col_widths=(30, 45, 45, 40),
        text_align="LEFT",
        line_height=4.6,
        padding=1.2,
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for label in ("Jour", "Messages ordinaires", "Messages urgents", "Disponibilité du personnel"):
            header.cell(pdf.text_of(label))
        for row in summary.hours:
            cells = table.row()
            for value in (row.day, row.normal, row.urgent, row.staff):
                cells.cell(pdf.text_of(value))
    pdf.ln(3)
    pdf.blocks((Block("ul", tuple(((sentence, False),) for sentence in rule_sentences(summary))),))

    pdf.heading(f"Congés et jours fériés {summary.school_year}", size=11.5)
    if summary.days_off:
        items = tuple(((f"{item.when} : ", False), (item.name, True)) for item in summary.days_off)
        pdf.blocks((Block("ul", items),))
    else:
        pdf.paragraph("Aucun congé n’est encore inscrit pour cette année scolaire.")
    return bytes(pdf.output())


def render_to(charter: Charter, out_dir: str | Path, today: date | None = None) -> list[Path]:
    """Write ``charte.html`` and ``charte.pdf`` into ``out_dir`` (created if needed); return their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    html_path, pdf_path = folder / "charte.html", folder / "charte.pdf"
    html_path.write_text(render_html(charter, today), encoding="utf-8")
    pdf_path.write_bytes(render_pdf(charter, today))
    return [html_path, pdf_path]


__all__ = ["render_html", "render_pdf", "render_to", "summarize"]
