"""The one clock (``hub.clock``): what the product reads, how tests and the demo move it, and that nothing else in
the product reads the wall clock."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from charter import default_charter, is_allowed, is_school_day
from hub import clock
from hub.config import ROOT
from hub.enums import Urgency
from hub.testing import times

BRUSSELS = ZoneInfo("Europe/Brussels")
TUESDAY = dt.datetime(2026, 12, 8, 10, tzinfo=BRUSSELS)


def test_the_product_reads_the_system_clock_unless_a_test_or_the_demo_installs_another() -> None:
    assert not clock.is_shifted()
    before = dt.datetime.now(dt.UTC)
    assert before <= clock.now() <= dt.datetime.now(dt.UTC)
    assert clock.now().tzinfo is not None


def test_a_running_clock_starts_where_it_is_told_and_runs_forward() -> None:
    running = clock.RunningClock(TUESDAY)
    with clock.using(running):
        first = clock.now()
        assert abs(first - TUESDAY) < dt.timedelta(seconds=5)
        deadline = time.monotonic() + 30
        while clock.now() == first and time.monotonic() < deadline:
            pass
        assert clock.now() > first
    assert not clock.is_shifted()


def test_a_clock_is_only_ever_moved_forward() -> None:
    running = clock.RunningClock(TUESDAY)
    later = running.advance_to(TUESDAY + dt.timedelta(days=6))
    assert later >= TUESDAY + dt.timedelta(days=6)
    assert running.advance_to(TUESDAY) >= later  # an earlier time leaves it where it is
    fixed = clock.FixedClock(TUESDAY)
    assert fixed.now() == fixed.now() == TUESDAY
    fixed.advance_to(TUESDAY - dt.timedelta(hours=1))
    assert fixed.now() == TUESDAY


def test_two_processes_given_one_offset_read_the_same_now() -> None:
    offset = dt.timedelta(days=3, hours=2)
    a, b = clock.RunningClock.with_offset(offset), clock.RunningClock.with_offset(offset)
    assert abs(a.now() - b.now()) < dt.timedelta(seconds=1)
    assert abs(a.now() - (dt.datetime.now(dt.UTC) + offset)) < dt.timedelta(seconds=1)


def test_a_clock_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        clock.RunningClock(dt.datetime(2026, 12, 8, 10))
    with pytest.raises(ValueError):
        clock.FixedClock(dt.datetime(2026, 12, 8, 10))


def test_the_fixtures_state_the_hour_they_promise(at_school_hours: dt.datetime) -> None:
    charter = default_charter()
    local = at_school_hours.astimezone(BRUSSELS)
    assert local.weekday() == 1 and local.hour == 10
    assert is_school_day(charter, local.date()) and is_allowed(charter, at_school_hours, Urgency.NORMAL)
    assert abs(clock.now() - at_school_hours) < dt.timedelta(seconds=5)


@pytest.mark.parametrize("moment", [times.saturday_night, times.sunday_afternoon, times.holidays])
def test_the_closed_moments_are_closed(moment: object) -> None:
    assert callable(moment)
    at = moment()
    assert not is_allowed(default_charter(), at, Urgency.NORMAL)
    assert is_allowed(default_charter(), at, Urgency.EMERGENCY)


def test_the_holidays_are_a_weekday_of_the_school_holidays() -> None:
    at = times.holidays(after=dt.datetime(2026, 12, 4, 22, tzinfo=dt.UTC)).astimezone(BRUSSELS)
    assert at == dt.datetime(2026, 12, 21, 10, tzinfo=BRUSSELS)  # the first Monday of the winter holidays


def test_the_demo_clock_starts_on_the_next_school_day_at_ten() -> None:
    charter = default_charter()

    def school_day(day: dt.date) -> bool:
        return is_school_day(charter, day)

    friday_night = dt.datetime(2026, 12, 4, 22, 10, tzinfo=BRUSSELS)
    assert clock.next_school_day_at(school_day, friday_night, BRUSSELS, 10) == dt.datetime(
        2026, 12, 7, 10, tzinfo=BRUSSELS
    )
    before_christmas = dt.datetime(2026, 12, 19, 9, tzinfo=BRUSSELS)  # a Saturday; the holidays follow
    assert clock.next_school_day_at(school_day, before_christmas, BRUSSELS, 10) == dt.datetime(
        2027, 1, 4, 10, tzinfo=BRUSSELS
    )
    tuesday_morning = dt.datetime(2026, 12, 8, 8, tzinfo=BRUSSELS)
    assert clock.next_school_day_at(school_day, tuesday_morning, BRUSSELS, 10) == TUESDAY


def test_the_demo_clock_is_kept_with_the_demo_and_read_back(tmp_path: Path) -> None:
    monday = dt.datetime(2026, 12, 7, 10, tzinfo=BRUSSELS)
    first = clock.DemoClock.load_or_start(tmp_path, monday)
    first.advance_to(monday + dt.timedelta(hours=2))
    again = clock.DemoClock.load_or_start(tmp_path, monday)  # another command of the same demo
    assert abs(again.now() - first.now()) < dt.timedelta(seconds=2)
    assert again.now() >= monday + dt.timedelta(hours=2)


#: Where the wall clock may be read: the clock itself; the local providers, which play other machines with clocks
#: of their own; and the test equipment.
_MAY_READ_THE_WALL_CLOCK = ("hub/clock.py", "channels/peers/", "hub/testing/")
_WALL_CLOCK = re.compile(r"\b(?:datetime\.now|datetime\.utcnow|date\.today|time\.time)\(")


def test_nothing_in_the_product_reads_the_wall_clock_but_the_clock() -> None:
    offenders = []
    for package in ("hub", "channels", "charter"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith(_MAY_READ_THE_WALL_CLOCK) or "/migrations/" in name:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _WALL_CLOCK.search(line):
                    offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "read the time through hub.clock.now():\n" + "\n".join(offenders)
