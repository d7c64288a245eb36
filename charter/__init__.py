"""The school's disconnection charter: the rules Carnet applies and the document families download.

One TOML file holds both (``charter/default.toml`` is the default of a Belgian secondary school); the
document's hours and calendar are generated from the rules, so the two cannot drift apart.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from .rules import (
    SEARCH_DAYS,
    WEEKDAYS,
    Charter,
    CharterDocument,
    CharterError,
    ClosedPeriod,
    DayOff,
    Section,
    WeekSchedule,
    Window,
    expected_reply_by,
    holiday_name,
    is_allowed,
    is_school_day,
    load_charter,
    may_send,
    next_allowed,
    next_staff_available,
    parse_charter,
    public_holidays,
    release_time,
    staff_available,
)

#: The charter shipped with Carnet, used when the school configures none (``CARNET_CHARTER`` empty).
DEFAULT_CHARTER_PATH: Path = Path(__file__).with_name("default.toml")


#: The document renderers, imported on first use: the routing only needs the rules, not fpdf2 and Jinja2.
_DOCUMENT_API = ("render_html", "render_pdf", "render_to")


def __getattr__(name: str) -> Any:
    if name in _DOCUMENT_API:
        from . import document

        return getattr(document, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@lru_cache(maxsize=1)
def default_charter() -> Charter:
    """The default charter, read once: a Charter is immutable, so sharing it is safe."""
    return load_charter(DEFAULT_CHARTER_PATH)


_school_charter: Charter | None = None


def use_charter(charter: Charter | None) -> None:
    """Make ``charter`` the one this process obeys wherever no charter is passed explicitly (the school's own
    ``CARNET_CHARTER``, set once at start by ``carnet`` and the web app); None goes back to the default."""
    global _school_charter
    _school_charter = charter


def school_charter() -> Charter:
    """The charter this process obeys: the school's own when one was set with :func:`use_charter`."""
    return _school_charter or default_charter()


__all__ = [
    "DEFAULT_CHARTER_PATH",
    "SEARCH_DAYS",
    "WEEKDAYS",
    "Charter",
    "CharterDocument",
    "CharterError",
    "ClosedPeriod",
    "DayOff",
    "Section",
    "WeekSchedule",
    "Window",
    "default_charter",
    "expected_reply_by",
    "holiday_name",
    "is_allowed",
    "is_school_day",
    "load_charter",
    "may_send",
    "next_allowed",
    "next_staff_available",
    "parse_charter",
    "public_holidays",
    "release_time",
    "render_html",
    "render_pdf",
    "render_to",
    "school_charter",
    "staff_available",
    "use_charter",
]
