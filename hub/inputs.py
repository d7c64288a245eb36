"""Reading a number, an id, a page or a date from what a person or a program sent (a query, a form, JSON),
one way for every page, the API and the rules below them: ASCII digits only (``"²".isdigit()`` is true but
``int("²")`` fails; ``int("٣")`` is 3), ids within the database's ``integer`` (1..2147483647), years 1900..2999
(where moving a time between zones cannot overflow). Anything else is None (or the default page), never an
exception. A leaf: it imports nothing else of the product, so the messaging rules and the reports use it as the
web app does (:mod:`hub.web.guard` re-exports it beside the route convertor built on :data:`ID_REGEX`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo

#: The largest id the database stores (PostgreSQL ``integer``, the ids' type on both backends).
MAX_ID = 2**31 - 1
#: The last page number :func:`parse_page` reads (the API's own bound for ``?page=``).
MAX_PAGE = 100_000
#: The years a date read from a request may fall in: converting between zones never overflows within them.
MIN_YEAR, MAX_YEAR = 1900, 2999


def _at_most(limit: int) -> str:
    """A regex matching the decimal numbers 1..limit written without leading zeros (no catastrophic backtracking:
    the alternatives differ by length or by a digit)."""
    digits = str(limit)
    alternatives = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        lowest = 1 if i == 0 else 0
        if int(digit) > lowest:
            top = int(digit) - 1
            span = str(lowest) if top == lowest else f"[{lowest}-{top}]"
            rest = len(digits) - i - 1
            alternatives.append(digits[:i] + span + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


#: 1..MAX_ID in ASCII digits, leading zeros allowed (no capturing group: Starlette embeds it in its own).
ID_REGEX = "0*" + _at_most(MAX_ID)
_ID = re.compile(ID_REGEX)


# ----------------------------------------------------------------------------------- numbers from requests


def _digits(value: object) -> str | None:
    """The ASCII digits of a query or form value (surrounding blanks ignored); None for anything else."""
    if not isinstance(value, str):
        return None  # None, an uploaded file…
    text = value.strip(" \t\r\n")
    return text if text and text.isascii() and text.isdigit() else None


def parse_id(text: object) -> int | None:
    """An id read from a query or a form: 1..2147483647 in ASCII digits (leading zeros allowed), else None."""
    digits = _digits(text)
    if digits is None or not _ID.fullmatch(digits):
        return None
    return int(digits.lstrip("0"))


def parse_ids(values: Iterable[object]) -> list[int]:
    """The ids among form values, in order, ignoring anything else (a forged form gets nothing it did not name)."""
    return [found for found in map(parse_id, values) if found is not None]


def parse_page(text: object, default: int = 1, *, maximum: int = MAX_PAGE) -> int:
    """A ``?page=`` number: 1..maximum in ASCII digits, else ``default``."""
    digits = _digits(text)
    if digits is None:
        return default
    digits = digits.lstrip("0")
    if not digits or len(digits) > len(str(maximum)):
        return default
    page = int(digits)
    return page if 1 <= page <= maximum else default


def parse_count(text: object, maximum: int) -> int | None:
    """A count or an index typed or chosen in a form: 0..maximum in ASCII digits (leading zeros allowed), else
    None."""
    digits = _digits(text)
    if digits is None:
        return None
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return None
    number = int(digits)
    return number if number <= maximum else None


# ------------------------------------------------------------------------------------- dates from requests


def _in_years(value: dt.datetime) -> bool:
    return MIN_YEAR <= value.year <= MAX_YEAR


def parse_datetime_local(text: object, zone: dt.tzinfo | str) -> dt.datetime | None:
    """A form's ``datetime-local`` value (``2026-11-30T14:00``, seconds optional) as a time of ``zone``, returned
    in UTC; a value with an offset is taken at its offset. None when unreadable or outside the years 1900..2999
    (``0001-01-01T00:00`` would overflow when moved to UTC)."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > 64 or not text.isascii():
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if not _in_years(parsed):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone) if isinstance(zone, str) else zone)
    return parsed.astimezone(dt.UTC)  # within these years, moving a time by at most a day cannot overflow


def parse_date(text: object) -> dt.date | None:
    """An ISO date (``2026-11-30``) from a query or a form, within the years 1900..2999 (``9999-12-31`` plus a
    day, or ``0001-01-01`` moved to UTC, would overflow); None otherwise."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > 32 or not text.isascii():
        return None
    try:
        parsed = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return parsed if MIN_YEAR <= parsed.year <= MAX_YEAR else None


def check_datetime_range(value: dt.datetime) -> dt.datetime:
    """``value`` when its year (as written) is within 1900..2999; ValueError otherwise. For the API's
    aware datetimes (``9999-12-31T23:59:59-14:00`` overflows when compared with a UTC time): usable as a pydantic
    ``AfterValidator`` (the ValueError becomes a 422)."""
    if not _in_years(value):
        raise ValueError(f"a date between the years {MIN_YEAR} and {MAX_YEAR}")
    return value
