"""Dates as families read them, in their language: one function for letters, the charter and messages.

Babel's CLDR data ships with the package, so the text never depends on the server's locale settings.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from babel.dates import format_date

#: Languages whose CLDR data Carnet uses; anything else reads French, the school's language.
LANGUAGES = ("fr", "nl", "en", "de")


def long_date(day: date, language: str = "fr", *, weekday: bool = False, year: bool = True) -> str:
    """``lundi 30 novembre 2026``, ``maandag 30 november 2026``, ``Monday 30 November 2026``.

    French writes the first of the month as an ordinal: ``1er novembre``. Each day is spelled once per language
    (Babel's formatting is the costliest part of a list of dated lines, the portal's inbox).
    """
    return _long_date(day if type(day) is date else date(day.year, day.month, day.day), str(language), weekday, year)


@lru_cache(maxsize=4096)
def _long_date(day: date, language: str, weekday: bool, year: bool) -> str:
    lang = str(language).lower()[:2]
    if lang not in LANGUAGES:
        lang = "fr"
    pattern = ("EEEE " if weekday else "") + ("d MMMM y" if year else "d MMMM")
    text = format_date(day, pattern, locale=lang)
    if lang == "fr" and day.day == 1:
        text = text.replace(" 1 ", " 1er ", 1) if weekday else text.replace("1 ", "1er ", 1)
    return text
