"""The one clock the product reads.

Every "now" of the product comes from :func:`now` (an aware UTC datetime). The rules never call it: they take
``now`` as an argument (``routing``, ``planning``, ``charter``); the shells that call them (the pages, the API, the
worker, the commands) read it here, once per request or per pass.

In production this is the system's time and nothing in the product shifts it: no setting, no variable, no page.
Two programs install another clock, in their own process, through :func:`use`:

- the demo (``scripts/demo``): a :class:`DemoClock` that starts on the next school day at 10:00 and runs forward
  with real time, kept in the data directory so the commands of one demo agree, and moved forward by the demo's
  "jump to the next release" control;
- the tests: a :class:`RunningClock` set to the moment a test needs (a Tuesday 10:00 when the charter must be open,
  a Saturday night when it must be closed), or a :class:`FixedClock`.

A shifted clock only ever runs forward: :meth:`RunningClock.advance_to` refuses to go back, so a delivery never
sees time reverse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real time: the only clock production runs on."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class RunningClock:
    """A clock that started at ``start`` and runs forward at the speed of real time."""

    def __init__(self, start: dt.datetime, *, real_start: dt.datetime | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's start must be an aware datetime")
        real_start = real_start or dt.datetime.now(dt.UTC)
        self.offset = start.astimezone(dt.UTC) - real_start

    @classmethod
    def with_offset(cls, offset: dt.timedelta) -> RunningClock:
        """The real time moved by ``offset``: two processes given the same offset read the same "now"."""
        real = dt.datetime.now(dt.UTC)
        return cls(real + offset, real_start=real)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance_to(self, when: dt.datetime) -> dt.datetime:
        """Move the clock forward to ``when`` (never back: an earlier time leaves it where it is)."""
        current = self.now()
        if when > current:
            self.offset += when - current
        return self.now()

    def __repr__(self) -> str:
        return f"RunningClock(now={self.now().isoformat()})"


class FixedClock:
    """A clock that stands still until moved: for tests that compare exact instants."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock's time must be an aware datetime")
        self.at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self.at

    def advance_to(self, when: dt.datetime) -> dt.datetime:
        self.at = max(self.at, when.astimezone(dt.UTC))
        return self.at

    def __repr__(self) -> str:
        return f"FixedClock({self.at.isoformat()})"


_SYSTEM = SystemClock()
_current: Clock = _SYSTEM


def now() -> dt.datetime:
    """The product's current time, an aware UTC datetime."""
    return _current.now()


def current() -> Clock:
    return _current


def use(clock: Clock | None) -> Clock:
    """Install ``clock`` for this process (None: the system's); returns the clock it replaces."""
    global _current
    previous, _current = _current, clock or _SYSTEM
    return previous


@contextlib.contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """``with using(RunningClock(tuesday_10)):`` the product reads ``clock`` inside the block."""
    previous = use(clock)
    try:
        yield clock
    finally:
        use(previous)


def is_shifted() -> bool:
    return _current is not _SYSTEM


# ------------------------------------------------------------------------------------------------ the demo clock

DEMO_CLOCK_FILE = "demo-clock.json"
DEMO_START_HOUR = 10


def next_school_day_at(charter_is_school_day: object, now: dt.datetime, zone: ZoneInfo, hour: int) -> dt.datetime:
    """The first ``hour``:00 (school time) at or after ``now`` on a day ``charter_is_school_day(date)`` accepts."""
    assert callable(charter_is_school_day)
    local = now.astimezone(zone)
    day = local.date()
    for _ in range(400):
        candidate = dt.datetime.combine(day, dt.time(hour), zone)
        if candidate >= local and charter_is_school_day(day):
            return candidate.astimezone(dt.UTC)
        day += dt.timedelta(days=1)
    raise ValueError("no school day in the next 400 days: the charter has no sending hours")


class DemoClock(RunningClock):
    """The demo's clock: a :class:`RunningClock` whose offset is kept in ``<data dir>/demo-clock.json``.

    Started once per demo school (by ``carnet demo-data``, or by the first ``carnet serve`` of the demo) at the
    next school day's 10:00, so a newcomer on a Saturday night sees messages flow; every later command of the
    same demo reads the same offset, and :meth:`advance_to` writes the new one. The offset is kept from the
    system's time, which every process of the machine shares.
    """

    def __init__(self, path: Path, start: dt.datetime) -> None:
        super().__init__(start)
        self.path = path
        #: The clock this one was installed over: the time the process sees outside the demo.
        self.beneath: Clock = _SYSTEM

    @classmethod
    def load_or_start(cls, data_dir: Path, first_start: dt.datetime, *, fresh: bool = False) -> DemoClock:
        """The demo clock of ``data_dir``, started at ``first_start`` when it has none yet.

        ``fresh``: a new clock started at ``first_start`` whatever the file says, not saved yet: a new demo
        school starts a new clock, which its maker saves (:meth:`save`) once the school exists, so that a refused
        ``carnet demo-data`` leaves the running demo's clock as it was.
        """
        path = data_dir / DEMO_CLOCK_FILE
        clock = cls(path, first_start)
        if fresh:
            return clock
        offset = _read_offset(path)
        if offset is not None:
            clock.offset = offset
        clock.save()
        return clock

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset_seconds": self.offset.total_seconds()}), encoding="utf-8")
        tmp.replace(self.path)

    def advance_to(self, when: dt.datetime) -> dt.datetime:
        result = super().advance_to(when)
        self.save()
        return result

    def __repr__(self) -> str:
        return f"DemoClock(now={self.now().isoformat()}, file={self.path})"


def _read_offset(path: Path) -> dt.timedelta | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return dt.timedelta(seconds=float(data["offset_seconds"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def demo_clock(data_dir: Path, is_school_day: object, zone: ZoneInfo, *, fresh: bool = False) -> DemoClock:
    """Install the demo clock of ``data_dir`` in this process and return it (the demo's commands only).

    A new clock starts at the first 10:00 of a day ``is_school_day(date)`` accepts, at or after the time this
    process sees outside the demo (the system's, or in a test the moment it stated); an existing one (the file)
    is read as it is, unless ``fresh`` (then saved by the caller, see :meth:`DemoClock.load_or_start`).
    """
    beneath = _current.beneath if isinstance(_current, DemoClock) else _current
    first = next_school_day_at(is_school_day, beneath.now(), zone, DEMO_START_HOUR)
    clock = DemoClock.load_or_start(data_dir, first, fresh=fresh)
    clock.beneath = beneath
    use(clock)
    return clock
