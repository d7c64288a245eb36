"""A local SMTP server (aiosmtpd) for the demo and the tests: it keeps what it receives, as a real relay would.

Recipients whose local part starts with ``bounce`` are refused with 550 (a dead address) and ``busy`` with 451
(try later), so both outcomes can be shown and tested against a real SMTP conversation.

Recipients at ``bounce.invalid`` are accepted, then found undeliverable, as a relay finds out after the
conversation: the peer mails a delivery status notification (RFC 3464) to the envelope sender, through the SMTP
server given as ``dsn_relay`` (the bounce receiver, which the return path's MX would reach): ``Action: failed``,
``Status: 5.1.1``, or for a local part starting with ``delayed``, ``Action: delayed``, ``Status: 4.4.1``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

#: Mail for this domain is accepted, then bounced with a DSN to the envelope sender.
BOUNCE_DOMAIN = "bounce.invalid"
log = logging.getLogger("carnet.peers.smtp")


@dataclass(frozen=True)
class SentDsn:
    """A DSN the peer wrote, kept before it is mailed (a failure to mail it is logged)."""

    return_path: str
    recipient: str
    status: str
    raw: bytes


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    dsns: list[SentDsn] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


def delivery_status_notification(return_path: str, recipient: str, original: bytes, *, delayed: bool) -> bytes:
    """A DSN as relays write it: ``multipart/report; report-type=delivery-status`` with a human part, the
    ``message/delivery-status`` fields and the original headers."""
    action, status, reply = (
        ("delayed", "4.4.1", "451 4.4.1 Connection timed out, still trying")
        if delayed
        else (
            "failed",
            "5.1.1",
            f"550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
        )
    )
    boundary = uuid.uuid4().hex
    headers = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    now = format_datetime(datetime.now(UTC))
    return "\r\n".join(
        [
            "From: Mail Delivery System <MAILER-DAEMON@peer.localhost>",
            f"To: <{return_path}>",
            "Subject: " + ("Delayed Mail (still being retried)" if delayed else "Undelivered Mail Returned to Sender"),
            f"Date: {now}",
            f"Message-ID: <{boundary}@peer.localhost>",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=utf-8",
            "",
            f"Your message to <{recipient}> " + ("is delayed." if delayed else "could not be delivered."),
            reply,
            "",
            f"--{boundary}",
            "Content-Type: message/delivery-status",
            "",
            "Reporting-MTA: dns; peer.localhost",
            f"Arrival-Date: {now}",
            "",
            f"Final-Recipient: rfc822; {recipient}",
            f"Original-Recipient: rfc822; {recipient}",
            f"Action: {action}",
            f"Status: {status}",
            f"Diagnostic-Code: smtp; {reply}",
            "",
            f"--{boundary}",
            "Content-Type: text/rfc822-headers",
            "",
            headers.replace("\r\n", "\n").replace("\n", "\r\n"),
            "",
            f"--{boundary}--",
            "",
        ]
    ).encode("utf-8")


async def send_from_null_sender(raw: bytes, recipient: str, host: str, port: int) -> None:
    """Mail ``raw`` with the null reverse path (``MAIL FROM:<>``), as every DSN is sent so that it can never
    bounce back (``aiosmtplib.send`` insists on a sender for raw bytes)."""
    async with aiosmtplib.SMTP(hostname=host, port=port, timeout=30) as smtp:
        await smtp.sendmail("", [recipient], raw)


class _Handler:
    def __init__(self, mailbox: Mailbox, dsn_relay: tuple[str, int] | None) -> None:
        self.mailbox = mailbox
        self.dsn_relay = dsn_relay
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        local = address.split("@", 1)[0].lower()
        if local.startswith("bounce"):
            return "550 5.1.1 No such user"
        if local.startswith("busy"):
            return "451 4.3.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        doomed = [r for r in envelope.rcpt_tos if r.lower().endswith("@" + BOUNCE_DOMAIN)]
        if len(doomed) < len(envelope.rcpt_tos):
            self.mailbox.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        for recipient in doomed:
            if envelope.mail_from:  # never bounce a bounce (null sender)
                task = asyncio.create_task(self._bounce(envelope.mail_from, recipient, raw))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return "250 Message accepted for delivery"

    async def _bounce(self, return_path: str, recipient: str, original: bytes) -> None:
        """After the conversation, as a relay would: mail the DSN to the return path's server."""
        delayed = recipient.lower().startswith("delayed")
        dsn = delivery_status_notification(return_path, recipient, original, delayed=delayed)
        self.mailbox.dsns.append(SentDsn(return_path, recipient, "4.4.1" if delayed else "5.1.1", dsn))
        if self.dsn_relay is None:
            log.warning("DSN to %s not mailed: the peer has no DSN relay", return_path)
            return
        try:
            await send_from_null_sender(dsn, return_path, *self.dsn_relay)
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("DSN to %s not delivered: %s", return_path, exc)

    async def drain(self) -> None:
        """Let the DSNs under way finish (at most 30 s)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=30)


class SmtpPeer:
    """``with SmtpPeer() as peer:`` serves on 127.0.0.1 at ``peer.port``; DSNs for ``bounce.invalid`` go to
    the SMTP server at ``dsn_relay`` (host, port)."""

    def __init__(self, port: int = 0, *, dsn_relay: tuple[str, int] | None = None) -> None:
        self.mailbox = Mailbox()
        self._handler = _Handler(self.mailbox, dsn_relay)
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=port or _free_port())

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> SmtpPeer:
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving once the DSNs under way are mailed. Blocks: a caller whose event loop runs the DSNs'
        destination stops the peer from another thread (``await asyncio.to_thread(peer.stop)``)."""
        loop = self._controller.loop
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._handler.drain(), loop).result()
        self._controller.stop()

    def __enter__(self) -> SmtpPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
