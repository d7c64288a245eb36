"""Property tests over generated charters and instants from 2026 to 2028.

Generated windows sit on a quarter-hour grid, and every timezone used changes its offset by whole
quarter-hours at quarter-hour UTC instants. So every allowed stretch starts at a UTC quarter-hour: checking
each quarter-hour between ``now`` and ``next_allowed(now)`` proves that nothing opened earlier, with no
minute-by-minute scan.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charter import (
    Charter,
    expected_reply_by,
    is_allowed,
    is_school_day,
    next_allowed,
    next_staff_available,
    parse_charter,
    release_time,
    staff_available,
)
from hub.enums import Urgency

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
QUARTER = timedelta(minutes=15)
#: Brussels first (the point of Carnet); the others stress other offsets and other changes of clocks:
#: New York changes at 07:00 UTC, Lord Howe by half an hour, Kathmandu sits at +05:45.
TIMEZONES = ("Europe/Brussels", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu")
#: 02:00 to 03:00 local, the hour the clocks skip or repeat in Brussels, drawn more often than chance would.
DST_QUARTERS = tuple(range(8, 13))


def hhmm(quarter: int) -> str:
    return f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"


@st.composite
def windows(draw: st.DrawFn) -> str:
    quarter = st.one_of(st.integers(0, 95), st.sampled_from(DST_QUARTERS))
    start = draw(quarter)
    end = draw(st.one_of(quarter, st.just(96)).filter(lambda end: end != start))
    return f'"{hhmm(start)}-{hhmm(end)}"'  # end < start crosses midnight; 96 is 24:00


def window_list(max_size: int = 3) -> st.SearchStrategy[str]:
    return st.lists(windows(), max_size=max_size).map(lambda items: "[" + ", ".join(items) + "]")


@st.composite
def week(draw: st.DrawFn, name: str) -> str:
    days = [draw(window_list()) for _ in DAYS]
    if all(day == "[]" for day in days):
        days[draw(st.integers(0, 6))] = '["09:00-10:00"]'  # validation refuses a week with no window at all
    lines = [f"[{name}]", *(f"{day} = {windows}" for day, windows in zip(DAYS, days, strict=True))]
    lines.append(f"holiday = {draw(window_list(2))}")
    return "\n".join(lines)


@st.composite
def closed_ranges(draw: st.DrawFn) -> str:
    ranges = []
    for i in range(draw(st.integers(0, 3))):
        start = draw(st.dates(date(2025, 12, 1), date(2028, 12, 31)))
        end = start + timedelta(days=draw(st.integers(0, 30)))
        ranges.append(f'[[calendar.closed]]\nname = "Congé {i}"\nstart = {start}\nend = {end}')
    return "\n".join(ranges)


@st.composite
def charters(draw: st.DrawFn) -> Charter:
    timezone = draw(st.sampled_from(TIMEZONES[:1] * 3 + TIMEZONES))
    extra = draw(st.lists(st.dates(date(2026, 1, 1), date(2028, 12, 31)), max_size=3))
    staff = "\n".join(f'{day} = ["08:00-17:30"]' for day in DAYS[:5])
    text = f"""
[school]
name = "Générée"
timezone = "{timezone}"
[calendar]
extra_days_off = [{", ".join(str(day) for day in extra)}]
{draw(closed_ranges())}
{draw(week("sending.normal"))}
{draw(week("sending.urgent"))}
[limits]
release_spread_minutes = {draw(st.integers(0, 90))}
[staff_hours]
{staff}
saturday = []
sunday = []
reply_expected_within_days = {draw(st.integers(1, 4))}
"""
    return parse_charter(text, source="generated.toml")


#: The nights Brussels changes its clocks (01:00 UTC), where a uniform draw would rarely land.
BRUSSELS_CHANGES = tuple(
    datetime(*day, 1, 0, tzinfo=UTC)
    for day in ((2026, 3, 29), (2026, 10, 25), (2027, 3, 28), (2027, 10, 31), (2028, 3, 26), (2028, 10, 29))
)
near_clock_changes = st.builds(
    lambda change, seconds: change + timedelta(seconds=seconds),
    st.sampled_from(BRUSSELS_CHANGES),
    st.integers(-3 * 86400, 86400),
)
instants = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    near_clock_changes,
)
held_urgencies = st.sampled_from([Urgency.NORMAL, Urgency.URGENT])
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def quarter_hours_between(start: datetime, end: datetime) -> list[datetime]:
    """UTC quarter-hours strictly after ``start`` and strictly before ``end``."""
    first = start.astimezone(UTC).replace(second=0, microsecond=0)
    first -= timedelta(minutes=first.minute % 15)
    found = []
    moment = first + QUARTER
    while moment < end:
        found.append(moment)
        moment += QUARTER
    return found


@SETTINGS
@given(charter=charters(), now=instants, urgency=held_urgencies)
def test_next_allowed_is_allowed_not_before_now_and_minimal(charter: Charter, now: datetime, urgency: Urgency) -> None:
    result = next_allowed(charter, now, urgency)
    assert result.tzinfo is not None
    assert result >= now
    assert is_allowed(charter, result, urgency)
    if result != now:
        assert not is_allowed(charter, now, urgency)
        for moment in quarter_hours_between(now, result):
            assert not is_allowed(charter, moment, urgency), (moment, result)
    assert next_allowed(charter, result, urgency) == result


@SETTINGS
@given(charter=charters(), now=instants, urgency=held_urgencies)
def test_is_allowed_agrees_with_next_allowed(charter: Charter, now: datetime, urgency: Urgency) -> None:
    # is_allowed reads the wall clock, next_allowed builds UTC intervals: two computations, one answer.
    assert is_allowed(charter, now, urgency) == (next_allowed(charter, now, urgency) == now)


@settings(max_examples=50, deadline=None)
@given(charter=charters(), now=instants)
def test_emergency_is_always_now(charter: Charter, now: datetime) -> None:
    assert is_allowed(charter, now, Urgency.EMERGENCY)
    assert next_allowed(charter, now, Urgency.EMERGENCY) is now


@SETTINGS
@given(
    charter=charters(),
    now=instants,
    urgency=held_urgencies,
    total=st.integers(1, 500),
    data=st.data(),
)
def test_release_times_stay_in_the_window_in_order(
    charter: Charter, now: datetime, urgency: Urgency, total: int, data: st.DataObject
) -> None:
    opening = next_allowed(charter, now, urgency)
    indexes = sorted(data.draw(st.lists(st.integers(0, total - 1), min_size=1, max_size=5)))
    times = [release_time(charter, opening, index, total, urgency) for index in indexes]
    assert times == sorted(times)
    for moment in times:
        assert opening <= moment <= opening + timedelta(minutes=charter.release_spread_minutes)
        assert is_allowed(charter, moment, urgency)
    assert release_time(charter, opening, 0, total, urgency) == opening


@SETTINGS
@given(charter=charters(), now=instants)
def test_staff_availability_and_expected_reply(charter: Charter, now: datetime) -> None:
    available = next_staff_available(charter, now)
    assert available >= now and staff_available(charter, available)
    if available != now:
        for moment in quarter_hours_between(now, available):
            assert not staff_available(charter, moment)
    reply_by = expected_reply_by(charter, now)
    assert reply_by > available
    # The deadline is the end of staff hours on a school day (generated staff windows never cross midnight).
    last_minute = reply_by - timedelta(minutes=1)
    assert staff_available(charter, last_minute) and not staff_available(charter, reply_by)
    assert is_school_day(charter, last_minute.astimezone(charter.tz).date())
