"""The downloadable charter: the HTML and the PDF, and the part of them generated from the rules."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter import DEFAULT_CHARTER_PATH, Charter, Section, default_charter, parse_charter
from charter import document as doc
from charter.document import render_html, render_pdf, render_to

TODAY = date(2026, 11, 23)  # in the 2026-2027 school year


class _Collector(HTMLParser):
    """The text of the page, the rows of its tables, and its headings, with entities decoded."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.rows: list[list[str]] = []
        self.headings: list[tuple[str, str]] = []
        self.items: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._heading: tuple[str, list[str]] | None = None
        self._item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = (tag, [])
        elif tag == "li":
            self._item = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append((self._heading[0], " ".join("".join(self._heading[1]).split())))
            self._heading = None
        elif tag == "li" and self._item is not None:
            self.items.append(" ".join("".join(self._item).split()))
            self._item = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for open_part in (self._cell, self._heading[1] if self._heading else None, self._item):
            if open_part is not None:
                open_part.append(data)


def parse_html(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    return collector


def hours_table(html: str) -> dict[str, list[str]]:
    """Day → [ordinary, urgent, staff], read from the generated table of the page."""
    return {row[0]: row[1:] for row in parse_html(html).rows if len(row) == 4 and row[0] != "Jour"}


def charter_with(old: str, new: str) -> Charter:
    text = DEFAULT_CHARTER_PATH.read_text(encoding="utf-8")
    assert old in text, old
    return parse_charter(text.replace(old, new, 1), source="modified.toml")


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def squash(text: str) -> str:
    return " ".join(text.replace("’", "'").split())


# ----------------------------------------------------------------------------------------------- HTML


def test_html_is_accessible_and_carries_the_prose() -> None:
    charter = default_charter()
    html = render_html(charter, TODAY)
    page = parse_html(html)
    assert html.startswith("<!DOCTYPE html>")
    assert page.lang == "fr"
    assert ("h1", charter.document.title) in page.headings
    for section in charter.document.sections:
        assert ("h2", section.title) in page.headings
    assert '<th scope="col">' in html and '<th scope="row">' in html and "<caption>" in html
    text = " ".join(" ".join(page.text).split())
    for required in ("26 mars 2018", "6967", "RGPD", "papier", "Parents séparés", "DPO", "hors de l’Union"):
        assert required in text, required
    assert "<strong>espace scolaire</strong>" in html  # **bold** of the Markdown-ish prose


def test_html_hours_table_matches_the_rules() -> None:
    table = hours_table(render_html(default_charter(), TODAY))
    assert table["Lundi"] == ["de 07:30 à 20:00", "de 07:00 à 21:00", "de 08:00 à 17:30"]
    assert table["Vendredi"] == ["de 07:30 à 20:00", "de 07:00 à 21:00", "de 08:00 à 17:30"]
    assert table["Samedi"] == ["aucun envoi", "de 07:00 à 21:00", "fermé"]
    assert table["Dimanche"] == ["aucun envoi", "de 07:00 à 21:00", "fermé"]
    assert table["Jours fériés et congés scolaires"] == ["aucun envoi", "de 09:00 à 18:00", "fermé"]


def test_changing_a_window_changes_the_document() -> None:
    before = render_html(default_charter(), TODAY)
    charter = charter_with('monday = ["07:30-20:00"]', 'monday = ["08:15-12:00", "21:30-01:00"]')
    after = render_html(charter, TODAY)
    assert before != after
    table = hours_table(after)
    assert table["Lundi"][0] == "de 08:15 à 12:00 et de 21:30 à 01:00 (le lendemain)"
    assert table["Mardi"][0] == "de 07:30 à 20:00"


def test_generated_limits_and_senders_follow_the_rules() -> None:
    default_items = parse_html(render_html(default_charter(), TODAY)).items
    assert any("au plus 3 messages ordinaires" in item for item in default_items)
    assert any("30 minutes" in item for item in default_items)
    assert "Peuvent envoyer un message urgent : la direction, le secrétariat et les administrateurs de Carnet." in (
        default_items
    )
    assert "Peuvent envoyer une alerte de sécurité : la direction et les administrateurs de Carnet." in default_items
    assert any("2 jours d’école" in item for item in default_items)

    charter = charter_with("max_non_urgent_per_day = 3", "max_non_urgent_per_day = 5")
    charter = dataclasses.replace(charter, urgent_senders=charter.emergency_senders, reply_expected_within_days=1)
    items = parse_html(render_html(charter, TODAY)).items
    assert any("au plus 5 messages ordinaires" in item for item in items)
    assert "Peuvent envoyer un message urgent : la direction et les administrateurs de Carnet." in items
    assert any("1 jour d’école " in item for item in items)


def test_holidays_of_the_current_school_year() -> None:
    page = parse_html(render_html(default_charter(), TODAY))
    assert ("h3", "Congés et jours fériés 2026-2027") in page.headings
    items = page.items
    assert "du lundi 19 octobre au vendredi 30 octobre 2026 : Congé d'automne (Toussaint)" in items
    assert "le mercredi 11 novembre 2026 : Jour de l'Armistice" in items
    assert "du lundi 21 décembre 2026 au vendredi 1er janvier 2027 : Vacances d'hiver" in items
    assert "le lundi 29 mars 2027 : Lundi de Pâques" in items
    assert "le lundi 17 mai 2027 : Lundi de Pentecôte" in items
    assert any(item.endswith(": Vacances d'été 2027") for item in items)
    # Public holidays on a weekend or inside the holidays say nothing to a family.
    assert not any("Noël" in item or "Pentecôte" == item.rsplit(": ", 1)[-1] for item in items)
    assert not any("Fête de la Fédération" in item for item in items)  # 27 September 2027 is next year
    next_year = parse_html(render_html(default_charter(), date(2027, 8, 10))).items
    assert any("Fête de la Fédération Wallonie-Bruxelles" in item for item in next_year)


def test_html_escapes_charter_text() -> None:
    charter = default_charter()
    hostile = dataclasses.replace(
        charter,
        name="<script>alert(1)</script>",
        document=dataclasses.replace(
            charter.document, sections=(Section("A & B", "x < y **<b>gras</b>**\n\n- <i>point</i>"),)
        ),
    )
    html = render_html(hostile, TODAY)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>&lt;b&gt;gras&lt;/b&gt;</strong>" in html
    assert "<li>&lt;i&gt;point&lt;/i&gt;</li>" in html


def test_markdown_ish_bodies() -> None:
    blocks = doc.parse_body("Un **deux** trois\nquatre.\n\n- a\n  suite\n- **b**\nfin\n\n\n")
    assert [block.kind for block in blocks] == ["p", "ul"]
    assert blocks[0].items[0] == (("Un ", False), ("deux", True), (" trois quatre.", False))
    assert blocks[1].items == ((("a suite", False),), (("b", True), (" fin", False)))


# ------------------------------------------------------------------------------------------------ PDF


def test_pdf_has_the_title_and_the_hours() -> None:
    charter = default_charter()
    data = render_pdf(charter, TODAY)
    assert data.startswith(b"%PDF")
    text = squash(pdf_text(data))
    assert squash(charter.document.title) in text
    assert "Horaires et calendrier 2026-2027" in text
    assert "de 07:30 à 20:00" in text
    assert "Jour de l'Armistice" in text
    assert pypdf.PdfReader(io.BytesIO(data)).metadata.title == charter.document.title  # type: ignore[union-attr]


def test_pdf_follows_a_changed_window() -> None:
    charter = charter_with('monday = ["07:30-20:00"]', 'monday = ["08:15-19:45"]')
    assert "de 08:15 à 19:45" in squash(pdf_text(render_pdf(charter, TODAY)))


def test_pdf_without_a_unicode_font_maps_french_typography(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doc, "find_unicode_fonts", lambda: None)
    data = render_pdf(default_charter(), TODAY)
    assert data.startswith(b"%PDF")
    text = squash(pdf_text(data))
    assert "Charte d'utilisation des outils de communication entre l'école et les familles" in text
    assert "de 07:30 à 20:00" in text


@pytest.mark.parametrize("unicode_font", [True, False])
@settings(max_examples=15, deadline=None)
@given(title=st.text(min_size=1, max_size=80), body=st.text(max_size=300))
def test_pdf_never_crashes_on_any_text(unicode_font: bool, title: str, body: str) -> None:
    charter = default_charter()
    odd = dataclasses.replace(
        charter,
        name=title,
        document=dataclasses.replace(
            charter.document,
            title=title,
            sections=(Section(title, body), Section("Liste", f"- {body}\n- **{title}**")),
        ),
    )
    fonts = doc.find_unicode_fonts() if unicode_font else None
    original = doc.find_unicode_fonts
    doc.find_unicode_fonts = lambda: fonts  # not monkeypatch: a function-scoped fixture and @given disagree
    try:
        assert render_pdf(odd, TODAY).startswith(b"%PDF")
        assert render_html(odd, TODAY).startswith("<!DOCTYPE html>")
    finally:
        doc.find_unicode_fonts = original


def test_render_to_writes_both_files(tmp_path: Path) -> None:
    paths = render_to(default_charter(), tmp_path / "public", TODAY)
    assert [path.name for path in paths] == ["charte.html", "charte.pdf"]
    html, pdf = paths
    assert re.search(r'<html lang="fr">', html.read_text(encoding="utf-8"))
    assert pdf.read_bytes().startswith(b"%PDF")


def test_pdf_is_reproducible() -> None:
    charter = default_charter()
    assert render_pdf(charter, TODAY) == render_pdf(charter, TODAY)


def test_package_re_exports_the_renderers_lazily() -> None:
    import charter

    assert charter.render_html is render_html and charter.render_pdf is render_pdf
    assert charter.render_to is render_to
    with pytest.raises(AttributeError):
        _ = charter.render_docx  # type: ignore[attr-defined]
