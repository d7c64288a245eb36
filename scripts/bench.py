"""Carnet's benchmarks (not tests): every figure is a ratio against a baseline measured in the same run, on the same
machine, through the same driver, so that a noisy machine moves both sides alike.

- fan-out: ``planning.publish`` to N families vs one ``executemany`` of the same rows (notices, their pupils,
  deliveries) through the same driver; and the memory the publish takes at two sizes (flat: the same);
- report: ``delivery_report`` over many deliveries vs one ``GROUP BY channel, state`` count of the same rows;
  and a far page of "families not reached" vs the first;
- sending: the worker's loops sending N emails vs one reused aiosmtplib connection and a naive smtplib loop that
  opens a connection per email, against a peer that behaves like a provider across a network (STARTTLS with a
  local certificate, a fixed delay before each reply);
- workers: email deliveries per second with 1 and 4 ``carnet worker`` processes on PostgreSQL (the former
  ``scripts/bench_workers``), with the CPU each used;
- portal: a guardian's ``/portal`` inbox under load from a second process vs a bare Starlette endpoint in the same
  server (the fixed page, and the same rows read with one query and rendered with one template).

``scripts/bench`` runs them all; ``--quick`` in under two minutes; ``--check-only`` once each on tiny sizes,
asserting nothing about time (the test suite runs it, so no bench can rot). The table is printed at the end and
the figures written to ``var/bench.json`` (``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import smtplib
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from tqdm import tqdm  # noqa: E402

from hub.enums import Channel, DeliveryPurpose, DeliveryState, Urgency  # noqa: E402
from hub.store import db as hubdb  # noqa: E402
from hub.store import sql  # noqa: E402
from hub.testing import postgres  # noqa: E402
from hub.testing.netpeer import NetworkSmtpPeer  # noqa: E402
from hub.testing.scale import big_school, insert_deliveries, insert_notices  # noqa: E402

BASE_URL = "https://carnet.example.be"
#: A Tuesday 10:00 in term (Brussels): normal messages go out at once.
TUESDAY_10 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@dataclass
class Figure:
    bench: str
    what: str
    carnet: float
    baseline: float
    baseline_what: str
    #: carnet / baseline for times (lower is better); for a speed-up, how many times faster (higher is better).
    ratio: float
    target: str
    met: bool | None
    unit: str = "s"


@dataclass
class Sizes:
    fanout: tuple[int, ...]
    report_deliveries: int
    #: One report dataset per number of notices (the same deliveries spread over more, smaller messages' notices).
    report_notices: tuple[int, ...]
    emails: int
    worker_emails: int
    workers: tuple[int, ...]
    portal_requests: int
    repeats: int


SIZES = {
    "check": Sizes((60, 120), 2_000, (200,), 12, 30, (1, 2), 40, 1),
    "quick": Sizes((2_000, 6_000), 100_000, (10_000,), 300, 1_200, (1, 4), 600, 1),
    "full": Sizes((10_000, 50_000), 1_000_000, (50_000, 333_000), 2_000, 2_000, (1, 2, 4), 3_000, 3),
}


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.mode = "check" if args.check_only else "quick" if args.quick else "full"
        self.sizes = SIZES[self.mode]
        self.figures: list[Figure] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="carnet-bench-"))
        self.server: postgres.PostgresServer | None = None
        self.template = "carnet_bench_template"
        self._databases = 0

    # -------------------------------------------------------------------------------------------- databases

    def postgres(self) -> postgres.PostgresServer:
        if self.server is None:
            self.server = postgres.start_postgres()
            asyncio.run(self._template())
        return self.server

    async def _template(self) -> None:
        assert self.server is not None
        url = await postgres.create_database(self.server, self.template)
        await hubdb.migrate(url)

    async def database(self, kind: str) -> str:
        """A fresh, migrated database, its URL."""
        self._databases += 1
        if kind == "sqlite":
            url = f"sqlite://{self.workdir}/bench-{self._databases}.sqlite3"
            await hubdb.migrate(url)
            return url
        assert self.server is not None
        return await postgres.create_database(self.server, f"carnet_bench_{self._databases}", template=self.template)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        # Each figure as soon as it is measured, so that a long run stopped half-way has still said something.
        tqdm.write(f"{figure.bench}: {figure.what}: {figure.ratio:.2f}x ({figure.baseline_what}; {figure.target})")

    # -------------------------------------------------------------------------------------------- fan-out

    async def fanout(self, kind: str) -> None:
        from hub.messaging.planning import publish

        peaks: dict[int, float] = {}
        for families in self.sizes.fanout:
            url = await self.database(kind)
            await hubdb.init(url)
            try:
                await _warm_publish()
                school = await big_school(families, now=TUESDAY_10)
                carnet, baseline = [], []
                for _ in range(self.sizes.repeats):
                    message = await school.message()
                    await _settle(kind)
                    carnet.append(
                        await _timed(
                            lambda m=message, s=school: publish(
                                m.id,
                                now=TUESDAY_10,
                                actor_staff_id=s.teacher.id,
                                available_channels=frozenset({Channel.PORTAL, Channel.EMAIL}),
                            )
                        )
                    )
                    draft = await school.message(subject="baseline")
                    await _settle(kind)
                    baseline.append(await _timed(lambda d=draft, s=school: _raw_fanout(d.id, s.guardian_ids)))
                message = await school.message(subject="memory")
                tracemalloc.start()
                await publish(
                    message.id,
                    now=TUESDAY_10,
                    actor_staff_id=school.teacher.id,
                    available_channels=frozenset({Channel.PORTAL, Channel.EMAIL}),
                )
                peaks[families] = tracemalloc.get_traced_memory()[1] / 1e6
                tracemalloc.stop()
            finally:
                await hubdb.close()
            c, b = statistics.median(carnet), statistics.median(baseline)
            self.add(
                Figure(
                    "fanout",
                    f"publish to {families:,} families, {kind}",
                    c,
                    b,
                    "executemany of the same rows",
                    c / b,
                    "<= 2x",
                    c / b <= 2,
                )
            )
        small, large = self.sizes.fanout[0], self.sizes.fanout[-1]
        growth = peaks[large] / peaks[small]
        self.add(
            Figure(
                "fanout",
                f"publish's peak memory, {large:,} vs {small:,} families, {kind}",
                peaks[large],
                peaks[small],
                f"the same at {small:,} families (MB)",
                growth,
                "flat (<= 1.5x)",
                growth <= 1.5,
                unit="MB",
            )
        )

    # -------------------------------------------------------------------------------------------- report

    async def report(self) -> None:
        for notices in self.sizes.report_notices:
            await self._report(notices)

    async def _report(self, notices_total: int) -> None:
        from hub.reports.delivery import UNREACHED_PAGE, delivery_report, period_of

        url = await self.database("postgres")
        await hubdb.init(url)
        try:
            deliveries = self.sizes.report_deliveries
            families = min(5_000, notices_total)
            school = await big_school(families, now=TUESDAY_10)
            per_notice = max(1, deliveries // notices_total)
            notice_ids: list[int] = []
            for i in range(max(1, notices_total // families)):
                message = await school.message(needs_ack=True, subject=f"Message {i}")
                await sql.execute(
                    "UPDATE message SET state = 'published', published_at = $1 WHERE id = $2",
                    [TUESDAY_10 - dt.timedelta(days=i % 60), message.id],
                )
                ids = await insert_notices(
                    message.id, school.guardian_ids, now=TUESDAY_10, plan=(Channel.EMAIL, Channel.LETTER)
                )
                notice_ids += ids
            states = [DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.DELIVERED, DeliveryState.CANCELLED]
            for k in range(per_notice):
                # Most notices reached; one in five whose every row failed (the families not reached).
                reached = [n for j, n in enumerate(notice_ids) if j % 5]
                failed = [n for j, n in enumerate(notice_ids) if not j % 5]
                state = states[k % len(states)]
                ok = state in (DeliveryState.SENT, DeliveryState.DELIVERED)
                await insert_deliveries(
                    reached,
                    channel=Channel.EMAIL,
                    step=0,
                    state=state,
                    due_at=TUESDAY_10,
                    sent_at=TUESDAY_10 if ok else None,
                )
                await insert_deliveries(
                    failed, channel=Channel.EMAIL, step=0, state=DeliveryState.FAILED, due_at=TUESDAY_10
                )
            await sql.execute("ANALYZE")
            total = (await sql.query("SELECT COUNT(*) AS n FROM delivery"))[0]["n"]
            period = period_of("2026-09-01", "2026-12-31", now=TUESDAY_10, tz="Europe/Brussels")

            async def carnet(offset: int = 0) -> None:
                await delivery_report(school.school.id, period, now=TUESDAY_10, offset=offset)

            async def grouped() -> None:
                await sql.query("SELECT channel, state, COUNT(*) AS n FROM delivery GROUP BY channel, state")

            # The first report after the rows arrived computes every message's tallies (as the first one after the
            # upgrade does); the next ones recompute only the messages that changed in between (none here).
            first = await _timed(carnet)
            await grouped()  # warm the caches alike
            c = statistics.median([await _timed(carnet) for _ in range(self.sizes.repeats)])
            b = statistics.median([await _timed(grouped) for _ in range(self.sizes.repeats)])
            self.add(
                Figure(
                    "report",
                    f"the first report over {total:,} deliveries, computing every message's tallies",
                    first,
                    b,
                    "one GROUP BY channel, state count",
                    first / b,
                    "once (after the upgrade)",
                    None,
                )
            )
            self.add(
                Figure(
                    "report",
                    f"delivery report, {total:,} deliveries over {len(notice_ids):,} notices, PostgreSQL",
                    c,
                    b,
                    "one GROUP BY channel, state count",
                    c / b,
                    "<= 3x",
                    c / b <= 3,
                )
            )
            # The page links go by keyset (the page after a notice): the last family of the page before the far one.
            unreached = len(notice_ids) // 5
            far = max(0, (unreached // UNREACHED_PAGE - 1) * UNREACHED_PAGE)
            key = None
            if far:
                before_far = await delivery_report(school.school.id, period, now=TUESDAY_10, offset=far - 1, limit=1)
                key = before_far.unreached[0].notice_id if before_far.unreached else None

            async def far_page() -> None:
                await delivery_report(school.school.id, period, now=TUESDAY_10, offset=far, after=key)

            f = statistics.median([await _timed(far_page) for _ in range(self.sizes.repeats)])
            self.add(
                Figure(
                    "report",
                    f"the same, families not reached from #{far:,} (the page after a family)",
                    f,
                    c,
                    "the first page",
                    f / c,
                    "<= 1.2x",
                    f / c <= 1.2,
                )
            )
            # While a worker sends: one message's deliveries move between two reports, whose tallies it recomputes.
            latest = await sql.query("SELECT MAX(message_id) AS id FROM notice")
            moving = await sql.query(
                "SELECT id FROM delivery WHERE state = 'failed' AND notice_id IN "
                "(SELECT id FROM notice WHERE message_id = $1) ORDER BY id LIMIT 200",
                [latest[0]["id"]],
            )

            ids = [r["id"] for r in moving]
            moved = []
            for _ in range(self.sizes.repeats):
                await sql.execute(
                    "UPDATE delivery SET state = 'sent', sent_at = $1 WHERE id = ANY($2)", [TUESDAY_10, ids]
                )
                moved.append(await _timed(carnet))
                await sql.execute("UPDATE delivery SET state = 'failed', sent_at = NULL WHERE id = ANY($1)", [ids])
            m = statistics.median(moved)
            self.add(
                Figure(
                    "report",
                    f"the same right after {len(ids)} deliveries of one message "
                    f"({len(school.guardian_ids):,} families) moved",
                    m,
                    b,
                    "one GROUP BY channel, state count",
                    m / b,
                    "<= 3x",
                    m / b <= 3,
                )
            )
        finally:
            await hubdb.close()

    # -------------------------------------------------------------------------------------------- sending

    async def sending(self, kind: str, delay: float) -> None:
        from channels.email import EmailAdapter, EmailSettings
        from hub.delivery import worker
        from hub.messaging.planning import publish

        emails = self.sizes.emails
        with NetworkSmtpPeer(self.workdir / "tls", delay=delay) as peer:
            url = await self.database(kind)
            await hubdb.init(url)
            try:
                school = await big_school(emails, now=TUESDAY_10)
                message = await school.message(urgency=Urgency.EMERGENCY, subject="Évacuation")
                await publish(
                    message.id,
                    now=TUESDAY_10,
                    actor_staff_id=school.principal.id,
                    available_channels=frozenset({Channel.PORTAL, Channel.EMAIL}),
                )
                settings = EmailSettings(host="127.0.0.1", port=peer.port, starttls=True, sender="École <e@example.be>")
                adapter = EmailAdapter(settings)
                args = worker.parse_args(["--once", "--interval", "0"])
                limits = worker.Limits(rates=args.rates, connections=args.connection_limits)
                stop = asyncio.Event()
                from hub import clock

                with clock.using(clock.FixedClock(TUESDAY_10 + dt.timedelta(seconds=1))):
                    started = time.perf_counter()
                    await worker.run_loops(args, {Channel.EMAIL: adapter}, limits, BASE_URL, "bench", stop)
                    carnet = time.perf_counter() - started
                with contextlib.suppress(Exception):
                    await adapter.close()
                sent = await sql.query("SELECT COUNT(*) AS n FROM delivery WHERE channel = 'email' AND state = 'sent'")
                assert sent[0]["n"] == emails, f"{sent[0]['n']} of {emails} emails sent"
            finally:
                await hubdb.close()
            messages = [_plain_email(i) for i in range(emails)]
            reused = await _timed(lambda: _reused_connection(peer.port, messages))
            naive = await _timed(lambda: asyncio.to_thread(_naive_loop, peer.port, messages))
        where = f"{emails:,} emails, {kind}, peer {delay * 1000:.0f} ms/reply + STARTTLS"
        self.add(
            Figure(
                "sending",
                where,
                carnet,
                reused,
                "one reused aiosmtplib connection",
                carnet / reused,
                "<= 1.5x",
                carnet / reused <= 1.5,
            )
        )
        self.add(
            Figure(
                "sending",
                where,
                carnet,
                naive,
                "naive smtplib loop (a connection per email)",
                naive / carnet,
                ">= 5x faster",
                naive / carnet >= 5,
                unit="x faster",
            )
        )

    # -------------------------------------------------------------------------------------------- workers

    async def workers(self, delay: float) -> None:
        from hub.messaging.models import Delivery
        from hub.messaging.planning import publish

        rates: dict[int, tuple[float, float, int, float]] = {}
        per_email: dict[int, float] = {}
        with NetworkSmtpPeer(self.workdir / "tls-workers", delay=delay) as peer:
            for n in self.sizes.workers:
                url = await self.database("postgres")
                await hubdb.init(url)
                try:
                    school = await big_school(self.sizes.worker_emails, now=TUESDAY_10)
                    procs = [self._worker(url, peer.port, f"w{n}-{i}") for i in range(n)]
                    try:
                        logs = [self.workdir / f"w{n}-{i}.log" for i in range(n)]
                        deadline = time.monotonic() + 60
                        while not all(log.exists() and "loops" in log.read_text() for log in logs):
                            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                                raise RuntimeError(f"workers did not start: see {self.workdir}")
                            await asyncio.sleep(0.1)
                        cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
                        peer_before, machine_before = peer.cpu_seconds(), _machine_cpu()
                        pg_before = _postgres_cpu(self.postgres())
                        message = await school.message(urgency=Urgency.EMERGENCY, subject="Évacuation")
                        from hub import clock

                        await publish(
                            message.id,
                            now=clock.now(),
                            actor_staff_id=school.principal.id,
                            available_channels=frozenset({Channel.PORTAL, Channel.EMAIL}),
                        )
                        emails = Delivery.filter(notice__message_id=message.id, channel=Channel.EMAIL)
                        total = await emails.count()
                        started = time.perf_counter()
                        while await emails.exclude(state=DeliveryState.SENT).exists():
                            if time.perf_counter() - started > 900:
                                raise RuntimeError(f"not done after 900 s: see {self.workdir}")
                            await asyncio.sleep(0.05)
                        seconds = time.perf_counter() - started
                        cpu = sum(_cpu_seconds(p.pid) for p in procs) - cpu_before
                        peer_cpu = peer.cpu_seconds() - peer_before
                        pg_cpu = _postgres_cpu(self.postgres()) - pg_before
                        busy, idle = (
                            after - before for after, before in zip(_machine_cpu(), machine_before, strict=True)
                        )
                    finally:
                        for p in procs:
                            p.terminate()
                        for p in procs:
                            p.wait(30)
                finally:
                    await hubdb.close()
                # What the machine had to give: the peer's share and how busy all its cores were (other work too).
                machine = busy / max(busy + idle, 1e-9) * 100
                rates[n] = (total / seconds, cpu / seconds, total, machine)
                # The CPU all the parts need per email (the workers, the peer, PostgreSQL): what two cores allow.
                per_email[n] = (cpu + peer_cpu + pg_cpu) / total
                tqdm.write(
                    f"workers: {n}: {total / seconds:.0f} emails/s, workers {cpu / seconds:.2f} CPU, "
                    f"peer {peer_cpu / seconds:.2f} CPU, PostgreSQL {pg_cpu / seconds:.2f} CPU, "
                    f"{per_email[n] * 1000:.1f} ms CPU per email in all, machine {machine:.0f}% busy of "
                    f"{os.cpu_count()} cores"
                )
        one = rates[1][0]
        for n, (rate, cpu_share, total, machine) in rates.items():
            if n == 1:
                continue
            self.add(
                Figure(
                    "workers",
                    f"{n} workers vs 1, PostgreSQL, {total:,} emails, peer {delay * 1000:.0f} ms/reply "
                    f"(1: {one:.0f}/s, {rates[1][1]:.2f} CPU, {rates[1][1] / one * 1000:.1f} ms CPU/email, "
                    f"machine {rates[1][3]:.0f}% busy; {n}: {rate:.0f}/s, {cpu_share:.2f} CPU, "
                    f"{cpu_share / rate * 1000:.1f} ms CPU/email, machine {machine:.0f}% busy; workers, peer and "
                    f"PostgreSQL {per_email[n] * 1000:.1f} ms CPU per email: {os.cpu_count()} cores allow "
                    f"{(os.cpu_count() or 1) / per_email[n]:.0f}/s)",
                    rate,
                    one,
                    "1 worker (emails/s)",
                    rate / one,
                    ">= 3x" if n == 4 else "",
                    None if n != 4 else rate / one >= 3,
                    unit="emails/s",
                )
            )

    def _worker(self, url: str, port: int, name: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
        env.update(
            CARNET_DATABASE_URL=url,
            CARNET_SMTP_HOST="127.0.0.1",
            CARNET_SMTP_PORT=str(port),
            CARNET_SMTP_STARTTLS="true",
            CARNET_DATA_DIR=str(self.workdir),
        )
        cmd = [sys.executable, "-m", "hub", "worker", "--worker-id", name, "--interval", "0.1"]
        log = (self.workdir / f"{name}.log").open("wb")
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)

    # -------------------------------------------------------------------------------------------- portal

    async def portal(self, kind: str) -> None:
        """A guardian's inbox under load from a second process, against two endpoints of the same server (mounted
        by the bench's app factory only, :func:`_portal_app`): the same rows read with one hand-written query and
        rendered with one template, and the fixed page (the ceiling)."""
        url = await self.database(kind)
        await hubdb.init(url)
        try:
            guardian_id, cookie, notices = await _portal_family()
        finally:
            await hubdb.close()
        port = _free_port()
        server = self._portal_server(url, port, kind)
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(OSError):
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"the portal's server did not start: see {self.workdir}/portal-{kind}.log")
                await asyncio.sleep(0.1)
            clients = 4 if self.mode == "check" else 20
            paths = {
                "portal": "/portal",
                "raw": f"/bench/inbox?guardian={guardian_id}",
                "fixed": "/bench/fixed",
            }
            found: dict[str, dict[str, float]] = {}
            for name, path in paths.items():
                found[name] = await asyncio.to_thread(
                    _load_from_a_process, port, path, cookie, clients, self.sizes.portal_requests
                )
        finally:
            server.terminate()
            server.wait(30)
        db = "SQLite" if kind == "sqlite" else "PostgreSQL"
        portal, raw, fixed = found["portal"], found["raw"], found["fixed"]
        where = (
            f"/portal inbox (3 children, {notices} notices), {clients} clients, {db} "
            f"(p50 {portal['p50'] * 1000:.1f} ms; {int(portal['bytes']):,} bytes)"
        )
        self.add(
            Figure(
                "portal",
                where,
                portal["rps"],
                raw["rps"],
                f"one query + one template, same server (req/s; p50 {raw['p50'] * 1000:.1f} ms)",
                portal["rps"] / raw["rps"],
                ">= 0.33x",
                portal["rps"] / raw["rps"] >= 1 / 3,
                unit="req/s",
            )
        )
        self.add(
            Figure(
                "portal",
                where,
                portal["rps"],
                fixed["rps"],
                f"the fixed page, same server: the ceiling (req/s; p50 {fixed['p50'] * 1000:.1f} ms)",
                portal["rps"] / fixed["rps"],
                "",
                None,
                unit="req/s",
            )
        )

    def _portal_server(self, url: str, port: int, kind: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"portal-{kind}.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
        cmd = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--portal-server", url, str(port), str(self.workdir)]
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def _machine_cpu() -> tuple[float, float]:
    """The whole machine's busy and idle CPU seconds so far, all cores (Linux ``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), idle / os.sysconf("SC_CLK_TCK")


def _postgres_cpu(server: postgres.PostgresServer) -> float:
    """The CPU seconds of a PostgreSQL server we started so far: the postmaster's, its ended children's and its
    running ones' (the backends, the background writers)."""
    if server.datadir is None:
        return 0.0
    try:
        master = int((server.datadir / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return 0.0
    total = sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            child = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if child[1] == str(master):
            total += (int(child[11]) + int(child[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _settle(kind: str) -> None:
    """Both sides of a fan-out figure start from the same state: the garbage of building the school collected
    (a full collection over the objects left by the migrations and the school took 0.12 s, and fell inside
    whichever side allocated next), and on SQLite the write-ahead log emptied into the database (the checkpoint
    the school's rows made due falls on the next write otherwise)."""
    gc.collect()
    if kind == "sqlite":
        await sql.query("PRAGMA wal_checkpoint(TRUNCATE)")


async def _raw_fanout(message_id: int, guardian_ids: list[int]) -> None:
    """The rows a publish writes (a notice, its pupil, the inbox step and the email step per family), with one
    ``executemany`` per table through the same driver: what a publish cannot beat."""
    from tortoise.transactions import in_transaction

    async with in_transaction():
        ids = await insert_notices(message_id, guardian_ids, now=TUESDAY_10, plan=(Channel.PORTAL, Channel.EMAIL))
        pupils = await sql.query("SELECT id FROM pupil ORDER BY id LIMIT 1")
        await sql.insert_many("notice_pupil", ("notice_id", "pupil_id"), ((n, pupils[0]["id"]) for n in ids))
        await insert_deliveries(
            ids, channel=Channel.PORTAL, step=0, state=DeliveryState.DELIVERED, due_at=TUESDAY_10, sent_at=TUESDAY_10
        )
        await insert_deliveries(
            ids,
            channel=Channel.EMAIL,
            step=1,
            state=DeliveryState.DUE,
            due_at=TUESDAY_10,
            purpose=DeliveryPurpose.INITIAL,
        )


async def _warm_publish() -> None:
    """One publish to a tiny school of its own, so that the one-time costs of a process (imports, the charter read
    once) are not counted in the first size measured."""
    from hub.messaging.planning import publish

    tiny = await big_school(5, now=TUESDAY_10, tag="W")
    warm = await tiny.message(subject="warm")
    await publish(
        warm.id, now=TUESDAY_10, actor_staff_id=tiny.teacher.id, available_channels=frozenset({Channel.PORTAL})
    )


def _plain_email(i: int) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = "École <e@example.be>"
    mime["To"] = f"parent{i}@example.be"
    mime["Subject"] = "Évacuation de l'école"
    mime.set_content("Les élèves sont au parc voisin, venez les chercher.\n\nhttps://carnet.example.be/n/token")
    return mime


async def _reused_connection(port: int, messages: list[EmailMessage]) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True) as smtp:
        for mime in messages:
            await smtp.send_message(mime)


def _naive_loop(port: int, messages: list[EmailMessage]) -> None:
    context = ssl.create_default_context()
    for mime in messages:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.starttls(context=context)
            smtp.send_message(mime)


# -------------------------------------------------------------------------------------------------- portal


async def _portal_family() -> tuple[int, str, int]:
    """A class of 60 families; the first guardian has three children in it and a term's worth of notices (a third
    read, one in four asking for "I have read", three reply slips, two with a file), and a live session. Returns
    the guardian, the session's cookie and the number of their notices."""
    from hub import clock
    from hub.enums import ActorKind, AudienceKind, Relation
    from hub.messaging.models import Attachment, MessageAudience, ReplySlip
    from hub.messaging.planning import publish
    from hub.people.models import Guardianship
    from hub.people.security import start_session

    now = clock.now()
    school = await big_school(60, now=now, tag="F")
    guardian = school.guardian_ids[0]
    pupils = [
        row["id"]
        for row in await sql.query("SELECT id FROM pupil WHERE school_id = $1 ORDER BY id LIMIT 3", [school.school.id])
    ]
    household = (await sql.query("SELECT household_id FROM guardian WHERE id = $1", [guardian]))[0]["household_id"]
    for pupil in pupils[1:]:
        await Guardianship.create(
            pupil_id=pupil, guardian_id=guardian, relation=Relation.MOTHER, household_id=household
        )
    audiences = [[p] for p in pupils for _ in range(14)] + [[]] * 6  # [] is the whole class
    for i, named in enumerate(audiences):
        message = await school.message(needs_ack=i % 4 == 0, subject=f"Information {i}: sortie, réunion, piscine")
        if named:
            await MessageAudience.filter(message_id=message.id).delete()
            await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=named[0])
        if i % 16 == 3:
            await ReplySlip.create(message=message, deadline=now + dt.timedelta(days=7))
        if i % 20 == 5:
            await Attachment.create(
                message=message, filename="programme.pdf", content_type="application/pdf", size=4, sha256="0" * 64,
                data=b"%PDF",
            )  # fmt: skip
        await publish(
            message.id, now=now, actor_staff_id=school.teacher.id, available_channels=frozenset({Channel.PORTAL})
        )
    await sql.execute("UPDATE notice SET first_read_at = $1 WHERE guardian_id = $2 AND id % 3 = 0", [now, guardian])
    notices = (await sql.query("SELECT COUNT(*) AS n FROM notice WHERE guardian_id = $1", [guardian]))[0]["n"]
    session = await start_session(ActorKind.GUARDIAN, guardian, now)
    return guardian, f"carnet_session={session.token}", int(notices)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


#: The page the bare endpoint renders: the inbox's lines, in one template, no layout but a header.
_BARE_INBOX = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Messages</title></head><body>
<header><nav><a href="/portal">Messages</a> <a href="/portal/children">Mes enfants</a></nav></header>
<main><h1>Messages</h1><p>{{ total }} messages, {{ unread }} non lus</p><ul class="inbox">
{% for n in rows %}<li class="{{ 'unread' if n.unread }}"><a href="/portal/notices/{{ n.id }}">{{ n.subject }}</a>
<span class="from">{{ n.sender }}</span> <time datetime="{{ n.sent_at }}">{{ n.sent_at }}</time>
<span class="pupils">{{ n.pupils }}</span>{% if n.to_ack %} <strong>À confirmer</strong>{% endif %}
{% if n.deadline %} <span class="slip">Réponse avant le {{ n.deadline }}</span>{% endif %}
{% if n.files %} <span class="files">pièce jointe</span>{% endif %}</li>
{% endfor %}</ul></main></body></html>"""


def _portal_app(url: str, port: int, workdir: Path) -> Any:
    """The bench's app factory: the product's app (as ``carnet serve`` builds it) with two endpoints mounted before
    its routes, which exist in this server only: ``/bench/inbox`` (the guardian's first page of notices read with
    one hand-written query, rendered with one Jinja template) and ``/bench/fixed`` (that page as a fixed string)."""
    import jinja2
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from hub.config import Settings
    from hub.web import create_app

    template = jinja2.Environment(autoescape=True).from_string(_BARE_INBOX)
    fixed: list[bytes] = []

    def query() -> str:
        names = (
            "string_agg(p.first_name || ' ' || p.last_name, ', ')"
            if sql.is_postgres()
            else "group_concat(p.first_name || ' ' || p.last_name, ', ')"
        )
        return (
            "SELECT n.id, m.subject, s.first_name || ' ' || s.last_name AS sender, "
            "COALESCE(m.published_at, n.created_at) AS sent_at, n.first_read_at IS NULL AS unread, "
            "m.needs_acknowledgement AND NOT EXISTS "
            "(SELECT 1 FROM acknowledgement a WHERE a.notice_id = n.id) AS to_ack, "
            "(SELECT rs.deadline FROM reply_slip rs WHERE rs.message_id = m.id) AS deadline, "
            "EXISTS (SELECT 1 FROM attachment f WHERE f.message_id = m.id) AS files, "
            f"(SELECT {names} FROM notice_pupil np JOIN pupil p ON p.id = np.pupil_id "
            "WHERE np.notice_id = n.id) AS pupils, "
            "COUNT(*) OVER () AS total, "
            "SUM(CASE WHEN n.first_read_at IS NULL THEN 1 ELSE 0 END) OVER () AS unread_total "
            "FROM notice n JOIN message m ON m.id = n.message_id JOIN staff s ON s.id = m.author_id "
            "WHERE n.guardian_id = $1 AND m.state = 'published' ORDER BY sent_at DESC, n.id DESC LIMIT 20"
        )

    async def bare_inbox(request: Request) -> HTMLResponse:
        rows = await sql.query(query(), [int(request.query_params["guardian"])])
        total = rows[0]["total"] if rows else 0
        unread = rows[0]["unread_total"] if rows else 0
        return HTMLResponse(template.render(rows=rows, total=total, unread=unread))

    async def fixed_page(request: Request) -> HTMLResponse:
        if not fixed:
            fixed.append(_FIXED_PAGE)
        return HTMLResponse(fixed[0])

    settings = Settings(data_dir=workdir, database_url=url, base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    app.router.routes[0:0] = [Route("/bench/inbox", bare_inbox), Route("/bench/fixed", fixed_page)]
    return app


#: The fixed page: 7.6 KB, the size of an inbox page.
_FIXED_PAGE = (b"<!doctype html><html><body><p>" + b"Carnet " * 1080 + b"</p></body></html>")[:7600]


def _portal_server(url: str, port: int, workdir: Path) -> None:
    """``carnet serve`` (uvicorn's defaults, one process) over the bench's app."""
    import uvicorn

    uvicorn.run(_portal_app(url, port, workdir), host="127.0.0.1", port=port)


def _load_from_a_process(port: int, path: str, cookie: str, clients: int, requests: int) -> dict[str, float]:
    """Run :func:`_load` in a second process (the load must not share the server's interpreter, nor this one's)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--portal-load", str(port), path, cookie, str(clients),
         str(requests)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the load on {path} failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def _load(port: int, path: str, cookie: str, clients: int, requests: int) -> dict[str, float]:
    """``clients`` keep-alive HTTP/1.1 connections on loopback sending GET ``path`` until ``requests`` answers came
    back (after one warm-up request each); requests per second and the median latency. Any answer but 200 fails."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
               "Accept-Language: fr\r\nConnection: keep-alive\r\n\r\n").encode()  # fmt: skip
    latencies: list[float] = []
    sizes: list[int] = []
    left = [requests]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"GET {path}: {status.decode()} {body[:300]!r}")
        sizes.append(len(body))
        return time.perf_counter() - started

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await one(reader, writer)  # warm-up, not counted
        await barrier.wait()
        while left[0] > 0:
            left[0] -= 1
            latencies.append(await one(reader, writer))
        writer.close()

    barrier = asyncio.Barrier(clients + 1)
    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await barrier.wait()
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    return {"rps": len(latencies) / seconds, "p50": statistics.median(latencies), "bytes": statistics.median(sizes)}


# -------------------------------------------------------------------------------------------------- the run


def _table(figures: list[Figure]) -> str:
    lines = [
        "| bench | what | Carnet | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        unit = "s" if f.unit == "s" else f" {f.unit}"
        ratio = f"{f.ratio:.2f}x" if f.unit != "x faster" else f"{f.ratio:.1f}x faster"
        met = "" if f.met is None else ("yes" if f.met else "no")
        carnet = f"{f.carnet:.3f}{unit}" if f.unit != "x faster" else f"{f.carnet:.3f}s"
        base = f"{f.baseline:.3f}{unit if f.unit != 'x faster' else 's'} ({f.baseline_what})"
        lines.append(f"| {f.bench} | {f.what} | {carnet} | {base} | {ratio} | {f.target} | {met} |")
    return "\n".join(lines)


BENCHES = ("fanout", "report", "sending", "workers", "portal")


def main() -> int:
    if sys.argv[1:2] == ["--portal-server"]:  # the portal bench's server (a process of its own)
        _portal_server(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
        return 0
    if sys.argv[1:2] == ["--portal-load"]:  # the portal bench's load (a second process)
        port, path, cookie, clients, requests = sys.argv[2:7]
        print(json.dumps(asyncio.run(_load(int(port), path, cookie, int(clients), int(requests)))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: under two minutes")
    parser.add_argument("--check-only", action="store_true", help="every bench once on tiny sizes (the test suite)")
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES))
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "bench.json", help="where the figures go")
    parser.add_argument("--delay", type=float, default=0.002, help="the SMTP peer's delay before each reply (s)")
    args = parser.parse_args()
    bench = Bench(args)
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if "fanout" in args.only:
        steps += [
            ("fan-out, SQLite", lambda: bench.fanout("sqlite")),
            ("fan-out, PostgreSQL", lambda: bench.fanout("postgres")),
        ]
    if "report" in args.only:
        steps.append(("delivery report", bench.report))
    if "sending" in args.only:
        steps += [
            ("sending, SQLite", lambda: bench.sending("sqlite", args.delay)),
            ("sending, PostgreSQL", lambda: bench.sending("postgres", args.delay)),
        ]
    if "workers" in args.only:
        steps.append(("workers", lambda: bench.workers(max(args.delay, 0.005))))
    if "portal" in args.only:
        steps += [
            ("portal, SQLite", lambda: bench.portal("sqlite")),
            ("portal, PostgreSQL", lambda: bench.portal("postgres")),
        ]
    try:
        bench.postgres()
    except postgres.PostgresUnavailable as exc:
        print(f"PostgreSQL is needed: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with tqdm(total=len(steps), unit="bench", file=sys.stderr, dynamic_ncols=True) as bar:
        for name, step in steps:
            bar.set_description(name)
            asyncio.run(step())
            bar.update()
    took = time.perf_counter() - started
    print(f"\nCarnet benchmarks ({bench.mode}, {took:.0f} s; {os.cpu_count()} CPUs, {platform.python_version()}):\n")
    print(_table(bench.figures))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "mode": bench.mode,
                "seconds": took,
                "cpus": os.cpu_count(),
                "figures": [asdict(f) for f in bench.figures],
            },
            indent=2,
        )
    )
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
