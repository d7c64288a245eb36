"""Benchmark (not a test): email deliveries per second with 1, 2 and 4 worker processes on PostgreSQL.

For each worker count: a fresh database from a migrated template, the demo school, the workers started and left
idle until ready, then ``--messages`` emergencies to the whole school (~700 emails each) are published and the
clock runs until every email delivery is SENT. The SMTP peer runs in this process on 127.0.0.1 and waits
``--latency`` seconds per message (a real relay's DATA answer). The PostgreSQL server is the throw-away one of
``hub.testing.postgres`` (or ``CARNET_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.peers.smtp import SmtpPeer, _Handler
from hub.demo.school import generate_demo
from hub.enums import Channel, DeliveryState
from hub.messaging.models import Delivery
from hub.store import db as hubdb
from hub.testing import postgres
from hub.testing.fanout import publish_emergencies

ROOT = Path(__file__).resolve().parent.parent


class SlowHandler(_Handler):
    delay = 0.02

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


async def _publish(count: int) -> list[int]:
    return await publish_emergencies(count, reason="benchmark")


def _start(url: str, port: int, workdir: Path, name: str, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update(
        CARNET_DATABASE_URL=url,
        CARNET_SMTP_HOST="127.0.0.1",
        CARNET_SMTP_PORT=str(port),
        CARNET_DATA_DIR=str(workdir),
    )
    cmd = [sys.executable, "-m", "hub", "worker", "--worker-id", name, "--interval", "0.1"]
    cmd += ["--concurrency", str(args.concurrency), "--batch", str(args.batch), "--chunk", str(args.chunk)]
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


async def _run_one(server: postgres.PostgresServer, template: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    name = f"carnet_bench_{n}"
    url = await postgres.create_database(server, name, template=template)
    workdir = Path(tempfile.mkdtemp(prefix=f"carnet-bench-{n}-"))
    await hubdb.init(url)
    try:
        await generate_demo(seed=2026)
        peer = SmtpPeer()
        SlowHandler.delay = args.latency
        peer._controller.handler = SlowHandler(peer.mailbox, dsn_relay=None)
        with peer:
            workers = [_start(url, peer.port, workdir, f"bench{n}-{i}", args) for i in range(n)]
            try:
                deadline = time.monotonic() + 60
                while not all("loops" in (workdir / f"bench{n}-{i}.log").read_text() for i in range(n)):
                    if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                        raise RuntimeError(f"workers did not start, see {workdir}")
                    await asyncio.sleep(0.1)
                message_ids = await _publish(args.messages)
                emails = Delivery.filter(notice__message_id__in=message_ids, channel=Channel.EMAIL)
                total = await emails.count()
                started = time.perf_counter()
                while await emails.exclude(state=DeliveryState.SENT).exists():
                    if time.perf_counter() - started > args.timeout:
                        raise RuntimeError(f"not done after {args.timeout} s, see {workdir}")
                    await asyncio.sleep(0.05)
                seconds = time.perf_counter() - started
                received = len(peer.mailbox.messages)
            finally:
                for w in workers:
                    w.terminate()
                for w in workers:
                    w.wait(30)
    finally:
        await hubdb.close()
        await postgres.drop_database(server, name)
    return {"workers": n, "emails": total, "received": received, "seconds": seconds, "rate": total / seconds}


async def _main(args: argparse.Namespace) -> None:
    server = postgres.start_postgres()
    template = "carnet_bench_template"
    await postgres.create_database(server, template)
    await hubdb.migrate(server.database_url(template))
    print(
        f"{os.cpu_count()} CPUs; SMTP latency {args.latency * 1000:.0f} ms/message; per worker: "
        f"--concurrency {args.concurrency} --batch {args.batch} --chunk {args.chunk}"
    )
    results = []
    for n in args.workers:
        result = await _run_one(server, template, n, args)
        results.append(result)
        print(
            f"{n} worker(s): {result['emails']} emails in {result['seconds']:.1f} s = {result['rate']:.0f}/s "
            f"({result['received'] - result['emails']} extra copies)",
            flush=True,
        )
    base = results[0]["rate"]
    print("speed-up vs 1 worker (same run): " + ", ".join(f"{r['workers']}: x{r['rate'] / base:.2f}" for r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--messages", type=int, default=3, help="emergencies to the whole school, ~700 emails each")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the SMTP peer takes per message")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run (1 message, 1 and 2 workers): CI makes it so the script keeps working",
    )
    args = parser.parse_args()
    if args.quick:
        args.messages, args.workers, args.latency = 1, [1, 2], 0.005
    if args.workers[0] != 1:
        args.workers.insert(0, 1)  # the baseline is measured in the same run
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
