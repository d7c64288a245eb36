"""The libfaketime offset (``+N`` seconds) that moves the clock to a moment in Brussels: used by ``scripts/test``.

``python scripts/test_clock.py saturday-night`` -> the next Saturday 23:30 in Brussels;
``python scripts/test_clock.py "2026-12-28 10:00"`` -> that moment, Brussels time.
"""

from __future__ import annotations

import datetime as dt
import sys
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")


def target(spec: str, real: dt.datetime) -> dt.datetime:
    if spec == "saturday-night":
        local = real.astimezone(BRUSSELS)
        day = local.date() + dt.timedelta(days=(5 - local.weekday()) % 7)
        moment = dt.datetime.combine(day, dt.time(23, 30), BRUSSELS)
        return moment if moment > local else moment + dt.timedelta(days=7)
    moment = dt.datetime.fromisoformat(spec)
    return moment if moment.tzinfo else moment.replace(tzinfo=BRUSSELS)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    real = dt.datetime.now(dt.UTC)
    try:
        moment = target(argv[1], real)
    except ValueError as exc:
        print(f"CARNET_TEST_TIME={argv[1]!r}: {exc}", file=sys.stderr)
        return 2
    print(f"{(moment - real).total_seconds():+.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
