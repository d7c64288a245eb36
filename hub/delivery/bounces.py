"""The bounce receiver: a small SMTP server (aiosmtpd) that reads delivery status notifications (RFC 3464).

A mail server that accepted an email and only later failed to deliver it mails a DSN to the envelope sender.
Carnet's envelope senders are VERP addresses (``channels.email.verp_address``) naming the delivery and signed by
the hub, and the MX of their domain hands that mail to this server (``carnet bounces``). It:

* refuses, at ``RCPT``, any address that is not a return path signed with this hub's key (a forged or guessed
  address is logged and changes nothing);
* reads the ``multipart/report; report-type=delivery-status`` with the standard ``email`` package; anything else
  is refused and logged (an autoresponder's "out of office", a broken message);
* for a permanent failure (``Action: failed``, ``Status: 5.x.x``) records the delivery FAILED permanently with the
  contact dead, as a recipient refused during the SMTP conversation is (``planning.record_outcome``), so the
  router stops using the address and the notice falls back to its next channel;
* ignores a delay (``4.x.x``, ``Action: delayed``): the relay is still trying.

It runs on the event loop of the process that opened the database (a Tortoise connection belongs to its loop),
not on a thread of its own as ``aiosmtpd.controller.Controller`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email
import email.policy
import logging
import re
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email import ForgedReturnPath, parse_reply_address, parse_verp, return_path_key
from hub import clock
from hub.config import Settings
from hub.delivery.mail_replies import MAX_REPLY_BYTES, handle_reply
from hub.enums import Channel, DeliveryState, ErrorKind
from hub.messaging import routing
from hub.messaging.models import Delivery
from hub.messaging.planning import record_outcome

__all__ = [
    "BounceResult",
    "BounceServer",
    "MalformedDsn",
    "RecipientStatus",
    "handle_dsn",
    "parse_dsn",
    "serve",
]

log = logging.getLogger("carnet.bounces")

#: A DSN is small; anything bigger is not one (the original message is at most quoted, not attached whole).
MAX_DSN_BYTES = 1024 * 1024
_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")


class MalformedDsn(ValueError):
    """The message is not a delivery status notification this receiver can read."""


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN."""

    recipient: str  #: Final-Recipient, without its address type
    action: str  #: failed, delayed, delivered, relayed or expanded
    status: str  #: e.g. 5.1.1
    diagnostic: str = ""

    @property
    def permanent_failure(self) -> bool:
        return self.action == "failed" and self.status.startswith("5.")


@dataclass(frozen=True)
class BounceResult:
    """What the receiver did with one DSN for one return path."""

    delivery_id: int | None
    #: "dead" (permanent failure recorded), "delayed", "not_failed" (no permanent failure reported),
    #: "unknown" (no email delivery with that id), "settled" (the delivery can no longer fail: already failed,
    #: cancelled) or "malformed"; for a family's email reply (:mod:`hub.delivery.mail_replies`) "reply_" and its
    #: outcome ("reply_posted", "reply_automatic", ...).
    outcome: str
    status: RecipientStatus | None = None


def _field(block: Message, name: str) -> str:
    return " ".join(str(block.get(name, "")).split())


def _typed_value(value: str) -> str:
    """``rfc822; anne@example.be`` -> ``anne@example.be`` (RFC 3464 fields carry a type before the ``;``)."""
    kind, sep, rest = value.partition(";")
    return (rest if sep else kind).strip()


def parse_dsn(raw: bytes) -> list[RecipientStatus]:
    """The per-recipient statuses of a DSN. Raises :class:`MalformedDsn` for anything that is not a
    ``multipart/report`` with a readable ``message/delivery-status`` part."""
    if len(raw) > MAX_DSN_BYTES:
        raise MalformedDsn(f"{len(raw)} bytes: too big for a delivery status notification")
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if message.get_content_type() != "multipart/report":
        raise MalformedDsn(f"not a report: {message.get_content_type()}")
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        raise MalformedDsn("a report, but not of delivery status")
    part = next((p for p in message.walk() if p.get_content_type() == "message/delivery-status"), None)
    blocks = part.get_payload() if part is not None else None
    if not isinstance(blocks, list) or len(blocks) < 2:
        raise MalformedDsn("no per-recipient fields in the delivery-status part")
    statuses = []
    # The payload of a multipart part is its list of parts (the type allows a string, for other parts).
    for block in cast(list[Message], blocks)[1:]:  # the first block is about the message, the others a recipient
        status = _typed_value(_field(block, "Status")).split(" ", 1)[0]
        action = _field(block, "Action").lower()
        if not _STATUS.match(status) or not action:
            raise MalformedDsn(f"a recipient block without a valid Action and Status ({action!r}, {status!r})")
        statuses.append(
            RecipientStatus(
                recipient=_typed_value(_field(block, "Final-Recipient")),
                action=action,
                status=status,
                diagnostic=_typed_value(_field(block, "Diagnostic-Code")),
            )
        )
    return statuses


async def handle_dsn(delivery_id: int, statuses: list[RecipientStatus], now: dt.datetime) -> BounceResult:
    """Act on the DSN for the email delivery ``delivery_id``: a permanent failure fails it for good and marks
    its contact dead (the router falls back); a delay or a success report changes nothing."""
    failed = next((s for s in statuses if s.permanent_failure), None)
    if failed is None:
        delayed = any(s.action == "delayed" for s in statuses)
        return BounceResult(delivery_id, "delayed" if delayed else "not_failed", statuses[0] if statuses else None)
    delivery = await Delivery.get_or_none(id=delivery_id, channel=Channel.EMAIL)
    if delivery is None:
        return BounceResult(delivery_id, "unknown", failed)
    if not routing.can_move(DeliveryState(delivery.state), DeliveryState.FAILED):
        return BounceResult(delivery_id, "settled", failed)  # a second DSN, or a delivery already cancelled
    error = f"bounced {failed.status}: {failed.diagnostic or failed.action}"[:1000]
    await record_outcome(delivery.id, now=now, ok=False, error=error, error_kind=ErrorKind.PERMANENT, dead_contact=True)
    return BounceResult(delivery_id, "dead", failed)


#: Called with each result (the tests wait on it; a server would count them).
ResultHook = Callable[[BounceResult], Awaitable[None]]


class _Handler:
    def __init__(self, key: bytes, on_result: ResultHook | None) -> None:
        self.key = key
        self.on_result = on_result

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        try:
            delivery_id = parse_verp(address, self.key)
            if delivery_id is None:  # a family's reply to a notice (hub.delivery.mail_replies)?
                delivery_id = parse_reply_address(address, self.key)
        except ForgedReturnPath:
            log.warning("bounce refused: forged return path %s from %s", address, session.peer)
            return "550 5.7.1 This return path was not issued here"
        if delivery_id is None:
            log.warning("bounce refused: %s is not a return path, from %s", address, session.peer)
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        replies = [a for a in envelope.rcpt_tos if parse_verp(a, self.key) is None]
        if replies:
            return await self._replies(replies, raw)
        try:
            statuses = parse_dsn(raw)
        except MalformedDsn as exc:
            log.warning("bounce refused: %s (to %s, from %s)", exc, ", ".join(envelope.rcpt_tos), session.peer)
            await self._report(BounceResult(None, "malformed"))
            return "554 5.6.0 Not a delivery status notification"
        for address in envelope.rcpt_tos:
            delivery_id = cast(int, parse_verp(address, self.key))  # checked at RCPT
            try:
                result = await handle_dsn(delivery_id, statuses, clock.now())
            except Exception:
                # The database is away: the sending server keeps the DSN and tries again later.
                log.exception("bounce for delivery %s not recorded", delivery_id)
                return "451 4.3.0 Could not record the notification, try again later"
            log.info("bounce for delivery %s: %s (%s)", delivery_id, result.outcome, result.status)
            await self._report(result)
        return "250 OK"

    async def _replies(self, addresses: list[str], raw: bytes) -> str:
        """A family's email to reply addresses: each becomes a post in its notice's thread."""
        for address in addresses:
            delivery_id = cast(int, parse_reply_address(address, self.key))  # checked at RCPT
            try:
                reply = await handle_reply(delivery_id, raw, clock.now())
            except Exception:
                log.exception("reply for delivery %s not recorded", delivery_id)
                return "451 4.3.0 Could not record the reply, try again later"
            log.info("reply for delivery %s: %s", delivery_id, reply.outcome)
            await self._report(BounceResult(delivery_id, f"reply_{reply.outcome}"))
            if reply.outcome in ("empty", "too_long"):
                return "550 5.6.0 The reply is empty or too long: write to the school on the portal"
        return "250 OK"

    async def _report(self, result: BounceResult) -> None:
        if self.on_result is not None:
            await self.on_result(result)


class BounceServer:
    """``await BounceServer(key).start()`` listens on ``host:port`` (port 0: a free one, see ``.port``) on the
    running event loop, whose Tortoise connection it uses."""

    def __init__(
        self,
        key: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hostname: str = "carnet-bounces",
        on_result: ResultHook | None = None,
    ) -> None:
        self._handler = _Handler(key, on_result)
        self.host, self._port, self.hostname = host, port, hostname
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the bounce server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> BounceServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self._handler, hostname=self.hostname, data_size_limit=MAX_REPLY_BYTES, loop=loop),
            host=self.host,
            port=self._port,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


async def serve(settings: Settings, *, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """``carnet bounces``: receive DSNs until SIGINT or SIGTERM (or ``stop``). The database must be open.
    Raises ValueError when ``CARNET_BOUNCE_SECRET`` is missing or short (:func:`channels.email.return_path_key`)."""
    key = return_path_key(settings.bounce_secret)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    server = await BounceServer(key, host=host, port=port).start()
    log.info("receiving bounces on %s:%s", host, server.port)
    try:
        await stop.wait()
    finally:
        await server.stop()
        for signum in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
