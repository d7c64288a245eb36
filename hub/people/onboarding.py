"""Onboarding: who has not yet confirmed their contacts, and the printed welcome letter that invites them to.

A guardian is onboarded once they opened the welcome letter's QR code and confirmed their contacts and channels
(``Guardian.onboarded_at``, set by the portal's onboarding page). Until then the school only has what the roster
import said, so the office prints a welcome letter per guardian: one A4 page with the school's letterhead, the
address in the envelope's window, a greeting in the guardian's language, what Carnet is, the charter in two
sentences, and a QR code of a personal onboarding link (a sign-in link valid for weeks, single use) with the
same link printed for those who type it.

A letter is always for one guardian, never one per household: separated parents each get their own, and a link
signs in one person.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import segno
from fpdf.enums import WrapMode, XPos, YPos

from charter import Charter
from hub.dates import long_date
from hub.enums import ActorKind, GroupKind, LinkPurpose
from hub.pdf import UnicodePDF, find_unicode_fonts
from hub.people import security
from hub.people.models import Group, Guardian, Guardianship, Membership, School
from hub.store.audit import audit
from hub.store.db import ids_of

# ------------------------------------------------------------------------------------------------ who is left


@dataclass
class ClassOnboarding:
    """One class: its guardians (those receiving messages about a pupil of it), and those not onboarded."""

    group_id: int
    code: str
    name: str
    guardians: int = 0
    waiting: list[tuple[int, str]] = field(default_factory=list)  #: (guardian id, name), by name

    @property
    def onboarded(self) -> int:
        return self.guardians - len(self.waiting)


@dataclass(frozen=True)
class OnboardingOverview:
    classes: list[ClassOnboarding]
    guardians: int  #: every guardian of the school (not erased)
    waiting: int  #: of whom not onboarded


async def _class_links(school_id: int) -> list[tuple[int, int]]:
    """(class id, guardian id) for every guardian who receives messages about an active pupil of the class."""
    memberships = Membership.filter(group__school_id=school_id, group__kind=GroupKind.CLASS, pupil__active=True)
    classes = dict(await memberships.values_list("pupil_id", "group_id"))
    links = await Guardianship.filter(
        pupil_id__in=list(classes), barred=False, receives=True, guardian__erased_at__isnull=True
    ).values_list("pupil_id", "guardian_id")
    return sorted({(classes[pupil_id], guardian_id) for pupil_id, guardian_id in links})


async def overview(school_id: int) -> OnboardingOverview:
    """Who has not onboarded yet, by class (a guardian of pupils in two classes counts in both)."""
    guardians = Guardian.filter(school_id=school_id, erased_at__isnull=True)
    names = {
        gid: f"{last} {first}"
        for gid, first, last in await guardians.filter(onboarded_at__isnull=True).values_list(
            "id", "first_name", "last_name"
        )
    }
    groups = await Group.filter(school_id=school_id, kind=GroupKind.CLASS).order_by("code")
    classes = {g.id: ClassOnboarding(g.id, g.code, g.name) for g in groups}
    for group_id, guardian_id in await _class_links(school_id):
        row = classes[group_id]
        row.guardians += 1
        if guardian_id in names:
            row.waiting.append((guardian_id, names[guardian_id]))
    for row in classes.values():
        row.waiting.sort(key=lambda pair: pair[1].lower())
    return OnboardingOverview(list(classes.values()), await guardians.count(), len(names))


async def waiting_guardian_ids(school_id: int, group_id: int | None = None) -> list[int]:
    """The guardians not onboarded: of one class of this school, or of the whole school."""
    query = Guardian.filter(school_id=school_id, erased_at__isnull=True, onboarded_at__isnull=True)
    if group_id is not None:
        in_class = {g for c, g in await _class_links(school_id) if c == group_id}
        query = query.filter(id__in=list(in_class))
    return list(await ids_of(query.order_by("last_name", "first_name", "id")))


# ------------------------------------------------------------------------------------------ the letter text

_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "dated": "{place}, le {date}",
        "subject": "Bienvenue sur Carnet, le carnet de liaison de l’école",
        "greeting": "Bonjour {name},",
        "what": "Carnet est la plateforme par laquelle l’école vous écrit : annonces, talons-réponses, "
        "accusés de lecture, notes et absences de {pupils}. Vous choisissez comment vous êtes prévenu·e : "
        "e-mail, SMS, notification ou Telegram ; sans internet, vous recevez une lettre, comme celle-ci.",
        "charter": "Notre charte de communication : {hours} Les alertes de sécurité vous parviennent à tout "
        "moment, et l’école répond à vos messages dans les {days} jours d’école.",
        "hours": "les messages ordinaires n’arrivent que les jours d’école, entre {start} et {end}, "
        "jamais la nuit, le week-end ni pendant les congés, et au plus {max} par jour.",
        "cta": "Scannez ce code avec votre téléphone, ou tapez l’adresse ci-dessous, pour vérifier vos "
        "coordonnées et choisir comment l’école vous joint. Ce lien personnel ne sert qu’une fois et reste "
        "valable jusqu’au {until}.",
        "keep": "Ce lien est le vôtre : ne le transmettez pas. Une question ? Adressez-vous au secrétariat.",
        "closing": "Avec nos salutations distinguées,",
        "office": "La direction",
    },
    "nl": {
        "dated": "{place}, {date}",
        "subject": "Welkom bij Carnet, het heen-en-weerschriftje van de school",
        "greeting": "Beste {name},",
        "what": "Carnet is het platform waarmee de school u schrijft: berichten, antwoordstrookjes, "
        "leesbevestigingen, cijfers en afwezigheden van {pupils}. U kiest zelf hoe u bereikt wordt: e-mail, "
        "sms, melding of Telegram; zonder internet krijgt u een brief, zoals deze.",
        "charter": "Ons communicatiecharter: {hours} Veiligheidswaarschuwingen bereiken u op elk moment, en de "
        "school beantwoordt uw berichten binnen {days} schooldagen.",
        "hours": "gewone berichten komen alleen op schooldagen, tussen {start} en {end}, nooit 's nachts, in "
        "het weekend of in de vakanties, en hoogstens {max} per dag.",
        "cta": "Scan deze code met uw telefoon, of typ het adres hieronder, om uw gegevens na te kijken en te "
        "kiezen hoe de school u bereikt. Deze persoonlijke link werkt één keer en blijft geldig tot {until}.",
        "keep": "Deze link is van u: geef hem niet door. Een vraag? Neem contact op met het secretariaat.",
        "closing": "Met vriendelijke groeten,",
        "office": "De directie",
    },
    "en": {
        "dated": "{place}, {date}",
        "subject": "Welcome to Carnet, the school’s home–school notebook",
        "greeting": "Dear {name},",
        "what": "Carnet is how the school writes to you: announcements, reply slips, read receipts, the grades "
        "and absences of {pupils}. You choose how you are told: email, text message, notification or "
        "Telegram; without internet, you receive a letter, like this one.",
        "charter": "Our communication charter: {hours} Safety alerts reach you at any time, and the school "
        "answers your messages within {days} school days.",
        "hours": "ordinary messages only arrive on school days, between {start} and {end}, never at night, at "
        "weekends or in the holidays, and at most {max} a day.",
        "cta": "Scan this code with your phone, or type the address below, to check your contact details and "
        "choose how the school reaches you. This personal link works once and is valid until {until}.",
        "keep": "This link is yours: do not pass it on. A question? Ask the school office.",
        "closing": "Yours sincerely,",
        "office": "The head teacher",
    },
}
_AND = {"fr": " et ", "nl": " en ", "en": " and "}


def _lang(language: str) -> str:
    code = str(language).lower()[:2]
    return code if code in _TEXTS else "fr"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def charter_sentences(charter: Charter, language: str) -> str:
    """The charter in two sentences, from its rules: the normal sending hours on school days (the earliest
    start and latest end of the week) and the daily limit, then alerts and the reply delay."""
    texts = _TEXTS[_lang(language)]
    windows = [w for day in sorted(charter.school_weekdays) for w in charter.normal.days[day]]
    start = min((w.start for w in windows), default=8 * 60)
    end = max((w.end for w in windows), default=18 * 60)
    hours = texts["hours"].format(start=_hhmm(start), end=_hhmm(end), max=charter.max_non_urgent_per_day)
    return texts["charter"].format(hours=hours[0].upper() + hours[1:], days=charter.reply_expected_within_days)


def _names(names: list[str], language: str) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + _AND[_lang(language)] + names[-1]


@dataclass(frozen=True)
class WelcomeLetter:
    guardian_id: int
    name: str
    language: str
    address_lines: tuple[str, ...]
    pupils: tuple[str, ...]  #: first names
    link: str


# ------------------------------------------------------------------------------------------------- the PDF

_LEFT, _TOP, _RIGHT = 20.0, 14.0, 20.0
_WINDOW_X, _WINDOW_Y, _WINDOW_W = 20.0, 45.0, 85.0
_QR_SIZE = 42.0


def _qr(link: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(link, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    buffer.seek(0)
    return buffer


class _WelcomePDF(UnicodePDF):
    def paragraph(self, text: str, size: float = 10.5, *, bold: bool = False, height: float = 5.2) -> None:
        self.use(size, bold=bold)
        self.multi_cell(0, height, self.text_of(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2.5)


def _page(pdf: _WelcomePDF, school: School, letter: WelcomeLetter, charter: Charter, day: dt.date) -> None:
    texts, lang = _TEXTS[_lang(letter.language)], _lang(letter.language)
    address = [line.strip() for line in school.address.replace(",", "\n").splitlines() if line.strip()]
    pdf.add_page()
    pdf.set_xy(_LEFT, _TOP)
    pdf.use(14, bold=True)
    pdf.multi_cell(0, 7, pdf.text_of(school.name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.use(9)
    for line in address:
        pdf.cell(0, 4.2, pdf.text_of(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(120)
    pdf.line(_LEFT, pdf.get_y() + 1.5, pdf.w - _RIGHT, pdf.get_y() + 1.5)
    pdf.set_draw_color(0)

    pdf.set_xy(_WINDOW_X, _WINDOW_Y + 17.7)
    pdf.use(10.5)
    for line in [letter.name, *letter.address_lines][:6]:
        pdf.set_x(_WINDOW_X)
        pdf.cell(_WINDOW_W, 4.5, pdf.text_of(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_xy(_LEFT, 96)
    place = address[-1].split(" ", 1)[-1] if address else ""
    when = long_date(day, lang)
    pdf.use(10)
    pdf.cell(0, 5, pdf.text_of(texts["dated"].format(place=place, date=when) if place else when), align="R")
    pdf.ln(10)
    pdf.paragraph(texts["subject"], 12, bold=True)
    pdf.paragraph(texts["greeting"].format(name=letter.name))
    pdf.paragraph(texts["what"].format(pupils=_names(list(letter.pupils), lang)))
    pdf.paragraph(charter_sentences(charter, lang))
    until = long_date(day + security.LINK_LIFETIME[LinkPurpose.ONBOARDING], lang)
    top = pdf.get_y() + 2
    pdf.image(_qr(letter.link), x=_LEFT, y=top, w=_QR_SIZE, h=_QR_SIZE)
    pdf.set_xy(_LEFT + _QR_SIZE + 6, top + 2)
    pdf.use(10.5)
    pdf.multi_cell(0, 5.2, pdf.text_of(texts["cta"].format(until=until)), align="L", new_x=XPos.LMARGIN)
    # Under the code, the link in a monospaced face, broken anywhere, so that every character can be typed.
    pdf.set_xy(_LEFT, max(pdf.get_y(), top + _QR_SIZE) + 2)
    pdf.set_font("Courier", "B", 10)
    pdf.multi_cell(0, 5, letter.link, wrapmode=WrapMode.CHAR, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.paragraph(texts["keep"], 9.5)
    pdf.ln(2)
    pdf.paragraph(texts["closing"])
    pdf.paragraph(texts["office"], bold=True)


def render_welcome_letters(school: School, letters: list[WelcomeLetter], charter: Charter, day: dt.date) -> bytes:
    """One PDF, one A4 page per guardian."""
    if not letters:
        raise ValueError("no welcome letter to render")
    pdf = _WelcomePDF(find_unicode_fonts(), orientation="P", unit="mm")
    pdf.set_margins(_LEFT, _TOP, _RIGHT)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_creation_date(dt.datetime.combine(day, dt.time(), dt.UTC))
    pdf.set_title(pdf.text_of(f"{school.name}: Carnet ({len(letters)})"))
    pdf.set_creator("Carnet")
    for letter in letters:
        _page(pdf, school, letter, charter, day)
    return bytes(pdf.output())


# ------------------------------------------------------------------------------------------------ printing


def _address(row: dict[str, Any], prefix: str) -> tuple[str, ...]:
    parts = ("street", "postal_code", "city", "country")
    street, postal, city, country = (row[f"{prefix}{part}"] or "" for part in parts)
    lines = [street, f"{postal} {city}".strip()] + ([country] if country and country != "BE" else [])
    return tuple(line for line in lines if line)


async def _letters_for(guardian_ids: list[int], school_id: int, now: dt.datetime, base_url: str) -> list[WelcomeLetter]:
    rows = await Guardian.filter(id__in=guardian_ids, school_id=school_id, erased_at__isnull=True).values(
        "id", "first_name", "last_name", "language", "street", "postal_code", "city", "country",
        "household__street", "household__postal_code", "household__city", "household__country",
    )  # fmt: skip
    pupils: dict[int, list[str]] = defaultdict(list)
    for guardian_id, first in (
        await Guardianship.filter(guardian_id__in=guardian_ids, barred=False, receives=True, pupil__active=True)
        .order_by("pupil__first_name")
        .values_list("guardian_id", "pupil__first_name")
    ):
        pupils[guardian_id].append(first)
    order = {gid: i for i, gid in enumerate(guardian_ids)}
    letters = []
    for row in sorted(rows, key=lambda r: order[r["id"]]):
        token = await security.create_sign_in_link(row["id"], now, LinkPurpose.ONBOARDING)
        letters.append(
            WelcomeLetter(
                guardian_id=row["id"],
                name=f"{row['first_name']} {row['last_name']}",
                language=str(row["language"]),
                address_lines=_address(row, "") or _address(row, "household__"),
                pupils=tuple(pupils[row["id"]]),
                link=f"{base_url.rstrip('/')}/s/{token}",
            )
        )
    return letters


async def print_welcome_letters(
    guardian_ids: list[int],
    *,
    school_id: int,
    charter: Charter,
    staff_id: int,
    now: dt.datetime,
    base_url: str,
    group_id: int | None = None,
) -> tuple[bytes, int]:
    """The welcome letters of these guardians of the school (others are ignored) as one PDF, each with a new
    personal onboarding link, and the number of letters. Audited: who printed how many, for which class."""
    school = await School.get(id=school_id)
    letters = await _letters_for(guardian_ids, school_id, now, base_url)
    if not letters:
        return b"", 0
    day = now.astimezone(ZoneInfo(school.timezone)).date()
    # Some tens of milliseconds a page: rendered in a thread, so the web app keeps answering meanwhile.
    pdf = await asyncio.to_thread(render_welcome_letters, school, letters, charter, day)
    await audit(
        "onboarding.letters_printed",
        at=now,
        actor_kind=ActorKind.STAFF,
        actor_id=staff_id,
        subject_type="group" if group_id is not None else "school",
        subject_id=group_id if group_id is not None else school_id,
        count=len(letters),
        guardian_ids=[letter.guardian_id for letter in letters],
    )
    return pdf, len(letters)
