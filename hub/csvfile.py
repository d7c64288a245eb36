"""The one CSV writer of Carnet: every CSV the product hands out (the staff's ``responses.csv``, the tables of a
guardian's data export) is written here, so every one of them is safe to open in a spreadsheet.

* **No formulas** (OWASP "CSV injection"): a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return would be read by Excel or LibreOffice as a formula (``=HYPERLINK(...)`` that leaks the sheet, ``@SUM(...)``
  and worse, DDE): it gets a leading apostrophe, which the spreadsheet reads as "this is text". What people typed
  (names, answers, posts, even "-2") is text. Numbers the product itself writes (``int``, ``float``, ``Decimal``)
  cannot be formulas and are written as they are, so a negative number stays a number the sheet can add up.
* **Belgian Excel opens it as it is**: ``;`` between cells (the list separator of the fr-BE and nl-BE locales,
  where ``,`` is the decimal comma), CRLF line ends, UTF-8 with a byte order mark (without it Excel reads the
  accents of "Élodie" as Windows-1252). Cells holding ``;``, quotes or line breaks are quoted by :mod:`csv`.

A leaf: it imports nothing of the product.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

DELIMITER = ";"
LINE_END = "\r\n"
BOM = "\ufeff"
MEDIA_TYPE = "text/csv; charset=utf-8"
#: What makes a spreadsheet read a cell as a formula (tab and CR too: some tools strip them, then read on).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """``value`` as a cell a spreadsheet shows as text, never runs: an apostrophe before a formula's first sign.
    None is an empty cell; a number (not a bool, not a string) is written as it is."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def text(rows: Iterable[Sequence[object]]) -> str:
    """The rows (the header first, when there is one) as CSV text, byte order mark included."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=DELIMITER, lineterminator=LINE_END)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return BOM + out.getvalue()


def encode(rows: Iterable[Sequence[object]]) -> bytes:
    """:func:`text`, encoded as the file is served or stored (UTF-8)."""
    return text(rows).encode("utf-8")


def table(records: Sequence[dict[str, object]], columns: Sequence[str] | None = None) -> bytes:
    """Dicts as a CSV file: a header of ``columns`` (by default every key, in the order first met), then one row
    per record (a key it lacks is an empty cell)."""
    names = list(columns) if columns is not None else list(dict.fromkeys(key for record in records for key in record))
    return encode([names, *([record.get(name) for name in names] for record in records)])
