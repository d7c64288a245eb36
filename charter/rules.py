"""The school's disconnection charter as rules: when messages may go out, who may send them, when staff
answer.

Everything here is pure: the clock is always passed in, nothing reads files except ``load_charter``. All
datetimes passed in must be timezone-aware; the rules are evaluated on the wall clock of the charter's
timezone and every instant computed here is returned in UTC (arithmetic on UTC instants never trips over
daylight saving).

Windows follow the wall clock. "07:30-20:00" on a Monday means "while the clocks of the school read between
07:30 and 20:00 that Monday". So, on the night clocks go forward, a window starting in the missing hour
opens when the clocks jump (03:00), and on the night they go back a window covering 02:00-03:00 is open
during both passes of that hour. A window whose end is before its start crosses midnight and belongs to the
day it starts on: ``monday = ["22:00-02:00"]`` is Monday 22:00 to Tuesday 02:00, and follows Monday's rules
(holiday or not).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from hub.enums import Language, StaffRole, Urgency

#: Weekday keys of the TOML file, Monday first like ``date.weekday()``.
WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: How far forward the searches look. A school year plus its summer is well under this, so a charter that
#: finds no window in 400 days is broken, not merely on holiday.
SEARCH_DAYS = 400

_DAY = timedelta(days=1)
_MINUTES_PER_DAY = 24 * 60

#: Belgian schools teach Monday to Friday (Wednesday afternoon is free for pupils but remains a school day).
DEFAULT_SCHOOL_WEEKDAYS: tuple[str, ...] = WEEKDAYS[:5]
#: The heads of school and the office handle today's matters; teachers write ordinary messages.
DEFAULT_URGENT_SENDERS: tuple[str, ...] = ("principal", "admin", "secretary")
#: A safety alert (closure, lockdown) engages the school's responsibility: only its head and administrators.
DEFAULT_EMERGENCY_SENDERS: tuple[str, ...] = ("principal", "admin")
#: Beyond three ordinary messages a day a family stops reading them; routing gathers the rest into a digest.
DEFAULT_MAX_NON_URGENT_PER_DAY = 3
#: Releasing a night's worth of held messages at 07:30 sharp would make every phone of the school ring at
#: once, and would hit the providers' rate limits.
DEFAULT_RELEASE_SPREAD_MINUTES = 30
#: Two school days: long enough to respect staff's own right to disconnect, short enough for families.
DEFAULT_REPLY_DAYS = 2

#: The holidays package spells English as en_US.
_HOLIDAY_LANGUAGES: Mapping[Language, str] = MappingProxyType(
    {Language.FR: "fr", Language.NL: "nl", Language.DE: "de", Language.EN: "en_US"}
)


class CharterError(ValueError):
    """An invalid charter file, or a charter that leaves no window at all.

    ``problems`` holds every ``(key, what is wrong)`` found; the message repeats them one a line, each
    prefixed with the file, so a school's secretary can fix the whole file in one go.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        super().__init__("\n".join(f"{source}: {key}: {what}" for key, what in self.problems))


# -------------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True, order=True)
class Window:
    """A daily window in wall-clock minutes since midnight. ``end <= start`` means it ends the next day."""

    start: int  #: 0..1439
    end: int  #: 0..1440 (1440 is "24:00", the end of the day)

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True)
class WeekSchedule:
    """Windows for each weekday (Monday first) and the windows that replace them on days off."""

    days: tuple[tuple[Window, ...], ...]
    holiday: tuple[Window, ...] = ()

    def windows_on(self, weekday: int, day_off: bool) -> tuple[Window, ...]:
        return self.holiday if day_off else self.days[weekday]


#: Emergencies are never held: their schedule is the whole day, every day, holidays included.
_ALWAYS = WeekSchedule(days=((Window(0, _MINUTES_PER_DAY),),) * 7, holiday=(Window(0, _MINUTES_PER_DAY),))


#: The languages the charter's document may be written in besides its own (those the product speaks).
DOCUMENT_LANGUAGES = ("fr", "nl", "en")


def _name_in(name: str, names: tuple[tuple[str, str], ...], language: str) -> str:
    return dict(names).get(language, name)


@dataclass(frozen=True)
class ClosedPeriod:
    """A school holiday, both ends inclusive."""

    start: date
    end: date
    name: str
    #: The name in the document's other languages: ``(("nl", "Herfstvakantie"), ...)``.
    names: tuple[tuple[str, str], ...] = ()

    def name_in(self, language: str) -> str:
        return _name_in(self.name, self.names, language)


@dataclass(frozen=True)
class DayOff:
    day: date
    name: str
    names: tuple[tuple[str, str], ...] = ()

    def name_in(self, language: str) -> str:
        return _name_in(self.name, self.names, language)


@dataclass(frozen=True)
class Section:
    title: str
    body: str  #: Markdown-ish: paragraphs split by blank lines, "- " bullets, **bold**


@dataclass(frozen=True)
class CharterDocument:
    title: str
    version: str
    adopted: date | None
    sections: tuple[Section, ...]
    language: str = "fr"


@dataclass(frozen=True)
class Charter:
    name: str  #: the school
    timezone: str
    country: str
    language: Language
    normal: WeekSchedule
    urgent: WeekSchedule
    staff: WeekSchedule  #: when a parent's reply may notify staff
    school_weekdays: frozenset[int]
    closed: tuple[ClosedPeriod, ...]
    extra_days_off: tuple[DayOff, ...]
    max_non_urgent_per_day: int
    release_spread_minutes: int
    reply_expected_within_days: int
    normal_senders: frozenset[StaffRole]
    urgent_senders: frozenset[StaffRole]
    emergency_senders: frozenset[StaffRole]
    document: CharterDocument
    source: str = "<string>"
    #: The document in the product's other languages (``[document.nl]``, ``[document.en]``): the same rules.
    translations: tuple[CharterDocument, ...] = ()

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages the document is written in, its own first."""
        return (self.document.language, *(d.language for d in self.translations))

    def document_in(self, language: str) -> CharterDocument:
        """The document in ``language`` when written in it, else in the charter's own language."""
        return next((d for d in self.translations if d.language == language), self.document)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances by key

    def schedule(self, urgency: Urgency | str) -> WeekSchedule:
        """The sending windows of an urgency; emergencies are always open."""
        match Urgency(urgency):
            case Urgency.NORMAL:
                return self.normal
            case Urgency.URGENT:
                return self.urgent
            case Urgency.EMERGENCY:
                return _ALWAYS

    def senders(self, urgency: Urgency | str) -> frozenset[StaffRole]:
        match Urgency(urgency):
            case Urgency.NORMAL:
                return self.normal_senders
            case Urgency.URGENT:
                return self.urgent_senders
            case Urgency.EMERGENCY:
                return self.emergency_senders


# ----------------------------------------------------------------------------------------------- the calendar


@lru_cache(maxsize=64)
def _public_holidays(country: str, language: Language, year: int) -> Mapping[date, str]:
    """The public holidays of one year, computed offline by the holidays package and kept read-only."""
    probe = holidays.country_holidays(country)
    lang = _HOLIDAY_LANGUAGES.get(language)
    if lang not in probe.supported_languages:
        lang = None  # the country's own default language rather than a crash
    found = holidays.country_holidays(country, years=year, language=lang)
    return MappingProxyType(dict(found.items()))


def public_holidays(charter: Charter, year: int) -> Mapping[date, str]:
    """The country's public holidays of ``year``, named in the charter's language."""
    return _public_holidays(charter.country, charter.language, year)


def holiday_name(charter: Charter, day: date) -> str | None:
    """Why ``day`` is a day off, or None: a public holiday first (the more precise name), then a school
    holiday, then an extra day off. Weekends are not days off: their own windows apply."""
    public = public_holidays(charter, day.year).get(day)
    if public is not None:
        return public
    for period in charter.closed:
        if period.start <= day <= period.end:
            return period.name
    for extra in charter.extra_days_off:
        if extra.day == day:
            return extra.name
    return None


def _is_day_off(charter: Charter, day: date) -> bool:
    return holiday_name(charter, day) is not None


def is_school_day(charter: Charter, day: date) -> bool:
    """A school weekday that is neither a public holiday nor within the school's holidays."""
    return day.weekday() in charter.school_weekdays and not _is_day_off(charter, day)


#: A closed period this long or longer is the summer holidays, which separate two school years.
SUMMER_DAYS = 28


def school_year_start(charter: Charter, today: date) -> date:
    """The first day of the school year ``today`` belongs to, from the charter's calendar: the day after the last
    summer holidays (a closed period of four weeks or more) ended before ``today`` (in Wallonia-Brussels, since
    the 2022 reform, the last days of August). Days of the summer holidays belong to the year they end. Without
    such an entry in the last year, 1 September (the Flemish Community's start, and the rule before 2022)."""
    ended = [p.end for p in charter.closed if (p.end - p.start).days + 1 >= SUMMER_DAYS and p.end < today]
    if ended and (today - max(ended)).days <= 366:
        return max(ended) + timedelta(days=1)
    return date(today.year if today.month >= 9 else today.year - 1, 9, 1)


# -------------------------------------------------------------------------------------- wall clock ↔ instants


def _require_aware(at: datetime, name: str = "at") -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got the naive datetime {at.isoformat()}")


def _offset_at(tz: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


@lru_cache(maxsize=4096)
def _segments(tz_key: str, day: date) -> tuple[tuple[datetime | None, datetime | None, timedelta], ...]:
    """The UTC offsets in force around the local days ``day`` and ``day + 1``: one segment, or two if the
    clocks change. Each is ``(from, until, offset)`` in UTC, ``None`` meaning unbounded.

    The probe runs from midnight UTC the day before to midnight UTC three days after, which covers both local
    days under any offset (-12h to +14h). Real zones never change their clocks twice in four days, so
    comparing the offsets at both ends finds any change, and a bisection finds its exact second.
    """
    tz = ZoneInfo(tz_key)
    low = datetime.combine(day - _DAY, datetime.min.time(), UTC)
    high = datetime.combine(day + 3 * _DAY, datetime.min.time(), UTC)
    before, after = _offset_at(tz, low), _offset_at(tz, high)
    if before == after:
        return ((None, None, before),)
    lo, hi = 0, int((high - low).total_seconds())  # the offset differs from `before` at hi, not at lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_at(tz, low + timedelta(seconds=mid)) == before:
            lo = mid
        else:
            hi = mid
    change = low + timedelta(seconds=hi)
    return ((None, change, before), (change, None, after))


def _wall_to_utc(tz_key: str, day: date, window: Window) -> list[tuple[datetime, datetime]]:
    """The UTC intervals during which the wall clock reads inside ``window`` placed on ``day``.

    On ordinary days that is one interval. When the clocks go forward, the part of the window in the missing
    hour is skipped (a window starting at 02:30 opens at 03:00); when they go back, a window covering the
    repeated hour is open during both passes, hence possibly two intervals.
    """
    start_wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=window.start)
    end_day = day + _DAY if window.crosses_midnight else day
    end_wall = datetime.combine(end_day, datetime.min.time()) + timedelta(minutes=window.end)
    intervals: list[tuple[datetime, datetime]] = []
    for seg_from, seg_until, offset in _segments(tz_key, day):
        start = (start_wall - offset).replace(tzinfo=UTC)
        end = (end_wall - offset).replace(tzinfo=UTC)
        if seg_from is not None:
            start = max(start, seg_from)
        if seg_until is not None:
            end = min(end, seg_until)
        if start < end:
            intervals.append((start, end))
    return intervals


def _day_intervals(charter: Charter, schedule: WeekSchedule, day: date) -> list[tuple[datetime, datetime]]:
    """Every UTC interval opened by the windows of local ``day`` (some may end the next day)."""
    windows = schedule.windows_on(day.weekday(), _is_day_off(charter, day))
    found: list[tuple[datetime, datetime]] = []
    for window in windows:
        found.extend(_wall_to_utc(charter.timezone, day, window))
    return found


def _local_minutes(local: datetime) -> float:
    return local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60_000_000


def _open_at(charter: Charter, schedule: WeekSchedule, at: datetime) -> bool:
    """Whether the wall clock at ``at`` is inside a window: today's, or yesterday's crossing midnight."""
    _require_aware(at)
    local = at.astimezone(charter.tz)
    today = local.date()
    minutes = _local_minutes(local)
    for window in schedule.windows_on(today.weekday(), _is_day_off(charter, today)):
        if window.start <= minutes and (window.crosses_midnight or minutes < window.end):
            return True
    yesterday = today - _DAY
    for window in schedule.windows_on(yesterday.weekday(), _is_day_off(charter, yesterday)):
        if window.crosses_midnight and minutes < window.end:
            return True
    return False


def _next_open(charter: Charter, schedule: WeekSchedule, now: datetime) -> tuple[date, datetime, datetime]:
    """The first interval still open at or after ``now``: ``(its local day, start, end)``, the start clamped
    to ``now``."""
    _require_aware(now, "now")
    now_utc = now.astimezone(UTC)
    first_day = now.astimezone(charter.tz).date() - _DAY  # yesterday's window may cross midnight into today
    best: tuple[date, datetime, datetime] | None = None
    for offset in range(SEARCH_DAYS + 2):
        day = first_day + offset * _DAY
        # A window of `day` cannot open before that day's midnight (minus a generous offset): stop searching.
        if best is not None and datetime.combine(day, datetime.min.time(), UTC) - _DAY > best[1]:
            break
        for start, end in _day_intervals(charter, schedule, day):
            if end > now_utc:
                candidate = (day, max(start, now_utc), end)
                if best is None or candidate[1] < best[1]:
                    best = candidate
    if best is None:
        raise CharterError(charter.source, [("(rules)", f"no allowed window in the next {SEARCH_DAYS} days")])
    return best


def _open_until(charter: Charter, schedule: WeekSchedule, at: datetime) -> datetime:
    """The end of the stretch of open time containing ``at``, joining windows that touch or overlap."""
    end = at.astimezone(UTC)
    for _ in range(SEARCH_DAYS):
        _day, start, stretch_end = _next_open(charter, schedule, end)
        if start > end:
            break
        end = stretch_end
    return end


# --------------------------------------------------------------------------------------------- the public API


def is_allowed(charter: Charter, at: datetime, urgency: Urgency | str) -> bool:
    """Whether a message of ``urgency`` may reach families at ``at``. Emergencies always may."""
    if Urgency(urgency) is Urgency.EMERGENCY:
        _require_aware(at)
        return True
    return _open_at(charter, charter.schedule(urgency), at)


def next_allowed(charter: Charter, now: datetime, urgency: Urgency | str) -> datetime:
    """``now`` if a message of ``urgency`` may go now, else the start of the next allowed window (in UTC).

    Searches across weekends and whole holidays; raises CharterError if nothing opens within SEARCH_DAYS days.
    """
    _require_aware(now, "now")
    if Urgency(urgency) is Urgency.EMERGENCY:
        return now
    _day, start, _end = _next_open(charter, charter.schedule(urgency), now)
    return now if start == now else start


def release_time(
    charter: Charter,
    window_start: datetime,
    index: int,
    total: int,
    urgency: Urgency | str = Urgency.NORMAL,
) -> datetime:
    """When the ``index``-th (0-based) of ``total`` held deliveries goes out, once its window opens.

    They are spread evenly over ``release_spread_minutes`` from ``window_start`` so that phones do not all
    ring at the same second, but never beyond the end of the window, which may be shorter than the spread.
    ``window_start`` must be an allowed moment for ``urgency`` (typically what ``next_allowed`` returned).
    """
    _require_aware(window_start, "window_start")
    if total < 1 or not 0 <= index < total:
        raise ValueError(f"index must be in 0..total-1 and total >= 1, got index={index}, total={total}")
    start = window_start.astimezone(UTC)
    spread = timedelta(minutes=charter.release_spread_minutes)
    if Urgency(urgency) is not Urgency.EMERGENCY:
        schedule = charter.schedule(urgency)
        if not _open_at(charter, schedule, start):
            raise ValueError(f"window_start {window_start.isoformat()} is not inside an allowed {urgency} window")
        spread = min(spread, _open_until(charter, schedule, start) - start)
    # Whole seconds, rounded down: index < total keeps every release strictly before the window's end.
    return start + timedelta(seconds=int(spread.total_seconds()) * index // total)


def staff_available(charter: Charter, at: datetime) -> bool:
    """Whether a parent's reply at ``at`` may notify staff right away."""
    return _open_at(charter, charter.staff, at)


def next_staff_available(charter: Charter, at: datetime) -> datetime:
    """``at`` if staff hours are open, else when they next open (in UTC)."""
    _require_aware(at)
    _day, start, _end = _next_open(charter, charter.staff, at)
    return at if start == at else start


def expected_reply_by(charter: Charter, at: datetime) -> datetime:
    """When a parent writing at ``at`` may expect an answer, to tell them so.

    It is the end of staff hours on the N-th school day after the day the school receives the message; a
    message written after hours is received when staff hours reopen, because staff too may disconnect.
    """
    _require_aware(at)
    received_day, _start, _end = _next_open(charter, charter.staff, at)
    day = received_day
    counted = 0
    for _ in range(SEARCH_DAYS):
        day += _DAY
        if not is_school_day(charter, day):
            continue
        intervals = _day_intervals(charter, charter.staff, day)
        if not intervals:
            continue  # a school day on which staff hours are closed is no day to answer
        counted += 1
        if counted == charter.reply_expected_within_days:
            return max(end for _start, end in intervals)
    raise CharterError(charter.source, [("(rules)", f"no school day with staff hours in {SEARCH_DAYS} days")])


def may_send(charter: Charter, roles: Iterable[str], urgency: Urgency | str) -> bool:
    """Whether a staff member holding ``roles`` may send a message of ``urgency``.

    Unknown roles grant nothing."""
    held = {StaffRole(role) for role in roles if role in StaffRole._value2member_map_}
    return bool(held & charter.senders(urgency))


# ------------------------------------------------------------------------------------------------ the parsing

_TIME = re.compile(r"^(\d{2}):(\d{2})$")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class _Problems:
    """Collects ``(key, what)`` so that one reading of the file reports every mistake."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, key: str, what: str) -> None:
        self.found.append((key, what))


def _parse_time(text: str, *, is_end: bool) -> int | None:
    match = _TIME.match(text.strip())
    if match is None:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if is_end and (hours, minutes) == (24, 0):
        return _MINUTES_PER_DAY  # "24:00" closes a window at midnight without crossing it
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def _parse_window(value: Any, key: str, problems: _Problems) -> Window | None:
    if not isinstance(value, str):
        problems.add(key, f'expected a window "HH:MM-HH:MM" as a string, got {value!r}')
        return None
    parts = value.split("-")
    if len(parts) != 2:
        problems.add(key, f'bad window {value!r}: expected "HH:MM-HH:MM", e.g. "07:30-20:00"')
        return None
    start, end = _parse_time(parts[0], is_end=False), _parse_time(parts[1], is_end=True)
    bad = False
    if start is None:
        problems.add(key, f"bad time {parts[0].strip()!r} in {value!r}: expected HH:MM from 00:00 to 23:59")
        bad = True
    if end is None:
        problems.add(key, f"bad time {parts[1].strip()!r} in {value!r}: expected HH:MM from 00:00 to 24:00")
        bad = True
    if bad or start is None or end is None:
        return None
    if start == end:
        problems.add(key, f'empty window {value!r}: for the whole day write "00:00-24:00"')
        return None
    # An end before the start is a window crossing midnight ("22:00-02:00"); 24:00 can only end the same day.
    return Window(start, end)


def _check_keys(table: Mapping[str, Any], key: str, allowed: Iterable[str], problems: _Problems) -> None:
    known = set(allowed)
    for name in table:
        if name not in known:
            where = f"{key}.{name}" if key else name
            problems.add(where, f"unknown key (expected one of: {', '.join(sorted(known))})")


def _table(data: Mapping[str, Any], name: str, key: str, problems: _Problems, required: bool) -> dict[str, Any]:
    value = data.get(name)
    where = f"{key}.{name}" if key else name
    if value is None:
        if required:
            problems.add(where, "missing required table")
        return {}
    if not isinstance(value, dict):
        problems.add(where, f"expected a table, got {value!r}")
        return {}
    return value


def _string(
    data: Mapping[str, Any], name: str, key: str, problems: _Problems, default: str | None = None
) -> str | None:
    value = data.get(name, default)
    where = f"{key}.{name}"
    if value is None:
        problems.add(where, "missing required key")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.add(where, f"expected a non-empty string, got {value!r}")
        return None
    return value.strip()


def _integer(
    data: Mapping[str, Any], name: str, key: str, problems: _Problems, default: int, low: int, high: int
) -> int:
    value = data.get(name, default)
    where = f"{key}.{name}"
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, f"expected a whole number, got {value!r}")
        return default
    if not low <= value <= high:
        problems.add(where, f"{value} is out of range: must be between {low} and {high}")
        return default
    return value


def _date(value: Any, key: str, problems: _Problems) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(key, f"bad date {value!r}: expected a TOML date or a string YYYY-MM-DD")
    return None


def _windows(value: Any, key: str, problems: _Problems) -> tuple[Window, ...]:
    if not isinstance(value, list):
        problems.add(key, f'expected a list of windows, e.g. ["07:30-20:00"] or [], got {value!r}')
        return ()
    found = (_parse_window(item, f"{key}[{i}]", problems) for i, item in enumerate(value))
    return tuple(sorted(w for w in found if w is not None))


def _week(table: Mapping[str, Any], key: str, problems: _Problems, extra: Iterable[str] = ()) -> WeekSchedule:
    allowed = {*WEEKDAYS, "holiday", *extra}
    expected = ", ".join(("monday, tuesday, ..., sunday", "holiday", *extra))
    for name in table:
        if name not in allowed:
            problems.add(f"{key}.{name}", f"unknown weekday (expected {expected})")
    days: list[tuple[Window, ...]] = []
    for name in WEEKDAYS:
        if name not in table:
            problems.add(f"{key}.{name}", 'missing required key (use [] for "never")')
            days.append(())
        else:
            days.append(_windows(table[name], f"{key}.{name}", problems))
    holiday = _windows(table.get("holiday", []), f"{key}.holiday", problems)
    return WeekSchedule(days=tuple(days), holiday=holiday)


def _roles(value: Any, key: str, problems: _Problems) -> frozenset[StaffRole]:
    if not isinstance(value, list):
        problems.add(key, f"expected a list of roles, got {value!r}")
        return frozenset()
    roles: set[StaffRole] = set()
    for i, item in enumerate(value):
        if isinstance(item, str) and item in StaffRole._value2member_map_:
            roles.add(StaffRole(item))
        else:
            choices = ", ".join(role.value for role in StaffRole)
            problems.add(f"{key}[{i}]", f"unknown role {item!r} (expected one of: {choices})")
    return frozenset(roles)


def _parse_school(data: Mapping[str, Any], problems: _Problems) -> tuple[str, str, str, Language]:
    school = _table(data, "school", "", problems, required=True)
    _check_keys(school, "school", ("name", "timezone", "country", "language"), problems)
    name = _string(school, "name", "school", problems) or "?"
    timezone = _string(school, "timezone", "school", problems, default="Europe/Brussels") or "Europe/Brussels"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("school.timezone", f"unknown timezone {timezone!r} (expected e.g. 'Europe/Brussels')")
        timezone = "Europe/Brussels"
    country = _string(school, "country", "school", problems, default="BE") or "BE"
    try:
        holidays.country_holidays(country)
    except NotImplementedError:
        problems.add("school.country", f"unknown country {country!r} (expected an ISO code such as 'BE')")
        country = "BE"
    language_text = _string(school, "language", "school", problems, default=Language.FR.value) or "fr"
    if language_text not in Language._value2member_map_:
        choices = ", ".join(lang.value for lang in Language)
        problems.add("school.language", f"unknown language {language_text!r} (expected one of: {choices})")
        language_text = Language.FR.value
    return name, timezone, country, Language(language_text)


def _parse_calendar(
    data: Mapping[str, Any], problems: _Problems
) -> tuple[frozenset[int], tuple[ClosedPeriod, ...], tuple[DayOff, ...]]:
    calendar = _table(data, "calendar", "", problems, required=False)
    _check_keys(calendar, "calendar", ("school_weekdays", "closed", "extra_days_off"), problems)

    weekdays_value = calendar.get("school_weekdays", list(DEFAULT_SCHOOL_WEEKDAYS))
    school_weekdays: set[int] = set()
    if not isinstance(weekdays_value, list):
        problems.add("calendar.school_weekdays", f"expected a list of weekdays, got {weekdays_value!r}")
    else:
        for i, item in enumerate(weekdays_value):
            if item in WEEKDAYS:
                school_weekdays.add(WEEKDAYS.index(item))
            else:
                problems.add(f"calendar.school_weekdays[{i}]", f"unknown weekday {item!r} (expected monday..sunday)")
        if not weekdays_value:
            problems.add("calendar.school_weekdays", "a school needs at least one school weekday")

    closed: list[ClosedPeriod] = []
    closed_value = calendar.get("closed", [])
    if not isinstance(closed_value, list):
        problems.add("calendar.closed", "expected [[calendar.closed]] tables with start, end and name")
        closed_value = []
    for i, item in enumerate(closed_value):
        key = f"calendar.closed[{i}]"
        if not isinstance(item, dict):
            problems.add(key, f"expected a table with start, end and name, got {item!r}")
            continue
        _check_keys(item, key, ("start", "end", "name", "names"), problems)
        name = _string(item, "name", key, problems)
        names = _names(item, key, problems)
        start = _date(item["start"], f"{key}.start", problems) if "start" in item else None
        end = _date(item["end"], f"{key}.end", problems) if "end" in item else None
        for part in ("start", "end"):
            if part not in item:
                problems.add(f"{key}.{part}", "missing required key")
        if start is not None and end is not None and end < start:
            problems.add(f"{key}.end", f"holiday ends ({end}) before it starts ({start})")
        elif start is not None and end is not None and name is not None:
            closed.append(ClosedPeriod(start, end, name, names))

    extra: list[DayOff] = []
    extra_value = calendar.get("extra_days_off", [])
    if not isinstance(extra_value, list):
        problems.add("calendar.extra_days_off", f"expected a list of dates, got {extra_value!r}")
        extra_value = []
    for i, item in enumerate(extra_value):
        key = f"calendar.extra_days_off[{i}]"
        if isinstance(item, dict):
            _check_keys(item, key, ("date", "name", "names"), problems)
            name = _string(item, "name", key, problems, default="Jour de congé")
            extra_names = _names(item, key, problems)
            day = _date(item["date"], f"{key}.date", problems) if "date" in item else None
            if "date" not in item:
                problems.add(f"{key}.date", "missing required key")
        else:
            name, day, extra_names = "Jour de congé", _date(item, key, problems), ()
        if day is not None and name is not None:
            extra.append(DayOff(day, name, extra_names))
    return frozenset(school_weekdays), tuple(closed), tuple(extra)


def _parse_sending(data: Mapping[str, Any], problems: _Problems) -> tuple[WeekSchedule, WeekSchedule]:
    sending = _table(data, "sending", "", problems, required=True)
    for name in sending:
        if name == Urgency.EMERGENCY.value:
            problems.add(
                "sending.emergency",
                "emergency messages are always allowed and cannot be scheduled: remove it",
            )
        elif name not in (Urgency.NORMAL.value, Urgency.URGENT.value):
            problems.add(f"sending.{name}", "unknown urgency (expected normal or urgent)")
    weeks: list[WeekSchedule] = []
    for label in (Urgency.NORMAL.value, Urgency.URGENT.value):
        table = _table(sending, label, "sending", problems, required=True)
        week = _week(table, f"sending.{label}", problems)
        # A charter that can never send an ordinary message would hold every message forever.
        if table and not any(week.days):
            problems.add(f"sending.{label}", "no sending window on any weekday: messages could never be sent")
        weeks.append(week)
    return weeks[0], weeks[1]


def _parse_staff(
    data: Mapping[str, Any], school_weekdays: frozenset[int], problems: _Problems
) -> tuple[WeekSchedule, int]:
    staff_table = _table(data, "staff_hours", "", problems, required=True)
    staff = _week(staff_table, "staff_hours", problems, extra=("reply_expected_within_days",))
    reply_days = _integer(staff_table, "reply_expected_within_days", "staff_hours", problems, DEFAULT_REPLY_DAYS, 1, 30)
    if staff_table and not any(staff.days[day] for day in school_weekdays):
        problems.add("staff_hours", "no staff hours on any school weekday: replies could never be expected")
    return staff, reply_days


def _parse_limits(data: Mapping[str, Any], problems: _Problems) -> tuple[int, int]:
    limits = _table(data, "limits", "", problems, required=False)
    _check_keys(limits, "limits", ("max_non_urgent_per_day", "release_spread_minutes"), problems)
    per_day = _integer(limits, "max_non_urgent_per_day", "limits", problems, DEFAULT_MAX_NON_URGENT_PER_DAY, 1, 100)
    # Spreading beyond a few hours would turn "released in the morning" into "released whenever".
    spread = _integer(limits, "release_spread_minutes", "limits", problems, DEFAULT_RELEASE_SPREAD_MINUTES, 0, 240)
    return per_day, spread


def _parse_senders(
    data: Mapping[str, Any], problems: _Problems
) -> tuple[frozenset[StaffRole], frozenset[StaffRole], frozenset[StaffRole]]:
    senders = _table(data, "senders", "", problems, required=False)
    for name in senders:
        if name not in Urgency._value2member_map_:
            problems.add(f"senders.{name}", "unknown urgency (expected normal, urgent or emergency)")
    normal = _roles(senders.get("normal", [role.value for role in StaffRole]), "senders.normal", problems)
    urgent = _roles(senders.get("urgent", list(DEFAULT_URGENT_SENDERS)), "senders.urgent", problems)
    emergency = _roles(senders.get("emergency", list(DEFAULT_EMERGENCY_SENDERS)), "senders.emergency", problems)
    if not emergency and isinstance(senders.get("emergency"), list) and not senders["emergency"]:
        problems.add("senders.emergency", "someone must be able to send a safety alert: list at least one role")
    return normal, urgent, emergency


def _names(item: Mapping[str, Any], key: str, problems: _Problems) -> tuple[tuple[str, str], ...]:
    """A day off's ``names = { nl = "...", en = "..." }``: its name in the document's other languages."""
    value = item.get("names", {})
    if not isinstance(value, dict):
        problems.add(f"{key}.names", f"expected a table of names by language, got {value!r}")
        return ()
    found = []
    for language, text in value.items():
        if language not in DOCUMENT_LANGUAGES:
            problems.add(
                f"{key}.names.{language}", f"unknown language (expected one of: {', '.join(DOCUMENT_LANGUAGES)})"
            )
        elif not isinstance(text, str) or not text.strip():
            problems.add(f"{key}.names.{language}", f"expected a name, got {text!r}")
        else:
            found.append((language, text.strip()))
    return tuple(found)


def _parse_translations(
    doc: Mapping[str, Any], main: CharterDocument, problems: _Problems
) -> tuple[CharterDocument, ...]:
    """``[document.nl]``, ``[document.en]``: a title and sections per language; version and date are shared."""
    found = []
    for language in DOCUMENT_LANGUAGES:
        if language not in doc:
            continue
        key = f"document.{language}"
        if language == main.language:
            problems.add(key, "the document's own language is written in [document] itself")
            continue
        table = _table(doc, language, "document", problems, required=False)
        _check_keys(table, key, ("title", "sections"), problems)
        title = _string(table, "title", key, problems) or main.title
        sections: list[Section] = []
        value = table.get("sections", [])
        if not isinstance(value, list):
            problems.add(f"{key}.sections", f"expected [[{key}.sections]] tables with title and body")
            value = []
        for i, item in enumerate(value):
            where = f"{key}.sections[{i}]"
            if not isinstance(item, dict):
                problems.add(where, "expected a table with title and body")
                continue
            _check_keys(item, where, ("title", "body"), problems)
            section_title, body = _string(item, "title", where, problems), _string(item, "body", where, problems)
            if section_title is not None and body is not None:
                sections.append(Section(section_title, body))
        if len(sections) != len(main.sections):
            problems.add(f"{key}.sections", f"{len(sections)} sections, the document has {len(main.sections)}")
        found.append(CharterDocument(title, main.version, main.adopted, tuple(sections), language))
    return tuple(found)


def _parse_document(
    data: Mapping[str, Any], school: str, problems: _Problems, language: str = "fr"
) -> tuple[CharterDocument, tuple[CharterDocument, ...]]:
    doc = _table(data, "document", "", problems, required=False)
    _check_keys(doc, "document", ("title", "version", "adopted", "sections", *DOCUMENT_LANGUAGES), problems)
    title = _string(doc, "title", "document", problems, default=f"Charte de communication — {school}") or "?"
    version = doc.get("version", "1")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str):
        problems.add("document.version", f"expected a string, got {version!r}")
        version = "1"
    adopted = _date(doc["adopted"], "document.adopted", problems) if "adopted" in doc else None
    sections: list[Section] = []
    value = doc.get("sections", [])
    if not isinstance(value, list):
        problems.add("document.sections", "expected [[document.sections]] tables with title and body")
        value = []
    for i, item in enumerate(value):
        key = f"document.sections[{i}]"
        if not isinstance(item, dict):
            problems.add(key, "expected a table with title and body")
            continue
        _check_keys(item, key, ("title", "body"), problems)
        section_title = _string(item, "title", key, problems)
        body = _string(item, "body", key, problems)
        if section_title is not None and body is not None:
            sections.append(Section(section_title, body))
    main = CharterDocument(title=title, version=version, adopted=adopted, sections=tuple(sections), language=language)
    return main, _parse_translations(doc, main, problems)


_TOP_LEVEL = ("school", "calendar", "sending", "limits", "senders", "staff_hours", "document")


def parse_charter(text: str, source: str = "<string>") -> Charter:
    """Read a charter from TOML text; ``source`` names it in error messages. Raises CharterError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CharterError(source, [("(file)", f"not valid TOML: {error}")]) from None
    problems = _Problems()
    _check_keys(data, "", _TOP_LEVEL, problems)
    name, timezone, country, language = _parse_school(data, problems)
    school_weekdays, closed, extra = _parse_calendar(data, problems)
    normal, urgent = _parse_sending(data, problems)
    staff, reply_days = _parse_staff(data, school_weekdays, problems)
    per_day, spread = _parse_limits(data, problems)
    normal_senders, urgent_senders, emergency_senders = _parse_senders(data, problems)
    document, translations = _parse_document(data, name, problems, language.value)
    if problems.found:
        raise CharterError(source, problems.found)
    return Charter(
        name=name,
        timezone=timezone,
        country=country,
        language=language,
        normal=normal,
        urgent=urgent,
        staff=staff,
        school_weekdays=school_weekdays,
        closed=closed,
        extra_days_off=extra,
        max_non_urgent_per_day=per_day,
        release_spread_minutes=spread,
        reply_expected_within_days=reply_days,
        normal_senders=normal_senders,
        urgent_senders=urgent_senders,
        emergency_senders=emergency_senders,
        document=document,
        source=source,
        translations=translations,
    )


def load_charter(path: str | Path) -> Charter:
    """Read a charter file (UTF-8 TOML).

    Raises CharterError, naming the file, if it is unreadable or invalid."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CharterError(source, [("(file)", f"cannot read the charter: {error}")]) from None
    return parse_charter(text, source=source)


__all__: list[str] = [
    "DOCUMENT_LANGUAGES",
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
    "staff_available",
]
