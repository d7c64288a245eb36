"""Explicit cases of the charter rules, on the default charter and on small charters built for one point."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from charter import (
    DEFAULT_CHARTER_PATH,
    Charter,
    CharterError,
    default_charter,
    expected_reply_by,
    holiday_name,
    is_allowed,
    is_school_day,
    load_charter,
    may_send,
    next_allowed,
    next_staff_available,
    parse_charter,
    release_time,
    rules,
    staff_available,
)
from hub.enums import StaffRole, Urgency

BRUSSELS = ZoneInfo("Europe/Brussels")
NORMAL, URGENT, EMERGENCY = Urgency.NORMAL, Urgency.URGENT, Urgency.EMERGENCY


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BRUSSELS)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def small_charter(normal: dict[str, str] | None = None, urgent: str = '["12:00-13:00"]', closed: str = "") -> Charter:
    """A charter with no windows but the ones given: each test states exactly the rule it is about."""
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    normal = normal or {"monday": '["09:00-10:00"]'}
    normal_lines = "\n".join(f"{day} = {normal.get(day, '[]')}" for day in (*days, "holiday"))
    urgent_lines = "\n".join(f"{day} = {urgent}" for day in days)
    staff_lines = "\n".join(f'{day} = ["08:00-17:30"]' for day in days[:5])
    return parse_charter(
        f"""
[school]
name = "Test"
[sending.normal]
{normal_lines}
[sending.urgent]
{urgent_lines}
[staff_hours]
{staff_lines}
saturday = []
sunday = []
{closed}
""",
        source="small.toml",
    )


@pytest.fixture(scope="module")
def charter() -> Charter:
    return default_charter()


# ----------------------------------------------------------------------------------- the default charter


def test_default_charter_loads_from_the_packaged_file(charter: Charter) -> None:
    assert DEFAULT_CHARTER_PATH.name == "default.toml" and DEFAULT_CHARTER_PATH.is_file()
    assert load_charter(DEFAULT_CHARTER_PATH) == charter
    assert charter.timezone == "Europe/Brussels" and charter.country == "BE"
    assert charter.max_non_urgent_per_day == 3
    assert charter.release_spread_minutes == 30
    assert charter.reply_expected_within_days == 2
    assert len(charter.document.sections) >= 8


def test_friday_night_message_is_held_to_monday_morning(charter: Charter) -> None:
    friday = local(2026, 11, 20, 21, 0)
    assert not is_allowed(charter, friday, NORMAL)
    assert next_allowed(charter, friday, NORMAL) == local(2026, 11, 23, 7, 30)


def test_message_on_the_eve_of_toussaint_is_held_until_2_november(charter: Charter) -> None:
    eve = local(2026, 10, 16, 21, 0)  # Friday before the autumn holidays (19-30 October 2026)
    held = next_allowed(charter, eve, NORMAL)
    assert held == local(2026, 11, 2, 7, 30)
    # Not even the Sunday 1 November (Toussaint, a public holiday) opens ordinary sending.
    assert not is_allowed(charter, local(2026, 11, 1, 12, 0), NORMAL)


def test_armistice_wednesday_holds_normal_messages(charter: Charter) -> None:
    armistice = date(2026, 11, 11)
    assert armistice.weekday() == 2
    assert holiday_name(charter, armistice) == "Jour de l'Armistice"
    assert not is_school_day(charter, armistice)
    assert not is_allowed(charter, local(2026, 11, 11, 10, 0), NORMAL)
    assert next_allowed(charter, local(2026, 11, 10, 20, 30), NORMAL) == local(2026, 11, 12, 7, 30)
    # Urgent messages follow the holiday list (09:00-18:00), not Wednesday's hours.
    assert not is_allowed(charter, local(2026, 11, 11, 8, 0), URGENT)
    assert next_allowed(charter, local(2026, 11, 11, 8, 0), URGENT) == local(2026, 11, 11, 9, 0)


def test_urgent_is_allowed_on_saturday_morning_but_not_normal(charter: Charter) -> None:
    saturday = local(2026, 11, 21, 10, 0)
    assert is_allowed(charter, saturday, URGENT)
    assert next_allowed(charter, saturday, URGENT) == saturday
    assert not is_allowed(charter, saturday, NORMAL)


def test_urgent_is_held_at_night(charter: Charter) -> None:
    night = local(2026, 11, 24, 23, 0)
    assert not is_allowed(charter, night, URGENT)
    assert next_allowed(charter, night, URGENT) == local(2026, 11, 25, 7, 0)


def test_emergency_is_always_now(charter: Charter) -> None:
    for moment in (local(2026, 11, 21, 3, 0), local(2026, 12, 25, 23, 59), local(2027, 8, 1, 4, 0)):
        assert is_allowed(charter, moment, EMERGENCY)
        assert next_allowed(charter, moment, EMERGENCY) is moment


def test_search_crosses_the_whole_summer(charter: Charter) -> None:
    last_evening = local(2027, 7, 2, 21, 0)  # the last school day, after hours
    assert next_allowed(charter, last_evening, NORMAL) == local(2027, 8, 30, 7, 30)


def test_allowed_moment_is_returned_unchanged(charter: Charter) -> None:
    moment = datetime(2026, 11, 23, 9, 15, 42, 123, tzinfo=UTC)
    assert next_allowed(charter, moment, NORMAL) is moment


def test_naive_datetimes_are_refused(charter: Charter) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_allowed(charter, datetime(2026, 11, 23, 10, 0), NORMAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed(charter, datetime(2026, 11, 23, 10, 0), URGENT)


def test_calendar(charter: Charter) -> None:
    assert is_school_day(charter, date(2026, 11, 23))
    assert not is_school_day(charter, date(2026, 11, 21))  # Saturday
    assert holiday_name(charter, date(2026, 11, 21)) is None  # a weekend is not a holiday
    assert holiday_name(charter, date(2026, 10, 21)) == "Congé d'automne (Toussaint)"
    assert holiday_name(charter, date(2026, 12, 25)) == "Noël"  # the public holiday wins over the range
    assert holiday_name(charter, date(2026, 12, 28)) == "Vacances d'hiver"
    assert holiday_name(charter, date(2027, 3, 29)) == "Lundi de Pâques"
    assert holiday_name(charter, date(2027, 9, 27)) == "Fête de la Fédération Wallonie-Bruxelles"
    assert not is_school_day(charter, date(2027, 8, 27))
    assert is_school_day(charter, date(2027, 8, 30))


# -------------------------------------------------------------------------------------------- daylight saving


def test_spring_forward_window_starting_in_the_missing_hour_opens_at_three() -> None:
    # 29 March 2026: clocks jump from 02:00 CET to 03:00 CEST; 02:30 never shows on the wall.
    charter = small_charter({"sunday": '["02:30-05:00"]'})
    held = next_allowed(charter, local(2026, 3, 29, 0, 30), NORMAL)
    assert held == utc(2026, 3, 29, 1, 0)
    assert held.astimezone(BRUSSELS).hour == 3 and held.astimezone(BRUSSELS).utcoffset() == timedelta(hours=2)
    assert is_allowed(charter, held, NORMAL)
    assert not is_allowed(charter, held - timedelta(seconds=1), NORMAL)
    assert not is_allowed(charter, utc(2026, 3, 29, 3, 0), NORMAL)  # 05:00 CEST


def test_spring_forward_window_ending_in_the_missing_hour_ends_at_the_jump() -> None:
    charter = small_charter({"saturday": '["22:00-02:30"]', "sunday": '["06:00-07:00"]'})
    assert is_allowed(charter, utc(2026, 3, 29, 0, 59), NORMAL)  # 01:59 CET
    assert not is_allowed(charter, utc(2026, 3, 29, 1, 0), NORMAL)  # 03:00 CEST
    assert next_allowed(charter, utc(2026, 3, 29, 1, 0), NORMAL) == utc(2026, 3, 29, 4, 0)


def test_spring_forward_window_entirely_in_the_missing_hour_does_not_open_that_day() -> None:
    charter = small_charter({"sunday": '["02:10-02:50"]'})
    held = next_allowed(charter, local(2026, 3, 29, 0, 0), NORMAL)
    # Not Sunday 5 April either: it is Easter, a public holiday, when the (empty) holiday windows apply.
    assert held == local(2026, 4, 12, 2, 10)
    assert held == utc(2026, 4, 12, 0, 10)


def test_spring_forward_on_the_default_charter(charter: Charter) -> None:
    # Saturday evening after 21:00: urgent waits for Sunday 07:00, which is 05:00 UTC in summer time.
    assert next_allowed(charter, local(2026, 3, 28, 21, 30), URGENT) == utc(2026, 3, 29, 5, 0)


def test_fall_back_repeated_hour_is_open_during_both_passes() -> None:
    # 25 October 2026: at 03:00 CEST clocks go back to 02:00 CET; 02:00-03:00 shows twice.
    charter = small_charter({"sunday": '["02:15-02:45"]'})
    first_pass = utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    second_pass = utc(2026, 10, 25, 1, 30)  # 02:30 CET
    assert first_pass.astimezone(BRUSSELS).hour == second_pass.astimezone(BRUSSELS).hour == 2
    assert is_allowed(charter, first_pass, NORMAL)
    assert is_allowed(charter, second_pass, NORMAL)
    between = utc(2026, 10, 25, 0, 50)  # 02:50 CEST
    assert not is_allowed(charter, between, NORMAL)
    assert next_allowed(charter, between, NORMAL) == utc(2026, 10, 25, 1, 15)
    assert next_allowed(charter, local(2026, 10, 25, 0, 0), NORMAL) == utc(2026, 10, 25, 0, 15)


def test_fall_back_window_across_the_change_follows_the_wall_clock() -> None:
    charter = small_charter({"sunday": '["02:30-03:30"]'})
    assert next_allowed(charter, local(2026, 10, 25, 1, 0), NORMAL) == utc(2026, 10, 25, 0, 30)
    # Open from 02:30 CEST to the change (03:00 CEST), closed while the wall clock shows 02:00-02:30 CET
    # again, open from 02:30 CET to 03:30 CET.
    expected = {0: True, 20: True, 30: False, 50: False, 60: True, 100: True, 119: True, 120: False}
    for minutes, open_ in expected.items():
        moment = utc(2026, 10, 25, 0, 30) + timedelta(minutes=minutes)
        assert is_allowed(charter, moment, NORMAL) is open_, moment.astimezone(BRUSSELS)
    assert next_allowed(charter, utc(2026, 10, 25, 1, 0), NORMAL) == utc(2026, 10, 25, 1, 30)


def test_fall_back_window_ending_in_the_repeated_hour_reopens_on_the_second_pass() -> None:
    charter = small_charter({"saturday": '["23:00-02:30"]'})
    assert is_allowed(charter, utc(2026, 10, 25, 0, 15), NORMAL)  # 02:15 CEST
    assert not is_allowed(charter, utc(2026, 10, 25, 0, 45), NORMAL)  # 02:45 CEST
    assert next_allowed(charter, utc(2026, 10, 25, 0, 45), NORMAL) == utc(2026, 10, 25, 1, 0)  # 02:00 CET
    assert not is_allowed(charter, utc(2026, 10, 25, 1, 30), NORMAL)  # 02:30 CET


def test_results_are_utc_instants(charter: Charter) -> None:
    held = next_allowed(charter, local(2026, 11, 20, 21, 0), NORMAL)
    assert held.tzinfo is UTC


# ---------------------------------------------------------------------------------- crossing midnight


def test_window_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    charter = small_charter({"friday": '["22:00-02:00"]'})
    assert is_allowed(charter, local(2026, 11, 20, 23, 0), NORMAL)
    assert is_allowed(charter, local(2026, 11, 21, 1, 59), NORMAL)  # Saturday, from Friday's window
    assert not is_allowed(charter, local(2026, 11, 21, 2, 0), NORMAL)
    assert next_allowed(charter, local(2026, 11, 21, 2, 0), NORMAL) == local(2026, 11, 27, 22, 0)


def test_window_crossing_midnight_follows_its_start_day_holiday_status() -> None:
    closed = '[[calendar.closed]]\nname = "Congé"\nstart = 2026-11-20\nend = 2026-11-20\n'
    charter = small_charter({"friday": '["22:00-02:00"]', "saturday": '["01:00-03:00"]'}, closed=closed)
    # Friday 20 is a day off: its 22:00-02:00 window does not open; Saturday's own 01:00 does.
    assert not is_allowed(charter, local(2026, 11, 20, 23, 0), NORMAL)
    assert next_allowed(charter, local(2026, 11, 20, 21, 0), NORMAL) == local(2026, 11, 21, 1, 0)


# ------------------------------------------------------------------------------------------- release


def test_release_spreads_evenly_over_the_spread(charter: Charter) -> None:
    opening = local(2026, 11, 23, 7, 30)
    times = [release_time(charter, opening, i, 4) for i in range(4)]
    assert times == [opening + timedelta(seconds=450 * i) for i in range(4)]
    assert release_time(charter, opening, 0, 1) == opening


def test_release_never_goes_beyond_the_end_of_the_window() -> None:
    charter = small_charter({"monday": '["09:00-09:10"]'})
    opening = local(2026, 11, 23, 9, 0)
    times = [release_time(charter, opening, i, 5) for i in range(5)]
    assert times == [opening + timedelta(minutes=2 * i) for i in range(5)]
    assert all(is_allowed(charter, moment, NORMAL) for moment in times)


def test_release_joins_touching_windows() -> None:
    charter = small_charter({"monday": '["09:00-09:05", "09:05-10:00"]'})
    opening = local(2026, 11, 23, 9, 0)
    assert release_time(charter, opening, 1, 2) == opening + timedelta(minutes=15)


def test_release_rejects_bad_arguments(charter: Charter) -> None:
    with pytest.raises(ValueError, match="index"):
        release_time(charter, local(2026, 11, 23, 7, 30), 3, 3)
    with pytest.raises(ValueError, match="not inside"):
        release_time(charter, local(2026, 11, 23, 22, 0), 0, 3)
    # Emergencies have no window to stay within.
    assert release_time(charter, local(2026, 11, 23, 22, 0), 1, 2, EMERGENCY) == local(2026, 11, 23, 22, 15)


# --------------------------------------------------------------------------------------------- staff


def test_staff_hours(charter: Charter) -> None:
    assert staff_available(charter, local(2026, 11, 23, 9, 0))
    assert not staff_available(charter, local(2026, 11, 23, 18, 0))
    assert not staff_available(charter, local(2026, 11, 21, 10, 0))  # Saturday
    assert next_staff_available(charter, local(2026, 11, 20, 18, 0)) == local(2026, 11, 23, 8, 0)
    assert next_staff_available(charter, local(2026, 10, 16, 18, 0)) == local(2026, 11, 2, 8, 0)
    moment = local(2026, 11, 23, 9, 0)
    assert next_staff_available(charter, moment) is moment


def test_expected_reply_counts_school_days_from_reception(charter: Charter) -> None:
    # Monday morning: Tuesday and Wednesday are the two school days.
    assert expected_reply_by(charter, local(2026, 11, 23, 10, 0)) == local(2026, 11, 25, 17, 30)
    # Friday evening: received Monday 08:00, so Tuesday and Wednesday too.
    assert expected_reply_by(charter, local(2026, 11, 20, 21, 0)) == local(2026, 11, 25, 17, 30)
    # Tuesday 10 November: Wednesday 11 is the Armistice, so Thursday and Friday.
    assert expected_reply_by(charter, local(2026, 11, 10, 10, 0)) == local(2026, 11, 13, 17, 30)
    # Written during the autumn holidays: received Monday 2 November.
    assert expected_reply_by(charter, local(2026, 10, 22, 10, 0)) == local(2026, 11, 4, 17, 30)


# ------------------------------------------------------------------------------------------- senders


def test_may_send(charter: Charter) -> None:
    assert may_send(charter, ["teacher"], NORMAL)
    assert not may_send(charter, ["teacher"], URGENT)
    assert not may_send(charter, ["teacher"], EMERGENCY)
    assert may_send(charter, ["secretary"], URGENT)
    assert not may_send(charter, ["secretary"], EMERGENCY)
    assert may_send(charter, [StaffRole.TEACHER, StaffRole.PRINCIPAL], EMERGENCY)
    assert may_send(charter, ("admin",), "emergency")
    assert not may_send(charter, [], NORMAL)
    assert not may_send(charter, ["janitor"], NORMAL)  # unknown roles grant nothing


# -------------------------------------------------------------------------------------- broken charters


def test_no_window_for_400_days_raises() -> None:
    closed = '[[calendar.closed]]\nname = "Travaux"\nstart = 2026-01-01\nend = 2028-12-31\n'
    charter = small_charter(closed=closed)
    with pytest.raises(CharterError, match="no allowed window"):
        next_allowed(charter, local(2026, 6, 1, 12, 0), NORMAL)
    with pytest.raises(CharterError, match=r"small\.toml"):
        expected_reply_by(charter, local(2026, 6, 1, 12, 0))


# ------------------------------------------------------------------------------------------- the school year


def test_the_school_year_starts_the_day_after_the_summer_holidays_of_the_calendar() -> None:
    """The shipped calendar of Wallonia-Brussels: summer holidays to Sunday 30 August 2026, so the year 2026-2027
    starts on Monday 31 August, not 1 September; the summer's days belong to the year they end."""
    charter = default_charter()
    assert rules.school_year_start(charter, date(2026, 8, 31)) == date(2026, 8, 31)
    assert rules.school_year_start(charter, date(2026, 12, 5)) == date(2026, 8, 31)
    assert rules.school_year_start(charter, date(2027, 6, 30)) == date(2026, 8, 31)
    assert rules.school_year_start(charter, date(2027, 7, 20)) == date(2026, 8, 31)
    assert rules.school_year_start(charter, date(2027, 8, 29)) == date(2027, 8, 29)


def test_without_summer_holidays_in_the_calendar_the_school_year_starts_on_1_september() -> None:
    charter = dataclasses.replace(default_charter(), closed=())
    assert rules.school_year_start(charter, date(2026, 9, 1)) == date(2026, 9, 1)
    assert rules.school_year_start(charter, date(2026, 8, 31)) == date(2025, 9, 1)
    assert rules.school_year_start(charter, date(2027, 3, 1)) == date(2026, 9, 1)
    # A calendar not updated for years is not trusted: 1 September again.
    old = dataclasses.replace(default_charter(), closed=default_charter().closed[:1])
    assert rules.school_year_start(old, date(2028, 3, 1)) == date(2027, 9, 1)
