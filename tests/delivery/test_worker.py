"""Several ``carnet worker`` processes on one PostgreSQL database, sending to an SMTP peer in the test process.

What is checked comes from the peer's mailbox (what the families would have received), not from our tables: every
email delivery reaches its guardian, a worker killed outright re-sends at most the messages it had in flight (one per
loop), and a worker stopped with SIGTERM finishes what it started and gives back the rest.

The school: the demo school (seed 2026) and EMERGENCY messages from the principal to the whole school, published
with the portal and email only, so every email step is DUE at once whatever the charter says.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.peers.smtp import SmtpPeer, _Handler
from hub.delivery.dispatch import progress
from hub.demo.school import generate_demo
from hub.enums import Channel, DeliveryState
from hub.messaging.models import Delivery
from hub.store import db as hubdb
from hub.testing import postgres
from hub.testing.fanout import publish_emergencies

pytestmark = pytest.mark.postgres

#: Emergencies published to the whole demo school; each gives ~700 email deliveries (one per guardian with an
#: email). 7 by default: the ~5,000 deliveries of the brief (4,928 emails, ~55 s on 2 cores, CPU-bound on MIME
#: building and parsing); CARNET_TEST_WORKER_MESSAGES=3 (~2,100 emails, ~25 s) for a quicker local run.
MESSAGES = int(os.environ.get("CARNET_TEST_WORKER_MESSAGES", "7"))
_ids = itertools.count()
_DELIVERY_ID = re.compile(r"delivery-(\d+)@")


@pytest.fixture
def pg_url(pg_server: postgres.PostgresServer, pg_template: str) -> Iterator[str]:
    name = f"carnet_worker_{os.getpid()}_{next(_ids)}"
    url = asyncio.run(postgres.create_database(pg_server, name, template=pg_template))
    yield url
    asyncio.run(postgres.drop_database(pg_server, name))


@pytest.fixture
async def orm(pg_url: str) -> AsyncIterator[str]:
    await hubdb.init(pg_url)
    try:
        yield pg_url
    finally:
        await hubdb.close()


async def _emergencies(count: int) -> tuple[list[int], set[int]]:
    """The demo school and ``count`` emergencies to everyone: the message ids and the email delivery ids."""
    await generate_demo(seed=2026)
    message_ids = await publish_emergencies(count, reason="Fuite de gaz signalée par les pompiers")
    emails = await Delivery.filter(notice__message_id__in=message_ids, channel=Channel.EMAIL).values_list("id", "state")
    assert emails and all(state == DeliveryState.DUE for _, state in emails)
    return message_ids, {delivery_id for delivery_id, _ in emails}


def _received(peer: SmtpPeer) -> Counter[int]:
    """Copies received per delivery, read from the Message-ID (it carries the ``delivery-<id>`` key)."""
    found: Counter[int] = Counter()
    for mail in list(peer.mailbox.messages):
        match = _DELIVERY_ID.search(str(mail["Message-ID"]))
        assert match, mail["Message-ID"]
        found[int(match.group(1))] += 1
    return found


def _start_worker(url: str, peer: SmtpPeer, tmp_path: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update(
        CARNET_DATABASE_URL=url,
        CARNET_SMTP_HOST="127.0.0.1",
        CARNET_SMTP_PORT=str(peer.port),
        CARNET_DATA_DIR=str(tmp_path),
    )
    log = (tmp_path / f"{name}.log").open("wb")
    cmd = [sys.executable, "-m", "hub", "worker", "--interval", "0.2", "--worker-id", name, *args]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log")))


#: How long a wait may last before the test fails: a guard against a hang, far above the time needed on an idle
#: machine (the whole test takes about a minute), so a machine busy with other work does not fail it.
PATIENCE = float(os.environ.get("CARNET_TEST_PATIENCE", "600"))


async def _until(condition: Any, within: float, what: Any, tmp_path: Path) -> None:
    """Wait until ``await condition()``; past ``within`` seconds fail, saying ``what`` (a text, or a function giving
    one: what is still missing) and the workers' logs."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            text = what() if callable(what) else what
            if asyncio.iscoroutine(text):
                text = await text
            logs = await asyncio.to_thread(_logs, tmp_path)
            raise AssertionError(f"timed out after {within:.0f} s waiting for {text}\n{logs}")
        await asyncio.sleep(0.05)


async def _exit_code(proc: subprocess.Popen[bytes], within: float = 120.0) -> int | None:
    try:
        return await asyncio.to_thread(proc.wait, within)
    except subprocess.TimeoutExpired:
        return None


async def test_three_workers_one_killed_every_family_gets_the_email(orm: str, tmp_path: Path) -> None:
    message_ids, expected = await _emergencies(MESSAGES)
    concurrency, batch = 2, 20
    # The lease is what a claim may take before another worker takes it back: long enough for a batch on a busy
    # machine (a short one would let a slow but living worker's claims be sent twice), short enough that the killed
    # worker's claims come back within the test.
    args = ("--concurrency", str(concurrency), "--batch", str(batch), "--lease", "15")
    with SmtpPeer() as peer:
        workers = [_start_worker(orm, peer, tmp_path, f"w{i}", *args) for i in range(3)]
        try:

            async def a_third() -> bool:
                return len(peer.mailbox.messages) >= len(expected) // 3

            await _until(
                a_third,
                PATIENCE,
                lambda: f"a third of {len(expected)} emails ({len(peer.mailbox.messages)} received)",
                tmp_path,
            )
            victim = workers[0]
            victim.send_signal(signal.SIGKILL)
            assert victim.wait(10) == -signal.SIGKILL
            held = set(
                await Delivery.filter(state=DeliveryState.CLAIMED, claimed_by__startswith="w0/").values_list(
                    "id", flat=True
                )
            )
            assert len(held) <= concurrency * batch

            async def all_received() -> bool:
                return set(_received(peer)) >= expected

            async def all_recorded() -> bool:
                return not await Delivery.filter(id__in=list(expected)).exclude(state=DeliveryState.SENT).exists()

            def missing_emails() -> str:
                missing = sorted(expected - set(_received(peer)))
                return f"an email for every delivery: {len(missing)} of {len(expected)} missing ({missing[:10]}…)"

            async def unrecorded() -> str:
                left = (
                    await Delivery.filter(id__in=list(expected))
                    .exclude(state=DeliveryState.SENT)
                    .values_list("id", "state")
                )
                return f"every email delivery SENT: {len(left)} not yet ({left[:10]}…)"

            await _until(all_received, PATIENCE, missing_emails, tmp_path)
            await _until(all_recorded, PATIENCE, unrecorded, tmp_path)
        finally:
            for proc in workers[1:]:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            codes = [await _exit_code(proc) for proc in workers[1:]]
            for proc in workers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        received = _received(peer)

    assert codes == [0, 0]
    # every guardian got the message, and nothing was sent that was not asked for
    assert set(received) == expected
    # The only copies are of what the killed worker held and had in flight when it died: a message the SMTP peer
    # accepted whose outcome was not recorded yet. dispatch_due hands the sender one envelope and records its
    # outcome (one UPDATE) before the next leaves, so each of the worker's --concurrency loops has at most one such
    # message at any instant: at most `concurrency` re-sends, each a second copy (not whole chunks or batches).
    duplicated = {delivery_id for delivery_id, n in received.items() if n > 1}
    assert duplicated <= held
    assert max(received.values()) <= 2
    resent = sum(received.values()) - len(expected)
    assert resent <= min(len(held), concurrency), f"{resent} re-sends, {sorted(duplicated)}"
    # and the tables agree: every email SENT (once: one attempt), the portal steps DELIVERED, the letters of the
    # guardians without email on the paper list, no retry or fallback row
    states: Counter[str] = Counter()
    for message_id in message_ids:
        states.update(await progress(message_id))
    letters = await Delivery.filter(notice__message_id__in=message_ids, channel=Channel.LETTER).count()
    portal = await Delivery.filter(notice__message_id__in=message_ids, channel=Channel.PORTAL).count()
    assert states == {DeliveryState.SENT: len(expected), DeliveryState.DELIVERED: portal, DeliveryState.DUE: letters}
    assert set(await Delivery.filter(id__in=list(expected)).values_list("attempts", flat=True)) == {1}


class _SlowHandler(_Handler):
    """The peer's handler with a relay's latency per message."""

    delay = 0.03

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


async def test_sigterm_finishes_what_was_started_and_releases_the_rest(orm: str, tmp_path: Path) -> None:
    message_ids, expected = await _emergencies(1)
    peer = SmtpPeer()
    peer._controller.handler = _SlowHandler(peer.mailbox, dsn_relay=None)
    with peer:
        worker = _start_worker(orm, peer, tmp_path, "solo", "--concurrency", "2", "--batch", "100", "--lease", "300")
        try:

            async def some_sent() -> bool:
                return len(peer.mailbox.messages) >= 20

            await _until(some_sent, PATIENCE, "the first 20 emails", tmp_path)
            worker.send_signal(signal.SIGTERM)
            code = await _exit_code(worker)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        received = _received(peer)

    assert code == 0, (tmp_path / "solo.log").read_text()[-3000:]
    states = await progress(message_ids[0])
    assert DeliveryState.CLAIMED not in states
    # what was started was finished and recorded: SENT is exactly what the peer got, once each
    sent = set(await Delivery.filter(id__in=list(expected), state=DeliveryState.SENT).values_list("id", flat=True))
    assert sent == set(received) and all(n == 1 for n in received.values())
    # the rest is DUE again, unclaimed, for the next worker
    due = await Delivery.filter(id__in=list(expected), state=DeliveryState.DUE)
    assert len(due) == len(expected) - len(sent) > 0
    assert all(d.claimed_by == "" and d.lease_until is None and d.attempts == 0 for d in due)
