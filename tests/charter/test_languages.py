"""The charter in French, Dutch and English from the one file: the rules are written once, the text per language;
every language's page and PDF state the same hours and the same days off, read from those rules, with the
school's own name, address and data-protection officer (never a placeholder)."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pypdf
import pytest

from charter import DEFAULT_CHARTER_PATH, CharterError, default_charter, parse_charter
from charter.document import SchoolDetails, render_html, render_pdf, render_to

TODAY = date(2026, 12, 1)
SCHOOL = SchoolDetails("Athénée royal de Namur-Bomel", "Rue des Écoliers 12, 5000 Namur", "Claire Dubois, dpo@x.be")
TITLES = {
    "fr": "Charte d’utilisation des outils de communication entre l’école et les familles",
    "nl": "Charter voor het gebruik van de communicatiemiddelen tussen de school en de gezinnen",
    "en": "Charter for the use of communication tools between the school and families",
}
_DAYS_OFF = re.compile(r'<time datetime="(\d{4}-\d{2}-\d{2})">')
_HOURS = re.compile(r"<td>([^<]*)</td>")


def _times(text: str) -> list[str]:
    return re.findall(r"\d{2}:\d{2}", text)


def test_the_file_holds_the_three_languages_with_the_same_sections() -> None:
    charter = default_charter()
    assert charter.languages == ("fr", "nl", "en")
    sizes = {lang: len(charter.document_in(lang).sections) for lang in charter.languages}
    assert len(set(sizes.values())) == 1 and sizes["fr"] >= 8
    assert charter.document_in("de") is charter.document  # a language it is not written in: its own
    assert "nom à compléter" not in DEFAULT_CHARTER_PATH.read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_each_language_states_the_same_rules_from_the_one_file(lang: str) -> None:
    charter = default_charter()
    french = render_html(charter, TODAY, "fr", SCHOOL)
    page = render_html(charter, TODAY, lang, SCHOOL)
    assert f'<html lang="{lang}">' in page and f"<h1>{TITLES[lang]}</h1>" in page
    # the hours (the same windows in the same cells) and the days off (the same dates) as the French
    assert [_times(cell) for cell in _HOURS.findall(page)] == [_times(cell) for cell in _HOURS.findall(french)]
    assert _DAYS_OFF.findall(page) == _DAYS_OFF.findall(french) != []
    # the school's own details, never the file's fallback nor a placeholder
    assert SCHOOL.name in page and SCHOOL.address in page and SCHOOL.dpo in page
    assert "{dpo}" not in page and "compléter" not in page and charter.name not in page


@pytest.mark.parametrize("lang", ["fr", "nl", "en"])
def test_each_languages_pdf_says_what_its_page_says(lang: str) -> None:
    charter = default_charter()
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(charter, TODAY, lang, SCHOOL)))
    text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
    assert TITLES[lang][:40] in text and SCHOOL.name in text and "dpo@x.be" in text
    french = charter.document_in("fr").sections[0].title
    assert (french in text) == (lang == "fr")
    for section in charter.document_in(lang).sections:
        assert " ".join(section.title.split())[:25] in text
    assert text.count("07:30") == " ".join(
        " ".join((p.extract_text() or "").split())
        for p in pypdf.PdfReader(io.BytesIO(render_pdf(charter, TODAY, "fr", SCHOOL))).pages
    ).count("07:30")


def test_render_to_writes_every_language(tmp_path: Path) -> None:
    written = {p.name for p in render_to(default_charter(), tmp_path, TODAY, SCHOOL, every_language=True)}
    assert written == {
        "charte.html",
        "charte.pdf",
        "charte.nl.html",
        "charte.nl.pdf",
        "charte.en.html",
        "charte.en.pdf",
    }


def test_a_translation_must_follow_the_document() -> None:
    text = DEFAULT_CHARTER_PATH.read_text(encoding="utf-8")
    missing_one = text.replace('[[document.en.sections]]\ntitle = "Adoption and review"', "[[document.x]]", 1)
    with pytest.raises(CharterError) as error:
        parse_charter(missing_one.replace("[[document.x]]", "[document.de]\ntitle = 'x'", 1))
    assert "document.de" in str(error.value)
    cut = text[: text.index('[[document.en.sections]]\ntitle = "Adoption and review"')]
    with pytest.raises(CharterError) as error:
        parse_charter(cut)
    assert "document.en.sections" in str(error.value)
