"""Render one notice for one channel, in the guardian's language, from plain values (no database).

The caller reads the notice, the message, the guardian and the pupils and builds a :class:`NoticeView`;
:func:`render` turns it into the :class:`~channels.base.Rendered` an adapter sends, and :func:`render_letter`
into the :class:`~channels.letter.Letter` the print batch takes, with the same subject, body, pupils and link.

* One Jinja2 template per channel under ``templates/messages/<channel>.<ext>.j2``; the language comes from
  the translations, never from a second template. ``*.html.j2`` templates autoescape.
* Interface words come from the Babel catalogues ``hub/locale/<lang>/LC_MESSAGES/messages.po`` (msgids in
  English), read at run time without a compile step: ``read_po`` then ``write_mo`` into memory. One Jinja
  environment per language, cached. A language without a catalogue (German for now) falls back to French.
* Dates are formatted by Babel for the language (Belgian variants) in the school's time zone.

Channel notes:

* EMAIL: ``html`` and ``text`` parts; PORTAL: the same HTML.
* SMS: ``[School] Subject - open: <link>``, the fixed words rewritten GSM-7 friendly; the subject (then the
  school name) is shortened to stay within :data:`SMS_MAX_SEGMENTS`, the link never. :func:`render_sms` also
  returns the :class:`~hub.messaging.sms_segments.SegmentCount`.
* WEBPUSH / FCM: ``subject`` is the title (at most :data:`PUSH_TITLE_MAX`), ``text`` the body (at most
  :data:`PUSH_BODY_MAX`).
* TELEGRAM: ``html`` is the whole message for ``parse_mode="HTML"`` (``<b>``, ``<i>``, ``<a>``, everything
  else escaped); ``text`` is the same message as plain text (what the current adapter escapes itself);
  ``buttons`` carry ``ack`` and ``answer:<position>:yes|no|<index>`` (index from 0 in the choices).

``idempotency_key`` is left empty: the caller knows the delivery and sets it (``dataclasses.replace``).
"""

from __future__ import annotations

import html as html_lib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from channels.base import Button, Rendered
from channels.letter import Letter, LetterQuestion, LetterRecipient, LetterSchool, LetterSlip
from hub import clock, config
from hub.enums import Channel, QuestionKind, Urgency
from hub.messaging.calendar import slip_event
from hub.messaging.sms_segments import SegmentCount, count_segments, gsm_friendly

__all__ = [
    "LANGUAGES",
    "PUSH_BODY_MAX",
    "PUSH_TITLE_MAX",
    "SMS_MAX_SEGMENTS",
    "NoticeView",
    "QuestionView",
    "SlipView",
    "deadline_text",
    "language_note",
    "language_of",
    "render",
    "render_letter",
    "render_sms",
    "translations",
]

TEMPLATES = config.TEMPLATES / "messages"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

#: Languages with a catalogue; anything else is rendered in the first one.
LANGUAGES = ("fr", "nl", "en")
DEFAULT_LANGUAGE = "fr"
#: The Babel locale each language is formatted in (Belgian usage; British English).
_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB"}

SMS_MAX_SEGMENTS = 2
PUSH_TITLE_MAX = 60
PUSH_BODY_MAX = 120
TELEGRAM_MAX_TEXT = 4096
_ELLIPSIS = "…"
_SMS_ELLIPSIS = "..."  #: "…" is 3 septets in GSM-7 and forces nothing cheaper

# ------------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class QuestionView:
    position: int
    kind: QuestionKind
    text: str
    choices: Sequence[str] = ()
    #: An amount priced per unit: the answer is a count (see ``hub.slips``).
    unit_price_cents: int | None = None


@dataclass(frozen=True)
class SlipView:
    deadline: datetime  #: aware
    questions: Sequence[QuestionView] = ()
    needs_signature: bool = False


@dataclass(frozen=True)
class NoticeView:
    language: str
    school_name: str
    guardian_name: str
    subject: str
    body: str  #: paragraphs separated by blank lines
    urgency: Urgency = Urgency.NORMAL
    pupils: Sequence[str] = ()
    link: str = ""  #: the guardian's personal link
    short_code: str = ""
    sender_name: str = ""
    reply_to: str = ""
    needs_acknowledgement: bool = False
    slip: SlipView | None = None
    timezone: str = "Europe/Brussels"
    #: The language the subject, body and questions are written in, when it is not the reader's (the message
    #: was not translated into theirs): a short note in their language says so.
    text_language: str = ""
    #: The text is a machine translation (reviewed by its author): the family is told.
    machine_translation: bool = False
    #: The one-click unsubscribe address of this notice's topic by email ("" when the topic cannot be stopped).
    unsubscribe: str = ""


# ------------------------------------------------------------------------------------------ translations


def language_of(language: object) -> str:
    """``fr``, ``nl`` or ``en``; anything else (German, ``None``, ``"xx"``) is French."""
    code = str(getattr(language, "value", language) or "").strip().lower().replace("-", "_")[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def translations(language: str) -> Translations:
    """The catalogue of ``language`` (French when there is none), compiled in memory: no ``.mo`` file on disk."""
    return _translations(language_of(language))


@cache
def _translations(lang: str) -> Translations:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=_LOCALES[lang])
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


@cache
def _environment(language: str) -> Environment:
    """One environment per language (already normalised by :func:`language_of`), its gettext installed."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def _render_template(name: str, language: str, **context: object) -> str:
    return _environment(language).get_template(name).render(**context).strip()


# ------------------------------------------------------------------------------------------------- words


def deadline_text(deadline: datetime, language: str, timezone: str = "Europe/Brussels") -> str:
    """``lundi 30 novembre 2026 à 12:00`` in the school's time zone; the hour only when it is not midnight."""
    lang = language_of(language)
    locale = _LOCALES[lang]
    if deadline.tzinfo is not None:
        deadline = deadline.astimezone(ZoneInfo(timezone))
    day = format_date(deadline.date(), format="full", locale=locale)
    if deadline.timetz().replace(tzinfo=None) == time(0, 0):
        return day
    hour = format_time(deadline.replace(tzinfo=None), format="short", locale=locale)
    return translations(lang).gettext("%(date)s at %(time)s") % {"date": day, "time": hour}


def language_note(reader: object, text_language: object = "", machine: bool = False) -> str:
    """The short note, in the reader's language, that a message is not in it, or is a machine translation."""
    lang = language_of(reader)
    t = translations(lang)
    if text_language and language_of(text_language) != lang:
        return t.gettext("This message was not translated into your language.")
    if machine:
        return t.gettext("This message was translated by a machine translation service, then reviewed by the school.")
    return ""


def _subject(view: NoticeView, lang: str) -> str:
    t = translations(lang)
    if view.urgency == Urgency.EMERGENCY:
        return t.gettext("Emergency: %(subject)s") % {"subject": view.subject}
    if view.urgency == Urgency.URGENT:
        return t.gettext("Urgent: %(subject)s") % {"subject": view.subject}
    return view.subject


def _pupils_line(view: NoticeView, lang: str) -> str:
    if not view.pupils:
        return ""
    names = format_list(list(view.pupils), locale=_LOCALES[lang])
    return translations(lang).ngettext(
        "Pupil concerned: %(names)s", "Pupils concerned: %(names)s", len(view.pupils)
    ) % {"names": names}


def _paragraphs(body: str) -> list[list[str]]:
    """Paragraphs (separated by blank lines) as lists of lines."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    blocks = re.split(r"\n\s*\n", text) if text else []
    return [[line.rstrip() for line in block.strip().split("\n")] for block in blocks if block.strip()]


def _shorten(text: str, limit: int, ellipsis: str = _ELLIPSIS) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary when one is close, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = max(0, limit - len(ellipsis))
    cut = text[:room]
    space = cut.rfind(" ")
    if space >= room * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–") + ellipsis if room else ""


def _question_summary(question: QuestionView, lang: str) -> str:
    t = translations(lang)
    if question.kind == QuestionKind.YES_NO:
        return f"{t.gettext('Yes')} / {t.gettext('No')}"
    if question.kind in (QuestionKind.ONE_CHOICE, QuestionKind.MANY_CHOICES):
        return " / ".join(question.choices)
    return ""


def _context(view: NoticeView, lang: str) -> dict[str, object]:
    slip = view.slip
    return {
        "lang": lang,
        "note": language_note(lang, view.text_language, view.machine_translation),
        "text_lang": language_of(view.text_language) if view.text_language else lang,
        "school": view.school_name,
        "guardian": view.guardian_name,
        "subject": _subject(view, lang),
        "paragraphs": _paragraphs(view.body),
        "pupils_line": _pupils_line(view, lang),
        "link": view.link,
        "short_code": view.short_code,
        "sender": view.sender_name,
        "needs_ack": view.needs_acknowledgement,
        "urgent": view.urgency != Urgency.NORMAL,
        "slip": slip,
        "deadline": deadline_text(slip.deadline, lang, view.timezone) if slip else "",
        "questions": [
            {"position": q.position, "text": q.text, "options": _question_summary(q, lang)}
            for q in (slip.questions if slip else ())
        ],
    }


# ------------------------------------------------------------------------------------------------ render


def _email(view: NoticeView, lang: str) -> Rendered:
    ctx = _context(view, lang)
    return Rendered(
        language=lang,
        subject=str(ctx["subject"]),
        text=_render_template("email.txt.j2", lang, **ctx) + "\n",
        html=_render_template("email.html.j2", lang, **ctx) + "\n",
        link=view.link,
        reply_to=view.reply_to,
        unsubscribe=view.unsubscribe,
        calendar=_slip_calendar(view, lang),
    )


def _slip_calendar(view: NoticeView, lang: str) -> str:
    """The slip's deadline as an iCalendar event for the email (none without a slip)."""
    if view.slip is None:
        return ""
    return slip_event(
        subject=view.subject,
        deadline=view.slip.deadline,
        link=view.link,
        language=lang,
        now=clock.now(),
        key=f"{view.link}|{view.slip.deadline.isoformat()}",
    )


def render_sms(view: NoticeView) -> tuple[Rendered, SegmentCount]:
    """The SMS and what it costs: within :data:`SMS_MAX_SEGMENTS` whenever the link itself allows it.

    The fixed words are made GSM-7 friendly (a French "é" stays, "’" and "–" do not); the author's subject is
    kept as written but shortened first, then the school name; the link is never cut.
    """
    lang = language_of(view.language)
    t = translations(lang)
    prefix = ""
    if view.urgency == Urgency.EMERGENCY:
        prefix = t.gettext("EMERGENCY") + " "
    elif view.urgency == Urgency.URGENT:
        prefix = t.gettext("URGENT") + " "

    def build(school: str, subject: str) -> str:
        text = _render_template("sms.txt.j2", lang, school=school, prefix=prefix, subject=subject, link="\x03")
        return " ".join(text.split())

    def fits(text: str) -> bool:
        return count_segments(text).segments <= SMS_MAX_SEGMENTS

    def fixed(school: str, subject: str) -> str:
        # Render with markers, make everything but the author's words GSM-7 friendly.
        skeleton = gsm_friendly(build("\x01", "\x02" if subject else ""))
        return skeleton.replace("\x01", school).replace("\x02", subject).replace("\x03", view.link)

    school = " ".join(view.school_name.split())
    subject = " ".join(view.subject.split())
    text = fixed(school, subject)
    if not fits(text):
        text = _fit(lambda n: fixed(school, _shorten(subject, n, _SMS_ELLIPSIS)), len(subject), fits)
    if not fits(text):
        text = _fit(lambda n: fixed(_shorten(school, n, _SMS_ELLIPSIS), ""), len(school), fits)
    rendered = Rendered(language=lang, subject=view.subject, text=text, link=view.link, reply_to=view.reply_to)
    return rendered, count_segments(text)


def _fit(make: Callable[[int], str], longest: int, fits: Callable[[str], bool]) -> str:
    """``make(n)`` for the largest ``n <= longest`` that fits (``make(0)`` if none does)."""
    low, high = 0, longest
    while low < high:
        middle = (low + high + 1) // 2
        if fits(make(middle)):
            low = middle
        else:
            high = middle - 1
    return make(low)


def _push(view: NoticeView, lang: str) -> Rendered:
    ctx = _context(view, lang)
    title = _shorten(str(ctx["subject"]), PUSH_TITLE_MAX)
    body = _shorten(_render_template("push.txt.j2", lang, **ctx), PUSH_BODY_MAX)
    return Rendered(language=lang, subject=title, text=body, link=view.link, reply_to=view.reply_to)


_TAG = re.compile(r"<[^>]*>")
_ANCHOR = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)


def _telegram_plain(markup: str) -> str:
    """The Telegram HTML as plain text: tags dropped, a link shown as ``label: url``, entities decoded."""
    return html_lib.unescape(_TAG.sub("", _ANCHOR.sub(r"\2: \1", markup)))


def _telegram(view: NoticeView, lang: str) -> Rendered:
    t = translations(lang)
    ctx = _context(view, lang)
    body = _render_template("telegram.html.j2", lang, **ctx)
    if len(_telegram_plain(body)) > TELEGRAM_MAX_TEXT:
        over = len(_telegram_plain(body)) - TELEGRAM_MAX_TEXT
        text = "\n\n".join("\n".join(p) for p in _paragraphs(view.body))
        ctx["paragraphs"] = [[_shorten(text, max(0, len(text) - over - 1))]]
        body = _render_template("telegram.html.j2", lang, **ctx)
    plain = _telegram_plain(body)
    # The current adapter puts the subject in bold itself: the plain text starts after the title line.
    plain_text = plain.split("\n", 1)[1].strip() if "\n" in plain else plain
    buttons: list[Button] = []
    if view.needs_acknowledgement:
        buttons.append(Button(t.gettext("I have read it"), "ack"))
    for question in view.slip.questions if view.slip else ():
        if question.kind == QuestionKind.YES_NO:
            buttons.append(Button(f"{question.position}. {t.gettext('Yes')}", f"answer:{question.position}:yes"))
            buttons.append(Button(f"{question.position}. {t.gettext('No')}", f"answer:{question.position}:no"))
        elif question.kind == QuestionKind.ONE_CHOICE:
            buttons.extend(
                Button(_shorten(f"{question.position}. {choice}", 64), f"answer:{question.position}:{index}")
                for index, choice in enumerate(question.choices)
            )
    return Rendered(
        language=lang,
        subject=str(ctx["subject"]),
        text=plain_text,
        html=body,
        link=view.link,
        buttons=tuple(buttons),
        reply_to=view.reply_to,
    )


def render(view: NoticeView, channel: Channel | str) -> Rendered:
    """``view`` rendered for ``channel`` in the guardian's language (French when it has no catalogue)."""
    channel = Channel(channel)
    lang = language_of(view.language)
    if channel in (Channel.EMAIL, Channel.PORTAL):
        return _email(view, lang)
    if channel == Channel.SMS:
        return render_sms(view)[0]
    if channel in (Channel.WEBPUSH, Channel.FCM):
        return _push(view, lang)
    if channel == Channel.TELEGRAM:
        return _telegram(view, lang)
    raise ValueError(f"render: {channel} is printed, use render_letter")


def render_letter(
    view: NoticeView,
    *,
    school: LetterSchool,
    recipient: LetterRecipient,
    day: date | None = None,
    site: str = "",
    signers: Sequence[str] = (),
    every_guardian: bool = False,
) -> Letter:
    """The printed letter of ``view``: same subject, body, pupils, link and slip as the other channels.

    ``school`` and ``recipient`` carry the addresses; ``day`` is the letter's date (today in the school's
    time zone by default). The letter's own labels are in ``channels.letter``. ``signers``: the guardians of one
    household a single letter goes to (see ``hub.messaging.paper``); ``every_guardian``: each must sign.
    """
    lang = language_of(view.language)
    slip = None
    if view.slip is not None:
        slip = LetterSlip(
            deadline=view.slip.deadline,
            questions=tuple(
                LetterQuestion(q.position, q.kind, q.text, tuple(q.choices), q.unit_price_cents)
                for q in view.slip.questions
            ),
            needs_signature=view.slip.needs_signature,
            pupils=tuple(view.pupils),
        )
    return Letter(
        school=school,
        recipient=recipient,
        language=lang,
        date=day or clock.now().astimezone(ZoneInfo(view.timezone)).date(),
        subject=_subject(view, lang),
        body="\n\n".join(
            x for x in (language_note(lang, view.text_language, view.machine_translation), view.body) if x
        ),
        pupils=tuple(view.pupils),
        link=view.link,
        short_code=view.short_code,
        slip=slip,
        needs_acknowledgement=view.needs_acknowledgement,
        site=site,
        signers=tuple(signers),
        every_guardian=every_guardian,
    )
