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
    report_notices: int
    emails: int
    worker_emails: int
    workers: tuple[int, ...]
    portal_requests: int
    repeats: int


SIZES = {
    "check": Sizes((60, 120), 2_000, 200, 12, 30, (1, 2), 40, 1),
    "quick": Sizes((2_000, 6_000), 100_000, 10_000, 300, 400, (1, 4), 600, 1),
    "full": Sizes((10_000, 50_000), 1_000_000, 50_000, 2_000, 2_000, (1, 2, 4), 3_000, 3),
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
                school = await big_school(families, now=TUESDAY_10)
                carnet, baseline = [], []
                for _ in range(self.sizes.repeats):
                    message = await school.message()
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
        from hub.reports.delivery import UNREACHED_PAGE, delivery_report, period_of

        url = await self.database("postgres")
        await hubdb.init(url)
        try:
            notices_total, deliveries = self.sizes.report_notices, self.sizes.report_deliveries
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
                    await asyncio.gather(
                        *(
                            worker._loop(n, args, {Channel.EMAIL: adapter}, limits, BASE_URL, "bench", stop)
                            for n in range(args.concurrency)
                        )
                    )
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

        rates: dict[int, tuple[float, float, int]] = {}
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
                    finally:
                        for p in procs:
                            p.terminate()
                        for p in procs:
                            p.wait(30)
                finally:
                    await hubdb.close()
                rates[n] = (total / seconds, cpu / seconds, total)
        one = rates[1][0]
        for n, (rate, cpu_share, total) in rates.items():
            if n == 1:
                continue
            self.add(
                Figure(
                    "workers",
                    f"{n} workers vs 1, PostgreSQL, {total:,} emails, peer {delay * 1000:.0f} ms/reply "
                    f"(1: {one:.0f}/s, {rates[1][1]:.2f} CPU; {n}: {rate:.0f}/s, {cpu_share:.2f} CPU)",
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


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


BENCHES = ("fanout", "report", "sending", "workers")


def main() -> int:
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
