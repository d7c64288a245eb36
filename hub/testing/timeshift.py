"""Run a whole test process, and every Python process it starts, at another moment: what ``scripts/test`` does
with ``CARNET_TEST_TIME`` (by default in CI, the next Saturday 23:30 in Brussels).

``scripts/test`` computes an offset in seconds from the real time and exports it as
``TEST_CLOCK_OFFSET_SECONDS`` (not a ``CARNET_`` name: the tests give their servers and commands an environment
without the product's ``CARNET_`` settings, and this one must reach them); a ``.pth`` file it writes into the test
virtualenv calls :func:`install_from_env` at the start of every Python process of that environment (pytest, the
live servers, ``carnet worker`` and the other commands the tests start). Each process then sees the real time plus
the same offset (time-machine moves ``datetime.now``, ``date.today``, ``time.time`` and friends, ticking forward),
so all of them agree on "now" whenever they started. The monotonic clock is untouched: timeouts and waits keep
their real length.

This is test equipment, never imported by the product: production reads the system's time through
:mod:`hub.clock`, and no setting of the product moves it.
"""

from __future__ import annotations

import datetime as dt
import os

ENV = "TEST_CLOCK_OFFSET_SECONDS"
_traveller: object | None = None


def install_from_env() -> None:
    """Shift this process's clock by ``$TEST_CLOCK_OFFSET_SECONDS`` seconds (nothing when it is unset)."""
    global _traveller
    raw = os.environ.get(ENV, "").strip()
    if not raw or _traveller is not None:
        return
    import time_machine  # only the test environment has it

    offset = dt.timedelta(seconds=float(raw))
    traveller = time_machine.travel(dt.datetime.now(dt.UTC) + offset, tick=True)
    traveller.start()
    _traveller = traveller
