"""The moments tests state when a rule depends on the hour: the charter open, closed at night, in the holidays.

Each is the next such moment after the real time (as the test process sees it), so data made "now" by the demo
generator stays in the past of the test, and each is checked against the shipped charter: ``school_hours()`` is a
Tuesday 10:00 on a school day, ``saturday_night()`` a Saturday 23:30, ``sunday_afternoon()`` a Sunday 15:00 and
``holidays()`` a weekday 10:00 inside one of the charter's school holidays.

    with clock.using(clock.RunningClock(school_hours())):
        ...  # the product reads a Tuesday 10:00 that runs forward

Tests take the ``at_school_hours`` / ``at_saturday_night`` fixtures of ``tests/conftest.py`` rather than these
directly, so that the clock is put back after each test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from charter import Charter, default_charter, is_allowed, is_school_day
from hub.enums import Urgency

BRUSSELS = ZoneInfo("Europe/Brussels")


def _real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)  # the process's time (moved by scripts/test), not the product's clock


def _next_local(
    weekday: int | None, at: dt.time, accept: Callable[[dt.date, dt.datetime], bool], after: dt.datetime | None = None
) -> dt.datetime:
    start = (after or _real_now()).astimezone(BRUSSELS)
    day = start.date()
    for _ in range(800):
        moment = dt.datetime.combine(day, at, BRUSSELS)
        if moment > start and (weekday is None or day.weekday() == weekday) and accept(day, moment):
            return moment
        day += dt.timedelta(days=1)
    raise AssertionError("no such moment in the next 800 days")


def school_hours(charter: Charter | None = None, after: dt.datetime | None = None) -> dt.datetime:
    """The next Tuesday 10:00 (Brussels) on a school day, when the charter lets normal messages go out."""
    charter = charter or default_charter()
    return _next_local(
        1,
        dt.time(10),
        lambda day, moment: is_school_day(charter, day) and is_allowed(charter, moment, Urgency.NORMAL),
        after,
    )


def saturday_night(charter: Charter | None = None, after: dt.datetime | None = None) -> dt.datetime:
    """The next Saturday 23:30 (Brussels): every message but an emergency is held."""
    charter = charter or default_charter()
    return _next_local(5, dt.time(23, 30), lambda day, moment: not is_allowed(charter, moment, Urgency.NORMAL), after)


def sunday_afternoon(charter: Charter | None = None, after: dt.datetime | None = None) -> dt.datetime:
    """The next Sunday 15:00 (Brussels)."""
    charter = charter or default_charter()
    return _next_local(6, dt.time(15), lambda day, moment: not is_allowed(charter, moment, Urgency.NORMAL), after)


def holidays(charter: Charter | None = None, after: dt.datetime | None = None) -> dt.datetime:
    """The next weekday 10:00 (Brussels) inside the charter's school holidays (not a weekend, not a school day)."""
    charter = charter or default_charter()
    return _next_local(
        None,
        dt.time(10),
        lambda day, moment: (
            day.weekday() < 5 and not is_school_day(charter, day) and not is_allowed(charter, moment, Urgency.NORMAL)
        ),
        after,
    )
