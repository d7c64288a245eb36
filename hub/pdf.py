"""PDF text that never breaks: one Unicode font when the system has one, Latin-1 core fonts otherwise.

The charter document and the printed letters share this: any character a family's name or a teacher's text holds
either prints or is replaced, never makes the PDF fail.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import TTFFont

#: Where Debian/Ubuntu, Fedora, Arch and Homebrew put DejaVu, a free font covering all of French and far more.
_DEJAVU_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/opt/homebrew/share/fonts"),
)

#: For the PDF core fonts, which only know Latin-1: typographic characters French uses, in Latin-1 shape.
LATIN1_FALLBACK = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "‚": ",",
        "“": '"',
        "”": '"',
        "„": '"',
        "œ": "oe",
        "Œ": "OE",
        "…": "...",
        "–": "-",
        "—": "-",
        "‑": "-",
        "•": "-",
        "€": "EUR",
        "\u202f": " ",  # narrow no-break space before ; : ! ? in careful French
        "\u2009": " ",
        "\u200b": "",
    }
)


def find_unicode_fonts() -> tuple[Path, Path] | None:
    """DejaVu Sans regular and bold, or None if the system has no copy (then core fonts are used)."""
    for folder in _DEJAVU_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file():
            return regular, bold if bold.is_file() else regular
    return None


def printable(text: str) -> str:
    """Drop control characters (a stray one in a TOML string must not break the PDF); keep line breaks."""
    text = text.replace("\t", " ").replace("\r\n", "\n")
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")


class UnicodePDF(FPDF):
    """An A4 FPDF with DejaVu (regular and bold) when found, else Helvetica, and ``text_of`` to make text safe."""

    def __init__(self, fonts: tuple[Path, Path] | None, **kwargs: object) -> None:
        super().__init__(format="A4", **kwargs)  # type: ignore[arg-type]
        self.unicode = fonts is not None
        if fonts is not None:
            self.add_font("DejaVu", "", str(fonts[0]))
            self.add_font("DejaVu", "B", str(fonts[1]))
            self.base_family = "DejaVu"
            # Characters both faces can draw; others would be dropped with a warning, so we replace them.
            regular, bold = self.fonts["dejavu"], self.fonts["dejavuB"]
            assert isinstance(regular, TTFFont) and isinstance(bold, TTFFont)  # added from files just above
            self.glyphs: frozenset[int] = frozenset(regular.cmap) & frozenset(bold.cmap)
        else:
            self.base_family = "Helvetica"
            self.glyphs = frozenset(range(256))

    def can_draw(self, text: str) -> bool:
        return all(ord(ch) in self.glyphs for ch in text)

    def text_of(self, text: str) -> str:
        text = printable(text)
        if self.unicode:
            return "".join(ch if ch == "\n" or ord(ch) in self.glyphs else "?" for ch in text)
        text = unicodedata.normalize("NFC", text.translate(LATIN1_FALLBACK))
        return text.encode("latin-1", "replace").decode("latin-1")

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font(self.base_family, "B" if bold else "", size)
