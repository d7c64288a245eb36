"""A guardian's preferences as rules: the order of channels when they chose none, and their own quiet hours.

Plain values with no database: the account pages store them (``hub.people.account``), routing reads them
(``hub.messaging.routing``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.enums import Channel

#: The order used for a guardian who expressed no preference: the free channels first, SMS (paid, and
#: processed outside the EU) last before the letter.
DEFAULT_CHANNEL_ORDER: tuple[Channel, ...] = (
    Channel.PORTAL,
    Channel.EMAIL,
    Channel.WEBPUSH,
    Channel.FCM,
    Channel.TELEGRAM,
    Channel.SMS,
)


@dataclass(frozen=True)
class QuietHours:
    """A guardian's own quiet hours on the school's wall clock, ``start`` included, ``end`` excluded. An end
    before the start crosses midnight (22:00-07:00); equal times would mean always or never, and are refused."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours need a start and an end that differ")

    def end_after(self, at: datetime, tz: ZoneInfo) -> datetime | None:
        """When the quiet period holding the instant ``at`` ends (aware), or None if ``at`` is not in one."""
        local = at.astimezone(tz)
        clock = local.time().replace(tzinfo=None)
        day = local.date()
        if self.start < self.end:
            inside = self.start <= clock < self.end
        else:
            inside = clock >= self.start or clock < self.end
            if clock >= self.start:
                day += timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=tz) if inside else None
