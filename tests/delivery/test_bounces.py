"""Email bounces that arrive after the SMTP conversation: a VERP return path per delivery, a DSN (RFC 3464) from
the relay to the bounce receiver (``hub.delivery.bounces``), over real SMTP on 127.0.0.1, on both backends.

The relay is the demo SMTP peer: it accepts mail for ``bounce.invalid`` and then mails a DSN to the envelope
sender, through the bounce receiver, as a real relay reaches the return path's MX.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import pytest

from channels.email import EmailAdapter, EmailSettings, return_path_key, verp_address
from channels.peers.smtp import SmtpPeer, delivery_status_notification, send_from_null_sender
from hub.cli import main as carnet
from hub.config import ROOT
from hub.delivery.bounces import BounceResult, BounceServer, MalformedDsn, parse_dsn
from hub.delivery.dispatch import dispatch_due
from hub.enums import Channel, ContactKind, DeliveryPurpose, DeliveryState, ErrorKind
from hub.messaging.models import Delivery, Notice
from hub.people.models import Contact
from tests.delivery.test_faults import BASE, MONDAY_10, PHONE, one_guardian_notice

KEY = return_path_key("s" * 40)
DOMAIN = "athenee.example.be"
SENDER = f"Athénée royal <ecole@{DOMAIN}>"
ORIGINAL = b"From: ecole@athenee.example.be\r\nTo: anne@bounce.invalid\r\nSubject: Sortie\r\n\r\nJeudi.\r\n"
#: Generous: only reached when the DSN never arrives, which is the failure being tested.
PATIENCE = 600


@dataclass
class Receiver:
    server: BounceServer
    results: asyncio.Queue[BounceResult]

    async def next_result(self) -> BounceResult:
        return await asyncio.wait_for(self.results.get(), PATIENCE)

    async def send(self, raw: bytes, return_path: str) -> None:
        """Mail ``raw`` to the receiver from the null sender, as relays send DSNs."""
        await send_from_null_sender(raw, return_path, "127.0.0.1", self.server.port)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    results: asyncio.Queue[BounceResult] = asyncio.Queue()
    server = await BounceServer(KEY, on_result=results.put).start()
    try:
        yield Receiver(server, results)
    finally:
        await server.stop()


async def sent_email(address: str, receiver: Receiver) -> tuple[Notice, Delivery, SmtpPeer]:
    """A notice planned email first, then SMS, sent through the peer by ``dispatch_due`` with VERP on. The peer
    is returned started: the caller stops it."""
    notice = await one_guardian_notice(
        {ContactKind.EMAIL: address, ContactKind.PHONE: PHONE},
        (Channel.EMAIL, Channel.SMS),
        frozenset({Channel.EMAIL, Channel.SMS, Channel.PORTAL, Channel.LETTER}),
    )
    peer = SmtpPeer(dsn_relay=("127.0.0.1", receiver.server.port)).start()
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=peer.port, sender=SENDER, return_path_key=KEY))
    report = await dispatch_due({Channel.EMAIL: adapter}, now=MONDAY_10, base_url=BASE)
    assert report.sent == 1, report
    delivery = await Delivery.get(notice_id=notice.id, channel=Channel.EMAIL)
    # The peer relays its DSN at once: a permanent bounce may be recorded before the worker records the send (which
    # then leaves the failure as it is); either way the delivery left the queue.
    assert delivery.state in (DeliveryState.SENT, DeliveryState.FAILED)
    return notice, delivery, peer


async def assert_untouched(notice: Notice, delivery: Delivery) -> None:
    stored = await Delivery.get(id=delivery.id)
    assert stored.state == DeliveryState.SENT and not stored.error
    assert (await Contact.get(id=delivery.contact_id)).dead_at is None  # type: ignore[attr-defined]
    assert not await Delivery.filter(notice_id=notice.id, channel=Channel.SMS).exists()


# ---------------------------------------------------------------------------------------------------- parsing


def test_a_dsn_is_read_with_its_action_and_status() -> None:
    failed = parse_dsn(delivery_status_notification("bounces+1-x@d", "anne@bounce.invalid", ORIGINAL, delayed=False))
    assert [(s.recipient, s.action, s.status) for s in failed] == [("anne@bounce.invalid", "failed", "5.1.1")]
    assert failed[0].permanent_failure and "User unknown" in failed[0].diagnostic
    delayed = parse_dsn(delivery_status_notification("bounces+1-x@d", "delayed@bounce.invalid", ORIGINAL, delayed=True))
    assert [(s.action, s.status, s.permanent_failure) for s in delayed] == [("delayed", "4.4.1", False)]


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\xfe garbage",
        b"Subject: Out of office\r\n\r\nI am away until Monday.\r\n",
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"\r\n\r\n--b--\r\n',
        delivery_status_notification("r@d", "a@b", ORIGINAL, delayed=False).replace(b"Status: 5.1.1", b"Status: ok"),
        b"x" * (1024 * 1024 + 1),
    ],
)
def test_what_is_not_a_readable_dsn_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedDsn):
        parse_dsn(raw)


# ------------------------------------------------------------------------------------------ over real SMTP


async def test_a_permanent_bounce_kills_the_address_and_the_notice_falls_back(db: str, receiver: Receiver) -> None:
    notice, delivery, peer = await sent_email("anne@bounce.invalid", receiver)
    try:
        result = await receiver.next_result()
    finally:
        await asyncio.to_thread(peer.stop)  # the DSN's last words (QUIT) need this loop
    # The relay bounced to the delivery's own signed return path.
    assert [d.return_path for d in peer.mailbox.dsns] == [verp_address(KEY, delivery.id, DOMAIN)]
    assert result.outcome == "dead" and result.delivery_id == delivery.id
    stored = await Delivery.get(id=delivery.id)
    assert stored.state == DeliveryState.FAILED and stored.error_kind == ErrorKind.PERMANENT
    assert stored.error.startswith("bounced 5.1.1")
    contact = await Contact.get(id=delivery.contact_id)  # type: ignore[attr-defined]
    assert contact.dead_at is not None and "5.1.1" in contact.dead_reason
    fallback = await Delivery.get(notice_id=notice.id, channel=Channel.SMS)
    assert fallback.purpose == DeliveryPurpose.FALLBACK
    # The same DSN again (relays retry) changes nothing more.
    await receiver.send(peer.mailbox.dsns[0].raw, verp_address(KEY, delivery.id, DOMAIN))
    assert (await receiver.next_result()).outcome == "settled"
    assert await Delivery.filter(notice_id=notice.id, channel=Channel.SMS).count() == 1


async def test_a_delay_notice_changes_nothing(db: str, receiver: Receiver) -> None:
    notice, delivery, peer = await sent_email("delayed-anne@bounce.invalid", receiver)
    try:
        result = await receiver.next_result()
    finally:
        await asyncio.to_thread(peer.stop)  # the DSN's last words (QUIT) need this loop
    assert result.outcome == "delayed" and result.delivery_id == delivery.id
    await assert_untouched(notice, delivery)


async def test_a_forged_return_path_is_refused_logged_and_changes_nothing(
    db: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    notice, delivery, peer = await sent_email("anne@example.be", receiver)
    peer.stop()
    genuine = verp_address(KEY, delivery.id, DOMAIN)
    forged = [
        genuine.replace(genuine.rsplit("-", 1)[1].split("@")[0], "00000000"),  # a guessed signature
        verp_address(return_path_key("another hub's secret, 32 characters"), delivery.id, DOMAIN),
        f"postmaster@{DOMAIN}",
    ]
    dsn = delivery_status_notification(genuine, "anne@example.be", ORIGINAL, delayed=False)
    with caplog.at_level(logging.WARNING, logger="carnet.bounces"):
        for address in forged:
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
                await receiver.send(dsn, address)
    assert sum("bounce refused" in r.getMessage() for r in caplog.records) == 3
    assert receiver.results.empty()
    await assert_untouched(notice, delivery)


async def test_a_dsn_for_an_unknown_delivery_changes_nothing(db: str, receiver: Receiver) -> None:
    notice, delivery, peer = await sent_email("anne@example.be", receiver)
    peer.stop()
    unknown = verp_address(KEY, delivery.id + 1000, DOMAIN)
    await receiver.send(delivery_status_notification(unknown, "anne@example.be", ORIGINAL, delayed=False), unknown)
    result = await receiver.next_result()
    assert result.outcome == "unknown" and result.delivery_id == delivery.id + 1000
    await assert_untouched(notice, delivery)


async def test_malformed_bytes_are_logged_and_the_receiver_keeps_working(
    db: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    notice, delivery, peer = await sent_email("anne@example.be", receiver)
    peer.stop()
    return_path = verp_address(KEY, delivery.id, DOMAIN)
    with caplog.at_level(logging.WARNING, logger="carnet.bounces"):
        for raw in (b"\x00\xff garbage \x80\r\n", b"Subject: Absent\r\n\r\nJe suis en vacances.\r\n"):
            with pytest.raises(aiosmtplib.SMTPDataError) as refused:
                await receiver.send(raw, return_path)
            assert refused.value.code == 554
            assert (await receiver.next_result()).outcome == "malformed"
    assert sum("bounce refused" in r.getMessage() for r in caplog.records) == 2
    await assert_untouched(notice, delivery)
    # Still listening: a genuine DSN after the broken ones is acted on.
    dsn = delivery_status_notification(return_path, "anne@example.be", ORIGINAL, delayed=False)
    await receiver.send(dsn, return_path)
    assert (await receiver.next_result()).outcome == "dead"
    assert (await Delivery.get(id=delivery.id)).state == DeliveryState.FAILED


@pytest.mark.parametrize("secret", ["", "too short"])
def test_carnet_bounces_needs_a_long_secret(
    secret: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARNET_BOUNCE_SECRET", secret)
    assert carnet(["bounces", "--port", "2525"]) == 2
    assert "CARNET_BOUNCE_SECRET" in capsys.readouterr().err


def test_the_carnet_bounces_command_serves_until_sigterm(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free loopback port, released for the command to take
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "CARNET_DATA_DIR": str(tmp_path), "CARNET_BOUNCE_SECRET": "s" * 40}
    env.pop("CARNET_DATABASE_URL", None)
    command = [sys.executable, "-m", "hub", "bounces", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"receiving bounces on 127.0.0.1:{port}"
        greeting = _smtp_greeting(port)
        assert greeting.startswith("220 ")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=PATIENCE) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _smtp_greeting(port: int) -> str:
    """The server's first line, once it listens (the command prints its address just before it does)."""
    for _attempt in range(PATIENCE * 10):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as conn:
                return conn.makefile().readline()
        except ConnectionRefusedError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")
