"""Rendering one notice per channel and language (hub/messaging/rendering.py, templates/messages, hub/locale)."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from channels.letter import Letter, LetterRecipient, LetterSchool
from hub.enums import Channel, Language, QuestionKind, Urgency
from hub.messaging import rendering
from hub.messaging.rendering import NoticeView, QuestionView, SlipView, render, render_letter, render_sms
from hub.messaging.sms_segments import count_segments

LINK = "https://carnet.example.be/n/AbCdEf1234567890"
ELECTRONIC = [Channel.EMAIL, Channel.PORTAL, Channel.SMS, Channel.WEBPUSH, Channel.FCM, Channel.TELEGRAM]
READ_AND_REPLY = {"fr": "Lire et répondre", "nl": "Lezen en antwoorden", "en": "Read and reply"}
GREETING = {"fr": "Bonjour Sophie Dupont,", "nl": "Beste Sophie Dupont,", "en": "Dear Sophie Dupont,"}
#: 30 November 2026 11:00 UTC is 12:00 in Brussels (CET, UTC+1).
DEADLINE = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
DEADLINE_TEXT = {
    "fr": "lundi 30 novembre 2026 à 12:00",
    "nl": "maandag 30 november 2026 om 12:00",
    "en": "Monday, 30 November 2026 at 12:00",
}


def view(language: str | Language = "fr", **changes: object) -> NoticeView:
    values: dict[str, object] = {
        "language": language,
        "school_name": "Athénée Royal d'Uccle",
        "guardian_name": "Sophie Dupont",
        "subject": "Sortie au musée jeudi",
        "body": "Chers parents,\n\nLa classe de 3B visite le musée des Sciences naturelles.\nRetour vers 16 h.",
        "urgency": Urgency.NORMAL,
        "pupils": ["Emma", "Lucas"],
        "link": LINK,
        "short_code": "K7P-4QX",
        "sender_name": "Mme Martin",
        "reply_to": "secretariat@aru.example.be",
        "needs_acknowledgement": True,
        "slip": SlipView(
            DEADLINE,
            [
                QuestionView(1, QuestionKind.YES_NO, "Emma participe-t-elle ?"),
                QuestionView(2, QuestionKind.ONE_CHOICE, "Repas", ["Tartines", "Repas chaud"]),
            ],
        ),
    }
    values.update(changes)
    return NoticeView(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ languages


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_email_speaks_the_guardians_language(language: str) -> None:
    rendered = render(view(language), Channel.EMAIL)
    assert rendered.language == language
    for part in (rendered.text, rendered.html):
        assert READ_AND_REPLY[language] in part
        assert GREETING[language] in part
        assert LINK in part
        assert "K7P-4QX" in part
    others = [words for lang, words in READ_AND_REPLY.items() if lang != language]
    assert not any(words in rendered.text for words in others)
    assert rendered.reply_to == "secretariat@aru.example.be"


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
@pytest.mark.parametrize("channel", ELECTRONIC)
def test_every_channel_carries_the_personal_link(language: str, channel: Channel) -> None:
    rendered = render(view(language), channel)
    assert rendered.link == LINK
    assert rendered.language == language
    if channel in (Channel.EMAIL, Channel.PORTAL, Channel.SMS, Channel.TELEGRAM):
        assert LINK in rendered.text + rendered.html


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_guardian_name_in_email_and_telegram(language: str) -> None:
    for channel in (Channel.EMAIL, Channel.TELEGRAM):
        assert "Sophie Dupont" in render(view(language), channel).text


def test_portal_is_the_email_html() -> None:
    assert render(view(), Channel.PORTAL).html == render(view(), Channel.EMAIL).html


@pytest.mark.parametrize("language", ["de", "xx", "", Language.DE])
def test_unknown_language_falls_back_to_french(language: str) -> None:
    rendered = render(view(language), Channel.EMAIL)
    assert rendered.language == "fr"
    assert "Lire et répondre" in rendered.html
    assert "Bonjour Sophie Dupont," in rendered.text


def test_language_enum_is_accepted() -> None:
    assert render(view(Language.NL), Channel.EMAIL).language == "nl"


def test_pupils_concerned_singular_and_plural() -> None:
    assert "Élèves concernés : Emma et Lucas" in render(view("fr"), Channel.EMAIL).text
    assert "Élève concerné : Emma" in render(view("fr", pupils=["Emma"]), Channel.EMAIL).text
    assert "Betrokken leerlingen: Emma en Lucas" in render(view("nl"), Channel.EMAIL).text
    assert "Pupil concerned: Emma" in render(view("en", pupils=["Emma"]), Channel.EMAIL).text


def test_footer_names_the_school_and_the_right_to_disconnect() -> None:
    text = render(view("fr"), Channel.EMAIL).text
    assert "Ce message vous a été envoyé par Athénée Royal d'Uccle." in text
    assert "déconnexion" in text
    assert "deconnectie" in render(view("nl"), Channel.EMAIL).text
    assert "right to disconnect" in render(view("en"), Channel.EMAIL).text


def test_acknowledgement_request_only_when_asked() -> None:
    asked = "Merci de confirmer que vous avez lu ce message."
    assert asked in render(view(), Channel.EMAIL).text
    assert asked not in render(view(needs_acknowledgement=False), Channel.EMAIL).text


# ------------------------------------------------------------------------------------------------- deadline


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_deadline_in_brussels_time_in_each_language(language: str) -> None:
    assert rendering.deadline_text(DEADLINE, language) == DEADLINE_TEXT[language]
    email = render(view(language), Channel.EMAIL)
    assert DEADLINE_TEXT[language] in email.text
    assert DEADLINE_TEXT[language] in email.html
    assert DEADLINE_TEXT[language] in render(view(language), Channel.TELEGRAM).text


def test_deadline_in_summer_time_and_at_midnight() -> None:
    # 1 July 2026 21:59 UTC is 23:59 in Brussels (CEST, UTC+2); 22:00 UTC is midnight: no hour shown.
    assert rendering.deadline_text(datetime(2026, 7, 1, 21, 59, tzinfo=UTC), "fr") == "mercredi 1 juillet 2026 à 23:59"
    assert rendering.deadline_text(datetime(2026, 7, 1, 22, 0, tzinfo=UTC), "nl") == "donderdag 2 juli 2026"


# --------------------------------------------------------------------------------------------------- escaping


def test_html_escapes_a_script_in_the_body() -> None:
    hostile = view(body="Bonjour <script>alert('x')</script> & merci", subject="<b>Sortie</b>")
    for channel in (Channel.EMAIL, Channel.PORTAL, Channel.TELEGRAM):
        markup = render(hostile, channel).html
        assert "<script>" not in markup
        assert "&lt;script&gt;" in markup
        assert "<b>Sortie</b>" not in markup
        assert "&amp; merci" in markup


def test_email_text_part_has_no_html_tags() -> None:
    text = render(view(), Channel.EMAIL).text
    assert not re.search(r"</?[a-zA-Z][^>]*>", text)
    assert "&amp;" not in text
    assert "La classe de 3B visite le musée des Sciences naturelles.\nRetour vers 16 h." in text


def test_email_body_paragraphs_and_line_breaks() -> None:
    markup = render(view(), Channel.EMAIL).html
    assert "<p>Chers parents,</p>" in markup
    assert "naturelles.<br>Retour vers 16 h.</p>" in markup


# -------------------------------------------------------------------------------------------------------- SMS


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_sms_typical_subject_fits_two_segments(language: str) -> None:
    rendered, segments = render_sms(view(language))
    assert rendered.text.startswith("[Athénée Royal d'Uccle] Sortie au musée jeudi")
    assert rendered.text.endswith(LINK)
    assert segments == count_segments(rendered.text)
    assert segments.segments <= 2
    assert segments.encoding == "GSM-7"
    assert render(view(language), Channel.SMS).text == rendered.text


def test_sms_fixed_words_are_gsm_friendly() -> None:
    text = render(view("fr"), Channel.SMS).text
    assert "–" not in text
    assert "ouvrir :" in text


def test_sms_long_subject_is_shortened_never_the_link() -> None:
    subject = "Réunion importante des parents concernant " + "l'organisation du voyage scolaire " * 10
    rendered, segments = render_sms(view(subject=subject))
    assert segments.segments <= 2
    assert rendered.text.endswith(LINK)
    assert "..." in rendered.text
    assert rendered.text.startswith("[Athénée Royal d'Uccle] Réunion importante")
    assert len(rendered.text) < len(subject)


def test_sms_a_link_too_long_for_two_segments_is_kept_whole() -> None:
    link = "https://carnet.example.be/n/" + "x" * 400
    rendered, segments = render_sms(view(link=link))
    assert rendered.text.endswith(link)
    assert segments.segments > 2  # the link wins over the budget


def test_sms_urgent_is_said() -> None:
    assert "URGENT" in render(view(urgency=Urgency.URGENT), Channel.SMS).text
    assert "DRINGEND" in render(view("nl", urgency=Urgency.URGENT), Channel.SMS).text


# ------------------------------------------------------------------------------------------------------- push


@pytest.mark.parametrize("channel", [Channel.WEBPUSH, Channel.FCM])
@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_push_title_and_body_are_bounded(channel: Channel, language: str) -> None:
    long_view = view(language, subject="Très long sujet " * 20, body="Un texte vraiment très long. " * 50)
    rendered = render(long_view, channel)
    assert len(rendered.subject) <= rendering.PUSH_TITLE_MAX
    assert len(rendered.text) <= rendering.PUSH_BODY_MAX
    assert rendered.subject.endswith("…")
    assert rendered.text.endswith("…")
    assert rendered.link == LINK
    short = render(view(language), channel)
    assert short.subject == "Sortie au musée jeudi"
    assert "Emma" in short.text


def test_push_title_says_urgent() -> None:
    assert render(view("en", urgency=Urgency.EMERGENCY), Channel.FCM).subject == "Emergency: Sortie au musée jeudi"
    assert render(view("fr", urgency=Urgency.URGENT), Channel.WEBPUSH).subject == "Urgent : Sortie au musée jeudi"


# --------------------------------------------------------------------------------------------------- Telegram


def test_telegram_buttons_for_ack_and_questions() -> None:
    rendered = render(view("fr"), Channel.TELEGRAM)
    assert [(b.label, b.action) for b in rendered.buttons] == [
        ("J’ai lu", "ack"),
        ("1. Oui", "answer:1:yes"),
        ("1. Non", "answer:1:no"),
        ("2. Tartines", "answer:2:0"),
        ("2. Repas chaud", "answer:2:1"),
    ]
    english = render(view("en"), Channel.TELEGRAM)
    assert [b.label for b in english.buttons][:3] == ["I have read it", "1. Yes", "1. No"]


def test_telegram_without_ack_nor_slip_has_no_buttons() -> None:
    assert render(view(needs_acknowledgement=False, slip=None), Channel.TELEGRAM).buttons == ()


def test_telegram_free_text_question_has_no_button() -> None:
    slip = SlipView(DEADLINE, [QuestionView(1, QuestionKind.FREE_TEXT, "Remarques")])
    assert render(view(needs_acknowledgement=False, slip=slip), Channel.TELEGRAM).buttons == ()


def test_telegram_html_uses_only_telegram_tags() -> None:
    rendered = render(view("nl"), Channel.TELEGRAM)
    tags = set(re.findall(r"</?([a-zA-Z]+)", rendered.html))
    assert tags <= {"b", "i", "a"}
    assert rendered.html.startswith("<b>Sortie au musée jeudi</b>")
    assert f'<a href="{LINK}">Lezen en antwoorden</a>' in rendered.html
    assert "<" not in rendered.text
    assert f"Lezen en antwoorden: {LINK}" in rendered.text


def test_telegram_very_long_body_stays_within_the_limit() -> None:
    rendered = render(view(body="mot " * 3000), Channel.TELEGRAM)
    assert len(rendered.text) <= rendering.TELEGRAM_MAX_TEXT
    assert LINK in rendered.html


def test_letter_is_not_rendered_here() -> None:
    with pytest.raises(ValueError):
        render(view(), Channel.LETTER)


# ----------------------------------------------------------------------------------------------------- letter


def test_render_letter_maps_the_same_words() -> None:
    school = LetterSchool("Athénée Royal d'Uccle", ("Rue de l’École 12", "1180 Uccle"))
    recipient = LetterRecipient("Madame Sophie Dupont", ("Avenue Brugmann 1", "1180 Uccle"))
    letter = render_letter(
        view("nl", urgency=Urgency.URGENT), school=school, recipient=recipient, day=date(2026, 11, 23)
    )
    assert isinstance(letter, Letter)
    assert letter.language == "nl"
    assert letter.subject == render(view("nl", urgency=Urgency.URGENT), Channel.EMAIL).subject
    assert letter.body == view().body
    assert list(letter.pupils) == ["Emma", "Lucas"]
    assert letter.link == LINK
    assert letter.short_code == "K7P-4QX"
    assert letter.needs_acknowledgement
    assert letter.slip is not None
    assert letter.slip.deadline == DEADLINE
    assert [(q.position, q.kind, q.text, list(q.choices)) for q in letter.slip.questions] == [
        (1, QuestionKind.YES_NO, "Emma participe-t-elle ?", []),
        (2, QuestionKind.ONE_CHOICE, "Repas", ["Tartines", "Repas chaud"]),
    ]
    assert render_letter(view("de", slip=None), school=school, recipient=recipient).language == "fr"


# ----------------------------------------------------------------------------------------------- catalogues


def _used_msgids() -> set[str | tuple[str, ...]]:
    msgids: set[str | tuple[str, ...]] = set()
    for template in sorted(rendering.TEMPLATES.glob("*.j2")):
        with template.open("rb") as fileobj:
            for _lineno, _func, message, _comments in babel_extract(
                fileobj, ["_", "gettext", "ngettext"], [], {"extensions": "jinja2.ext.i18n"}
            ):
                msgids.add(message if isinstance(message, str) else tuple(m for m in message if m))
    with open(rendering.__file__, "rb") as fileobj:
        for _lineno, message, _comments, _context in extract("python", fileobj):
            msgids.add(message if isinstance(message, str) else tuple(message))
    return msgids


def test_templates_and_code_use_msgids() -> None:
    msgids = _used_msgids()
    assert "Read and reply" in msgids
    assert "%(date)s at %(time)s" in msgids
    assert ("Pupil concerned: %(names)s", "Pupils concerned: %(names)s") in msgids


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_every_msgid_used_is_translated(language: str) -> None:
    path = rendering.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fileobj:
        catalog = read_po(io.BytesIO(fileobj.read()))
    for msgid in _used_msgids():
        key = msgid if isinstance(msgid, str) else msgid[0]
        message = catalog.get(key)
        assert message is not None, f"{language}: {msgid!r} missing"
        assert not message.fuzzy, f"{language}: {msgid!r} is fuzzy"
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: {msgid!r} has an empty msgstr"
        if "%(" in key:
            wanted = set(re.findall(r"%\((\w+)\)s", key))
            assert all(set(re.findall(r"%\((\w+)\)s", s)) == wanted for s in strings), f"{language}: {msgid!r}"


def test_translations_are_compiled_in_memory_and_cached() -> None:
    assert rendering.translations("nl") is rendering.translations("nl")
    assert rendering.translations("nl").gettext("Read and reply") == "Lezen en antwoorden"
    assert rendering.translations("de").gettext("Read and reply") == "Lire et répondre"
    assert not list(rendering.LOCALE_DIR.rglob("*.mo"))
