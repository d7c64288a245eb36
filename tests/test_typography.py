"""Each language's typography by one helper (hub/typography.py): French elision before a vowel or a mute h, the
narrow no-break space before high punctuation, Dutch and English without it, a space after a sentence's full
stop, plurals; and the pages' catalogues come out through it."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from hub.typography import NNBSP, elide, fix, mark, needs_elision, of, plural
from hub.web.kit import _typo, page_translations


@pytest.mark.parametrize(
    ("article", "word", "expected"),
    [
        ("de", "Anne-Sophie", "d’Anne-Sophie"),
        ("de", "Élodie", "d’Élodie"),
        ("de", "Hélène", "d’Hélène"),  # a mute h
        ("le", "hibou", "le hibou"),  # an aspirated h
        ("de", "Hollande", "de Hollande"),
        ("de", "Yasmine", "de Yasmine"),  # a y before a vowel is a consonant
        ("de", "Yves", "d’Yves"),
        ("ne", "y", "n’y"),
        ("que", "il", "qu’il"),
        ("la", "école", "l’école"),
        ("Le", "Atelier", "L’Atelier"),
        ("de", "Marc", "de Marc"),
        ("pour", "Anne", "pour Anne"),  # not a word that elides
    ],
)
def test_french_elision(article: str, word: str, expected: str) -> None:
    assert elide(article, word) == expected


def test_a_mark_after_a_link() -> None:
    assert mark(":", "fr") == f"{NNBSP}:" and mark(";", "fr") == f"{NNBSP};" and mark(",", "fr") == ","
    assert mark(":", "nl") == ":" and mark("?", "en") == "?"


def test_of_a_name_in_each_language() -> None:
    assert of("Anne-Sophie", "fr") == "d’Anne-Sophie" and of("Marc", "fr") == "de Marc"
    assert of("Anne-Sophie", "nl") == "Anne-Sophie" and of("Anne-Sophie", "en") == "Anne-Sophie"
    assert not needs_elision("") and needs_elision("Ibrahim") and not needs_elision("Zoé")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lire et répondre: https://x.be/n/abc?lang=fr", f"Lire et répondre{NNBSP}: https://x.be/n/abc?lang=fr"),
        ("Lire et répondre : {url}", f"Lire et répondre{NNBSP}: {{url}}"),
        ("Vraiment ?! Oui; merci !", f"Vraiment{NNBSP}?! Oui{NNBSP}; merci{NNBSP}!"),
        ("Fermé à 17:30.Le personnel répond lundi.", "Fermé à 17:30. Le personnel répond lundi."),
        ("«Bonjour»", f"«{NNBSP}Bonjour{NNBSP}»"),
        ("Ouvrir le portail de Anne-Sophie", "Ouvrir le portail d’Anne-Sophie"),
        ("Tom &amp; Léa", "Tom &amp; Léa"),  # a character reference is not a semicolon
        ("Voir /portal?pupil=3 à 9:15", "Voir /portal?pupil=3 à 9:15"),  # an address and a time stay as they are
        ("Écrire à ecole@example.be.Merci", "Écrire à ecole@example.be.Merci"),
        ("Le montant est de 12.50 €.", "Le montant est de 12.50 €."),
    ],
)
def test_french_spacing(text: str, expected: str) -> None:
    assert fix(text, "fr") == expected
    assert fix(expected, "fr") == expected  # idempotent


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Read and answer : now", "Read and answer: now"),
        ("en", f"Really{NNBSP}?", "Really?"),
        ("en", "Closed at 17:30.The staff reads on Monday.", "Closed at 17:30. The staff reads on Monday."),
        ("en", "Open the portal of Anne-Sophie", "Open the portal of Anne-Sophie"),  # no French elision
        ("nl", "Lezen en antwoorden : {url}", "Lezen en antwoorden: {url}"),
        ("nl", "Gesloten om 17:30.Het personeel leest maandag.", "Gesloten om 17:30. Het personeel leest maandag."),
        ("nl", "de Anne", "de Anne"),
    ],
)
def test_dutch_and_english_spacing(lang: str, text: str, expected: str) -> None:
    assert fix(text, lang) == expected
    assert fix(expected, lang) == expected


@pytest.mark.parametrize(
    ("lang", "count", "expected"),
    [
        ("fr", 0, "message"),
        ("fr", 1, "message"),
        ("fr", 2, "messages"),
        ("nl", 0, "berichten"),
        ("nl", 1, "bericht"),
        ("nl", 2, "berichten"),
        ("en", 0, "messages"),
        ("en", 1, "message"),
    ],
)
def test_plurals(lang: str, count: int, expected: str) -> None:
    one, many = {"fr": ("message", "messages"), "nl": ("bericht", "berichten"), "en": ("message", "messages")}[lang]
    assert plural(count, one, many, lang) == expected


def test_the_page_catalogues_come_out_through_the_helper() -> None:
    fr = page_translations("fr")
    said = [text for key, text in fr._catalog.items() if key and isinstance(text, str)]
    assert any(f"{NNBSP}:" in text for text in said)
    glued = [text for text in said if " :" in text or " ?" in text or " ;" in text or " !" in text]
    assert not glued, glued[:5]
    nl = page_translations("nl")
    assert not [t for k, t in nl._catalog.items() if k and isinstance(t, str) and (NNBSP in t or " :" in t)]
    # French plural rule in the merged catalogue: 0 and 1 singular.
    assert fr.ngettext("%(num)s pupil found", "%(num)s pupils found", 0) == "%(num)s élève trouvé"
    assert fr.ngettext("%(num)s pupil found", "%(num)s pupils found", 2) == "%(num)s élèves trouvés"


def test_the_pages_filter_keeps_markup_as_markup() -> None:
    escaped = Markup("Ouvrir le portail de {}").format("Anne-Sophie O'Neil")
    out = _typo(escaped, lang="fr")
    assert isinstance(out, Markup) and out == Markup("Ouvrir le portail d’Anne-Sophie O&#39;Neil")
    assert _typo("Ouvrir le portail de Anne", lang="fr") == "Ouvrir le portail d’Anne"
