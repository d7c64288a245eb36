"""Provider limits shared by every worker on PostgreSQL: the ``rate_window`` table counts each one-second window."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta

from tortoise import connections

from hub.delivery.models import RateWindow
from hub.delivery.worker import Limits
from hub.enums import Channel

LIMIT = 5.0


async def test_two_workers_share_the_sms_limit_through_postgres(pg_db: str) -> None:
    acquired: list[tuple[float, datetime]] = []  # (wall clock after the slot, the window it was taken in)

    async def worker(limits: Limits, until: float) -> None:
        while time.time() < until:
            window = await limits.acquire(Channel.SMS)
            assert window is not None  # on PostgreSQL the slot comes from the shared table
            acquired.append((time.time(), window))

    until = time.time() + 2.5
    # two workers, each with its own in-process limiter: only the database can keep them under the limit
    await asyncio.gather(
        worker(Limits(rates={Channel.SMS: LIMIT}), until), worker(Limits(rates={Channel.SMS: LIMIT}), until)
    )

    per_window = Counter(window for _, window in acquired)
    assert len(per_window) >= 3  # the run spanned several windows
    assert max(per_window.values()) == LIMIT  # each window filled up to the limit, never beyond
    # the table holds the same counts: one row per window, exactly the slots granted
    rows = await RateWindow.filter(channel=str(Channel.SMS)).values_list("window_start", "count")
    assert {start: count for start, count in rows} == dict(per_window)
    assert all(count <= LIMIT for _, count in rows)
    # the recorded times fall in the window they were counted in (one clock: the database's and ours agree)
    for at, window in acquired:
        assert window.timestamp() - 0.05 <= at < window.timestamp() + 1 + 0.5
    # over the whole run: no more than the limit per second touched
    span = max(at for at, _ in acquired) - min(at for at, _ in acquired)
    assert len(acquired) <= LIMIT * (span + 2)


async def test_old_windows_are_purged_now_and_then(pg_db: str) -> None:
    conn = connections.get("default")
    old = datetime.now().astimezone() - timedelta(minutes=5)
    await RateWindow.create(channel="sms", window_start=old.replace(microsecond=0), count=3)
    limits = Limits(rates={Channel.SMS: 1000.0})
    for _ in range(100):
        await limits.acquire(Channel.SMS)
    assert not await RateWindow.filter(window_start__lt=old + timedelta(minutes=1)).exists()
    rows = await conn.execute_query_dict("SELECT sum(count) AS n FROM rate_window")
    assert rows[0]["n"] == 100  # the recent windows stay: every slot granted is counted
