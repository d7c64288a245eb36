"""``carnet worker``: the sending process. Run one or several (on PostgreSQL, on one machine or many).

Each process keeps ``--concurrency`` messages in flight, shared among two loops (:func:`run_loops`); each loop puts
back expired leases (a crashed worker's claims, :func:`hub.delivery.dispatch.reclaim_expired`), claims up to
``--batch`` due deliveries under a lease of ``--lease`` seconds, then sends them over its share of connections, each
connection taking its next message only once the outcome of its last is recorded
(:func:`hub.delivery.dispatch.dispatch_due`). The loops share one recorder: the sends accepted meanwhile are written
together, one UPDATE for the lot (:class:`hub.delivery.dispatch.Recorder`). On PostgreSQL the claim is ``FOR UPDATE
SKIP LOCKED``, so processes take disjoint batches; on SQLite run a single worker.

Stopping: SIGTERM or SIGINT sets a stop event; the messages being sent finish and are recorded, what is claimed but
not started is released (DUE again, ``claimed_by`` cleared), and the process exits 0. A process killed outright
(SIGKILL, power loss) leaves its claims to expire: after the lease another worker takes them back. Only a message
the provider accepted but whose outcome was not yet recorded goes twice, and each connection has at most one such
message at any instant, so a killed process re-sends at most ``--concurrency`` messages (the ``delivery-<id>``
idempotency key lets providers drop the copy).

Provider limits are applied around sends (:class:`Limits`): on PostgreSQL a rate-limited channel's limit is
shared by every worker process through the ``rate_window`` table (fixed one-second windows, one upsert per
message); on SQLite (a single worker) an in-process token bucket. Email's connection semaphore is per process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from channels.base import ChannelAdapter, Envelope, Outcome
from hub import clock
from hub.config import Settings
from hub.delivery import dispatch
from hub.enums import Channel
from hub.messaging import planning
from hub.records import grade_notices

log = logging.getLogger("carnet.worker")

# Per-provider limits inside one worker process (messages per second; burst = one second's worth).
#: Twilio: an account sends about 1 SMS/s per long code by default, more with a sender pool; 10/s is a safe
#: default for a messaging service with a few numbers.
SMS_PER_SECOND = 10.0
#: Telegram's documented global limit for one bot: about 30 messages per second.
TELEGRAM_PER_SECOND = 30.0
#: Email: simultaneous SMTP connections to the relay (one message in flight each: see ``dispatch_due``).
EMAIL_CONNECTIONS = 4

DEFAULT_RATES: Mapping[Channel, float] = {Channel.SMS: SMS_PER_SECOND, Channel.TELEGRAM: TELEGRAM_PER_SECOND}
DEFAULT_CONNECTIONS: Mapping[Channel, int] = {Channel.EMAIL: EMAIL_CONNECTIONS}


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved up; :meth:`acquire` waits for a token."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self.tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, n: float = 1.0) -> None:
        async with self._lock:  # first come, first served
            self._refill()
            while self.tokens < n:
                await asyncio.sleep((n - self.tokens) / self.rate)
                self._refill()
            self.tokens -= n


#: PostgreSQL: take one slot of the channel's current one-second window, shared by every worker. The conditional
#: update leaves a full window untouched and returns no row, so ``count`` is exactly the slots granted. The window
#: is the second of the product's clock (``hub.clock``), as every other time of the product: workers on several
#: machines agree as far as their clocks do (NTP keeps them within milliseconds of a one-second window).
_PG_TAKE = (
    "INSERT INTO rate_window (channel, window_start, count) VALUES ($1, $3, 1) "
    "ON CONFLICT (channel, window_start) DO UPDATE SET count = rate_window.count + 1 "
    "WHERE rate_window.count < $2 RETURNING count, window_start"
)
_PG_PURGE = "DELETE FROM rate_window WHERE window_start < $1"
#: Old windows are deleted once every this many acquisitions of a process's :class:`Limits`.
PURGE_EVERY = 100


def _postgres_connection() -> BaseDBAsyncClient | None:
    """The default connection when it is PostgreSQL, else None (SQLite, or no database open)."""
    try:
        conn = Tortoise.get_connection("default")
    except Exception:  # Tortoise not initialised: in-process limits only
        return None
    return conn if conn.capabilities.dialect == "postgres" else None


def _pairs(values: Sequence[str], kind: type[float] | type[int]) -> dict[Channel, float]:
    """``["sms=5", "telegram=20"]`` as {Channel.SMS: 5, ...}; a clear error for anything else."""
    found: dict[Channel, float] = {}
    for value in values:
        name, _, number = value.partition("=")
        try:
            channel = Channel(name.strip().lower())
            amount = kind(number)
        except ValueError:
            raise ValueError(f"{value!r}: expected CHANNEL=N, e.g. sms=10") from None
        if amount <= 0:
            raise ValueError(f"{value!r}: the limit must be positive")
        found[channel] = amount
    return found


@dataclass
class Limits:
    """The provider limits of one process, shared by its loops; :meth:`send` is a ``dispatch.Sender``.

    On PostgreSQL, :meth:`acquire` counts against a window shared with every other worker (``rate_window``);
    otherwise against the in-process token bucket. A channel's per-second limit is its rate rounded down (at
    least 1).
    """

    rates: Mapping[Channel, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    connections: Mapping[Channel, int] = field(default_factory=lambda: dict(DEFAULT_CONNECTIONS))

    def __post_init__(self) -> None:
        self.buckets = {channel: TokenBucket(rate) for channel, rate in self.rates.items()}
        self.semaphores = {channel: asyncio.Semaphore(n) for channel, n in self.connections.items()}
        self._acquisitions = 0

    def per_second(self, channel: Channel) -> int:
        return max(1, math.floor(self.rates[channel]))

    async def acquire(self, channel: Channel) -> datetime | None:
        """Wait for a slot to send one message on ``channel``; returns the shared window used (None in-process).

        A channel without a rate is not limited."""
        if channel not in self.rates:
            return None
        conn = _postgres_connection()
        if conn is None:
            await self.buckets[channel].acquire()
            return None
        self._acquisitions += 1
        if self._acquisitions % PURGE_EVERY == 0:
            await conn.execute_query(_PG_PURGE, [clock.now() - timedelta(minutes=1)])
        limit = self.per_second(channel)
        while True:
            window = clock.now().replace(microsecond=0)
            rows = await conn.execute_query_dict(_PG_TAKE, [str(channel), limit, window])
            if rows:
                return rows[0]["window_start"]
            # This second's window is full: wait for the next one.
            wait = (window + timedelta(seconds=1) - clock.now()).total_seconds()
            await asyncio.sleep(min(1.0, max(0.001, wait)))

    async def send(self, channel: Channel, adapter: ChannelAdapter, envelopes: list[Envelope]) -> list[Outcome]:
        """Send ``envelopes`` (one, from ``dispatch_due``) within the channel's connections and rate."""
        semaphore = self.semaphores.get(channel)
        async with semaphore or contextlib.nullcontext():
            if channel not in self.rates:
                return await adapter.send_batch(envelopes)
            outcomes: list[Outcome] = []
            for envelope in envelopes:  # one slot per message
                await self.acquire(channel)
                outcomes.extend(await adapter.send_batch([envelope]))
            return outcomes


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="carnet worker", description="Send what is due, until stopped.")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="messages in flight at once in this process (default 4)"
    )
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between passes when idle")
    parser.add_argument("--once", action="store_true", help="send what is due now, then exit")
    parser.add_argument("--worker-id", default="", help="the name claims are made under (default host:pid)")
    # Small batches keep several workers evenly busy (a loop holding 50 claims while another has none idles a
    # connection); a claim and the batch's reads cost a few statements, next to 20 messages on the wire.
    parser.add_argument("--batch", type=int, default=20, help="deliveries claimed at a time by one loop")
    # Accepted so existing command lines keep working: each message is now sent and recorded on its own.
    parser.add_argument("--chunk", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--lease",
        type=float,
        default=planning.LEASE.total_seconds(),
        help="seconds a claim holds before another worker may take it back (default 300)",
    )
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="CHANNEL=N",
        help="messages per second for a channel, shared by all workers on PostgreSQL (default sms=10, telegram=30)",
    )
    parser.add_argument(
        "--connections",
        action="append",
        default=[],
        metavar="CHANNEL=N",
        help="simultaneous connections to a channel's provider in this process (default email=4)",
    )
    args = parser.parse_args(list(argv))
    try:
        args.rates = {**DEFAULT_RATES, **_pairs(args.rate, float)}
        args.connection_limits = {**DEFAULT_CONNECTIONS, **_pairs(args.connections, int)}
    except ValueError as exc:
        parser.error(str(exc))
    if args.concurrency < 1 or args.batch < 1 or args.lease <= 0 or args.interval < 0:
        parser.error("--concurrency, --batch and --lease must be positive")
    return args


#: Housekeeping (expired leases, escalations, the weekly and staff digests) runs at most this often per loop: a
#: loop whose batches come full would otherwise repeat it every batch, for nothing, on every worker.
CHORES_EVERY = 1.0


async def _chores(
    n: int, adapters: Mapping[Channel, ChannelAdapter], base_url: str, worker_id: str, now: datetime
) -> None:
    reclaimed = await dispatch.reclaim_expired(now)
    if reclaimed:
        log.warning("%s: took back %s deliveries whose lease expired", worker_id, reclaimed)
    if n == 0:  # one loop per process looks for unacknowledged notices whose wait is over
        escalated = await planning.due_escalations(now)
        if escalated:
            log.info("%s: %s notices escalated to their next channel", worker_id, len(escalated))
        bundles = await grade_notices.send_weekly_grade_notices(
            now, available_channels=frozenset({Channel.PORTAL, *adapters})
        )
        if bundles:
            log.info("%s: %s weekly grade notices published", worker_id, len(bundles))
        digests = await dispatch.notify_staff_of_replies(adapters, now, base_url=base_url)
        if digests:
            log.info("%s: %s reply digests sent to staff", worker_id, digests)
        journals = await dispatch.send_journal_digests(adapters, now)
        if journals:
            log.info("%s: %s weekly journal digests published", worker_id, journals)


async def _loop(
    n: int,
    args: argparse.Namespace,
    adapters: Mapping[Channel, ChannelAdapter],
    limits: Limits,
    base_url: str,
    worker_id: str,
    stop: asyncio.Event,
    recorder: dispatch.Recorder | None = None,
    in_flight: int = 1,
) -> None:
    lease = timedelta(seconds=args.lease)
    chores_due = 0.0  # time.monotonic() of the next housekeeping
    while not stop.is_set():
        full = False
        try:
            now = clock.now()
            if time.monotonic() >= chores_due:
                chores_due = time.monotonic() + CHORES_EVERY
                await _chores(n, adapters, base_url, worker_id, now)
            report = await dispatch.dispatch_due(
                adapters,
                now=now,
                base_url=base_url,
                worker_id=f"{worker_id}/{n}",
                limit=args.batch,
                lease=lease,
                send=limits.send,
                stop=stop,
                recorder=recorder,
                in_flight=in_flight,
            )
            if report.claimed:
                log.info(
                    "%s/%s: %s claimed, %s sent, %s failed, %s released",
                    worker_id,
                    n,
                    report.claimed,
                    report.sent,
                    report.failed,
                    report.released,
                )
            full = report.claimed >= args.batch
        except Exception:
            log.exception("dispatch pass failed")
        if args.once and not full:
            return
        if not full:  # a full batch: more may be waiting, go on at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.interval)


#: Dispatch loops per process: while one claims and reads its next batch, the other's messages are on the wire.
LOOPS = 2


async def run_loops(
    args: argparse.Namespace,
    adapters: Mapping[Channel, ChannelAdapter],
    limits: Limits,
    base_url: str,
    worker_id: str,
    stop: asyncio.Event,
) -> None:
    """The sending loops of one process: ``--concurrency`` messages in flight in all, shared among :data:`LOOPS`
    loops, with the process's limits and one :class:`~hub.delivery.dispatch.Recorder` (the sends accepted meanwhile
    are written by one statement). Returns when they stop (``--once``: when nothing more is due)."""
    recorder = dispatch.Recorder()
    loops = min(LOOPS, args.concurrency)
    shares = [args.concurrency // loops + (1 if n < args.concurrency % loops else 0) for n in range(loops)]
    await asyncio.gather(
        *(
            _loop(n, args, adapters, limits, base_url, worker_id, stop, recorder, in_flight)
            for n, in_flight in enumerate(shares)
        )
    )


#: A job the command line hands the worker to run once a day (the retention job: ``hub.privacy`` sits above
#: delivery, so the worker is given it rather than importing it). It takes the moment it runs.
DailyJob = Callable[[datetime], Awaitable[object]]
#: How often the daily jobs run: each is safe to run again, so several worker processes may each run them.
DAILY_EVERY = timedelta(hours=24)


async def _run_daily(jobs: Sequence[DailyJob], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for job in jobs:
            try:
                log.info("daily job %s: %s", getattr(job, "__name__", job), await job(clock.now()))
            except Exception:
                log.exception("daily job failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), DAILY_EVERY.total_seconds())


async def serve(
    settings: Settings, args: argparse.Namespace, stop: asyncio.Event | None = None, daily: Sequence[DailyJob] = ()
) -> int:
    from channels.registry import build_adapters
    from hub.store.db import open_db

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker_id = args.worker_id or f"{socket.gethostname()}:{os.getpid()}"
    try:
        async with open_db(settings):
            adapters = build_adapters(settings)
            # The configured limits (CARNET_SEND_RATES, what the composer's estimate reads), then this worker's --rate.
            from hub.delivery.drain import configured_rates

            rates = {**configured_rates(settings), **_pairs(args.rate, float)}
            limits = Limits(rates=rates, connections=args.connection_limits)
            log.info("worker %s: %s loops, channels %s", worker_id, args.concurrency, sorted(map(str, adapters)))
            try:
                await asyncio.gather(
                    run_loops(args, adapters, limits, settings.base_url, worker_id, stop),
                    *([_run_daily(daily, stop)] if daily and not args.once else []),
                )
            finally:
                for adapter in adapters.values():
                    with contextlib.suppress(Exception):
                        await adapter.close()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("worker %s stopped", worker_id)
    return 0


def main(settings: Settings, argv: Sequence[str], daily: Sequence[DailyJob] = ()) -> int:
    """``carnet worker [--concurrency N] [--interval S] [--once] [--worker-id ID] [--batch N] [--lease S]
    [--rate CHANNEL=N] [--connections CHANNEL=N]``; returns the exit status (0 after a clean stop)."""
    args = parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(serve(settings, args, daily=daily))


__all__ = [
    "EMAIL_CONNECTIONS",
    "PURGE_EVERY",
    "SMS_PER_SECOND",
    "TELEGRAM_PER_SECOND",
    "Limits",
    "TokenBucket",
    "main",
    "run_loops",
    "serve",
]
