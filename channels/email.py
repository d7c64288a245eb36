"""Email through any SMTP server, with aiosmtplib.

One connection is reused for a whole batch (opening a TLS session per message is what makes naive senders slow
and gets them throttled). The message is a proper MIME alternative (plain text first, then HTML) with
Message-ID, Date and Reply-To, and carries the guardian's personal link. A recipient refused with a 5xx code is a
dead contact; 4xx codes and lost connections are transient.

A server may also accept a message and only later find it cannot deliver it: it then mails a delivery status
notification (DSN, RFC 3464) to the envelope sender. With ``return_path_key`` set, each message's envelope sender
is a VERP address naming its delivery, ``bounces+<delivery id>-<hmac8>@<domain>``, so ``hub.delivery.bounces`` knows
which
delivery a DSN is about and that the address was made here (:func:`verp_address`, :func:`parse_verp`).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import datetime as dt
import email.policy
import hashlib
import hmac
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache

import aiosmtplib
from aiosmtplib import errors as smtp_errors

from channels.base import ChannelAdapter, Envelope, Outcome, Rendered
from hub import clock
from hub.enums import Channel


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int = 587
    sender: str = "Carnet <no-reply@example.be>"
    username: str = ""
    password: str = ""
    #: STARTTLS on a submission port (587); ``use_tls`` for implicit TLS (465). Both off for a local relay.
    starttls: bool = False
    use_tls: bool = False
    timeout: float = 30.0
    #: The domain of Message-IDs: the school's, so threads group in mail clients (default: the sender's).
    message_id_domain: str = ""
    #: Signs the VERP return paths (see :func:`return_path_key`); empty: the envelope sender is ``sender``.
    return_path_key: bytes = field(default=b"", repr=False)
    #: The domain of the return paths, whose mail reaches ``carnet bounces`` (default: the sender's domain).
    return_path_domain: str = ""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("email: the SMTP host is required")
        if self.starttls and self.use_tls:
            raise ValueError("email: choose STARTTLS or implicit TLS, not both")
        if self.return_path_key and not self.bounce_domain:
            raise ValueError("email: the return path needs a domain (a sender address or the bounce domain)")

    @property
    def bounce_domain(self) -> str:
        return self.return_path_domain or parseaddr(self.sender)[1].rpartition("@")[2]

    @property
    def id_domain(self) -> str:
        return self.message_id_domain or parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"

    def reply_address(self, message: Rendered) -> str | None:
        """Where a family's reply goes: a reply address naming the delivery (so its notice), signed like the return
        path and received by ``carnet bounces``; None when VERP is off or the message names no delivery."""
        delivery_id = delivery_id_of(message.idempotency_key)
        if not self.return_path_key or delivery_id is None:
            return None
        return reply_address(self.return_path_key, delivery_id, self.bounce_domain)

    def return_path(self, message: Rendered) -> str | None:
        """The envelope sender of ``message``: its delivery's VERP address, or None (the From address) when
        VERP is off or the message names no delivery."""
        delivery_id = delivery_id_of(message.idempotency_key)
        if not self.return_path_key or delivery_id is None:
            return None
        return verp_address(self.return_path_key, delivery_id, self.bounce_domain)


# ------------------------------------------------------------------------------------------- VERP return paths

VERP_LOCAL = "bounces"
_VERP = re.compile(rf"^{VERP_LOCAL}\+(\d{{1,18}})-([0-9a-f]{{8}})@([^@\s]+)$", re.IGNORECASE)
_DELIVERY_KEY = re.compile(r"^delivery-(\d{1,18})$")


class ForgedReturnPath(ValueError):
    """A VERP address whose signature is not ours: somebody made it up."""


def return_path_key(secret: str) -> bytes:
    """The key that signs return paths, derived from ``CARNET_BOUNCE_SECRET`` (so the secret itself never
    signs anything that leaves the hub). Raises ValueError for a secret shorter than 32 characters."""
    if len(secret) < 32:
        raise ValueError("email: the bounce secret must be at least 32 characters")
    return hmac.new(secret.encode(), b"carnet-verp-return-path", hashlib.sha256).digest()


def delivery_id_of(idempotency_key: str) -> int | None:
    """The delivery a rendering is for: ``hub.delivery.dispatch`` keys each one ``delivery-<id>``."""
    found = _DELIVERY_KEY.match(idempotency_key)
    return int(found.group(1)) if found else None


def _verp_mac(key: bytes, delivery_id: int) -> str:
    return hmac.new(key, f"delivery:{delivery_id}".encode(), hashlib.sha256).hexdigest()[:8]


def verp_address(key: bytes, delivery_id: int, domain: str) -> str:
    return f"{VERP_LOCAL}+{delivery_id}-{_verp_mac(key, delivery_id)}@{domain}"


#: A family's reply to a notice's email: ``reply+<delivery id>-<hmac16>@<domain>`` (its own signature, so a
#: return path's cannot be turned into a reply address).
REPLY_LOCAL = "reply"
_REPLY = re.compile(rf"^{REPLY_LOCAL}\+(\d{{1,18}})-([0-9a-f]{{16}})@([^@\s]+)$", re.IGNORECASE)


def _reply_mac(key: bytes, delivery_id: int) -> str:
    return hmac.new(key, f"reply:{delivery_id}".encode(), hashlib.sha256).hexdigest()[:16]


def reply_address(key: bytes, delivery_id: int, domain: str) -> str:
    return f"{REPLY_LOCAL}+{delivery_id}-{_reply_mac(key, delivery_id)}@{domain}"


def parse_reply_address(address: str, key: bytes) -> int | None:
    """The delivery id in a reply address made by :func:`reply_address`; None when ``address`` is not shaped
    like one. Raises :class:`ForgedReturnPath` when it is, but its signature does not match."""
    found = _REPLY.match(address.strip().strip("<>"))
    if found is None:
        return None
    delivery_id = int(found.group(1))
    if not hmac.compare_digest(found.group(2).lower(), _reply_mac(key, delivery_id)):
        raise ForgedReturnPath(f"reply address {address!r} is not signed by this hub")
    return delivery_id


def parse_verp(address: str, key: bytes) -> int | None:
    """The delivery id in a return path made by :func:`verp_address`; None when ``address`` is not shaped like
    one. Raises :class:`ForgedReturnPath` when it is, but its signature does not match."""
    found = _VERP.match(address.strip().strip("<>"))
    if found is None:
        return None
    delivery_id = int(found.group(1))
    if not hmac.compare_digest(found.group(2).lower(), _verp_mac(key, delivery_id)):
        raise ForgedReturnPath(f"return path {address!r} is not signed by this hub")
    return delivery_id


def build_mime(settings: EmailSettings, to: str, message: Rendered, *, now: dt.datetime | None = None) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = settings.sender
    mime["To"] = to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now or clock.now())
    mime["Message-ID"] = make_msgid(idstring=message.idempotency_key or None, domain=settings.id_domain)
    # RFC 3834: sent by a program, so autoresponders ("out of office") do not answer it.
    mime["Auto-Submitted"] = "auto-generated"
    reply_to = settings.reply_address(message) or message.reply_to
    if reply_to:
        mime["Reply-To"] = reply_to
    if message.unsubscribe:  # RFC 8058: mailbox providers POST "List-Unsubscribe=One-Click" to the address
        mime["List-Unsubscribe"] = f"<{message.unsubscribe}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = message.text if not message.link or message.link in message.text else f"{message.text}\n\n{message.link}"
    mime.set_content(text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    if message.calendar:
        mime.add_attachment(
            message.calendar.encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="carnet.ics",
            params={"method": "PUBLISH", "charset": "utf-8"},
        )
    # After the body: set_content() drops every Content-* header set before it.
    mime["Content-Language"] = message.language
    return mime


# ------------------------------------------------------------------------------------------- the wire form

#: What :func:`mime_bytes` writes: the same message as :func:`build_mime` (the same headers, parts and contents, as
#: a mail client reads them), written straight to bytes. The standard library's ``EmailMessage`` parses, validates
#: and refolds every header each time one is set and again when the message is flattened: most of a worker's CPU
#: per email. Here each distinct header value (the school's From, a message's Subject) is encoded once and kept,
#: and the bodies go through the C quoted-printable and base64 encoders.
_SMTP = email.policy.SMTP
#: Plain ASCII header values without anything RFC 5322 would quote or fold: written as they are.
_PLAIN_HEADER = re.compile(r"^[\x21-\x7e]([\x20-\x7e]{0,900}[\x21-\x7e])?$")


@lru_cache(maxsize=512)
def _encoded_header(name: str, value: str) -> bytes:
    """``Name: value`` as the standard library encodes and folds it for SMTP (RFC 2047 words for non-ASCII)."""
    return _SMTP.header_factory(name, value).fold(policy=_SMTP).encode("ascii")


def _header(name: str, value: str) -> bytes:
    if _PLAIN_HEADER.match(value) and name not in ("From", "Subject"):
        return f"{name}: {value}\r\n".encode("ascii")
    return _encoded_header(name, value)


def _boundary() -> str:
    return f"==============={random.randrange(10**18, 10**19)}=="


def _text_part(subtype: str, text: str) -> tuple[bytes, bytes]:
    """The headers and body of a ``text/<subtype>`` part in UTF-8: 7bit when it is short-lined ASCII, otherwise
    quoted-printable (every line within 76 characters, safe through any relay)."""
    data = text.encode("utf-8")
    if data.isascii() and all(len(line) <= 998 for line in data.split(b"\n")):
        cte, body = b"7bit", data
    else:
        cte, body = b"quoted-printable", binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    if not body.endswith(b"\n"):
        body += b"\n"
    head = b"Content-Type: text/" + subtype.encode() + b'; charset="utf-8"\r\nContent-Transfer-Encoding: ' + cte
    return head + b"\r\n", body


def _multipart(subtype: str, parts: Sequence[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    boundary = _boundary()
    while any(boundary.encode() in body for _head, body in parts):  # never, in practice: QP writes "=" as "=3D"
        boundary = _boundary()
    mark = b"--" + boundary.encode()
    body = b"".join(mark + b"\r\n" + head + b"\r\n" + content + b"\r\n" for head, content in parts)
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode()
    return head, body + mark + b"--\r\n"


def mime_bytes(
    settings: EmailSettings, to: str, message: Rendered, *, now: dt.datetime | None = None, message_id: str = ""
) -> bytes:
    """The message :func:`build_mime` makes, as the bytes sent on the wire (CRLF line ends are made by the SMTP
    client). ``message_id``: the Message-ID to use (default: a new one, as :func:`build_mime` makes)."""
    headers = [
        _header("From", settings.sender),
        _header("To", to),
        _header("Subject", message.subject),
        b"Date: " + format_datetime(now or clock.now()).encode() + b"\r\n",
        b"Message-ID: "
        + (message_id or make_msgid(idstring=message.idempotency_key or None, domain=settings.id_domain)).encode()
        + b"\r\n",
        b"Auto-Submitted: auto-generated\r\n",
    ]
    reply_to = settings.reply_address(message) or message.reply_to
    if reply_to:
        headers.append(_header("Reply-To", reply_to))
    if message.unsubscribe:
        headers.append(_header("List-Unsubscribe", f"<{message.unsubscribe}>"))
        headers.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    text = message.text if not message.link or message.link in message.text else f"{message.text}\n\n{message.link}"
    parts = [_text_part("plain", text)]
    if message.html:
        parts.append(_text_part("html", message.html))
    head, body = parts[0] if len(parts) == 1 else _multipart("alternative", parts)
    if message.calendar:
        attachment = (
            b'Content-Type: text/calendar; method="PUBLISH"; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="carnet.ics"\r\n',
            binascii.b2a_base64(message.calendar.encode("utf-8"), newline=False).replace(b"\n", b""),
        )
        head, body = _multipart("mixed", [(head, body), _wrap_base64(attachment)])
    headers.append(b"MIME-Version: 1.0\r\n")
    headers.append(head)
    headers.append(_header("Content-Language", message.language))
    return b"".join(headers) + b"\r\n" + body


def _wrap_base64(part: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    """A base64 body cut in lines of 76 characters (RFC 2045)."""
    head, data = part
    return head, b"\n".join(data[i : i + 76] for i in range(0, len(data), 76)) + b"\n"


def _classify(exc: Exception) -> Outcome:
    if isinstance(exc, smtp_errors.SMTPRecipientsRefused):
        codes = [e.code for e in exc.recipients]
        text = "; ".join(f"{e.code} {e.message}" for e in exc.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            return Outcome.permanent(f"recipient refused: {text}", dead_contact=True)
        return Outcome.transient(f"recipient deferred: {text}")
    if isinstance(exc, smtp_errors.SMTPResponseException):
        if 500 <= exc.code < 600:
            return Outcome.permanent(f"{exc.code} {exc.message}")
        return Outcome.transient(f"{exc.code} {exc.message}")
    return Outcome.transient(f"{type(exc).__name__}: {exc}")


#: Connected SMTP sessions kept open between sends, per adapter: each send otherwise pays a TCP connection, the
#: greeting, EHLO, the STARTTLS handshake and AUTH (half a dozen round trips to a relay) for one message.
IDLE_CONNECTIONS = 8
#: An idle session older than this is closed rather than reused: relays drop idle clients after a few minutes
#: (Postfix's smtpd_timeout is 300 s), and a dropped one would cost a failed command before the reconnection.
IDLE_SECONDS = 30.0


class EmailAdapter(ChannelAdapter):
    channel = Channel.EMAIL

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        #: The envelope sender when VERP is off: the From address, as ``send_message`` would take it.
        self._from = parseaddr(settings.sender)[1]
        #: Idle connected sessions, the event loop each belongs to and when each was last used (monotonic
        #: seconds), most recent last.
        self._idle: list[tuple[aiosmtplib.SMTP, asyncio.AbstractEventLoop, float]] = []

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password or None,
            start_tls=s.starttls,
            use_tls=s.use_tls,
            timeout=s.timeout,
        )

    async def send(self, contact: str, message: Rendered) -> Outcome:
        return (await self.send_batch([Envelope(contact, message)]))[0]

    async def _session(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A connected session and whether it was reused: the most recently used idle one still fresh, else a new
        connection (which may raise)."""
        loop = asyncio.get_running_loop()
        while self._idle:
            smtp, owner, used = self._idle.pop()
            if owner is not loop:  # a session of another event loop (closed since, maybe) is dropped, not used
                continue
            if smtp.is_connected and time.monotonic() - used < IDLE_SECONDS:
                return smtp, True
            await _quit(smtp)
        smtp = self._client()
        await smtp.connect()
        return smtp, False

    async def send_batch(self, items: Sequence[Envelope]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            smtp, reused = await self._session()
        except (smtp_errors.SMTPException, OSError) as exc:
            return [_classify(exc)] * len(items)
        healthy, finished = True, False
        try:
            for item in items:
                message_id = make_msgid(idstring=item.message.idempotency_key or None, domain=self.settings.id_domain)
                raw = mime_bytes(self.settings, item.contact, item.message, message_id=message_id)
                sender = self.settings.return_path(item.message) or self._from
                recipients = [parseaddr(item.contact)[1] or item.contact]
                try:
                    try:
                        await smtp.sendmail(sender, recipients, raw)
                    except smtp_errors.SMTPServerDisconnected:
                        if not reused:
                            raise
                        # A kept session the relay had closed meanwhile: once, on a new connection.
                        reused = False
                        smtp.close()
                        smtp = self._client()
                        await smtp.connect()
                        await smtp.sendmail(sender, recipients, raw)
                except smtp_errors.SMTPServerDisconnected as exc:
                    # The rest of the batch never left: each is retried later.
                    healthy = False
                    outcomes.append(_classify(exc))
                    outcomes.extend(_classify(exc) for _ in items[len(outcomes) :])
                    break
                except (smtp_errors.SMTPException, OSError) as exc:
                    outcomes.append(_classify(exc))
                    if isinstance(exc, OSError) or not smtp.is_connected:
                        healthy = False
                        outcomes.extend(_classify(exc) for _ in items[len(outcomes) :])
                        break
                    with contextlib.suppress(smtp_errors.SMTPException, OSError):
                        await smtp.rset()  # a refused recipient leaves the transaction open
                else:
                    outcomes.append(Outcome.sent(message_id))
                reused = False  # the session answered: a later failure is a real one
            finished = True
        finally:
            # A send cancelled half-way (its task stopped) leaves the session inside a mail transaction: closed,
            # never kept, or the next message on it would be refused ("503 nested MAIL command").
            if not finished:
                smtp.close()
            elif healthy and smtp.is_connected and len(self._idle) < IDLE_CONNECTIONS:
                self._idle.append((smtp, asyncio.get_running_loop(), time.monotonic()))
            else:
                await _quit(smtp)
        return outcomes

    async def close(self) -> None:
        """Close the idle sessions (``QUIT``)."""
        idle, self._idle = self._idle, []
        loop = asyncio.get_running_loop()
        for smtp, owner, _used in idle:
            if owner is loop:
                await _quit(smtp)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    if smtp.is_connected:
        try:
            await smtp.quit()
        except (smtp_errors.SMTPException, OSError):
            smtp.close()
