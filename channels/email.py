"""Email through any SMTP server, with aiosmtplib.

One connection is reused for a whole batch (opening a TLS session per message is what makes naive senders slow
and gets them throttled). The message is a proper MIME alternative (plain text first, then HTML) with
Message-ID, Date and Reply-To, and carries the guardian's personal link. A recipient refused with a 5xx code is a
dead contact; 4xx codes and lost connections are transient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib
from aiosmtplib import errors as smtp_errors

from channels.base import ChannelAdapter, Envelope, Outcome, Rendered
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
    #: The domain of Message-IDs: the school's, so threads group in mail clients.
    message_id_domain: str = "carnet.example.be"

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("email: the SMTP host is required")
        if self.starttls and self.use_tls:
            raise ValueError("email: choose STARTTLS or implicit TLS, not both")


def build_mime(settings: EmailSettings, to: str, message: Rendered, *, now: dt.datetime | None = None) -> EmailMessage:
    mime = EmailMessage()
    mime["From"] = settings.sender
    mime["To"] = to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    mime["Message-ID"] = make_msgid(idstring=message.idempotency_key or None, domain=settings.message_id_domain)
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    text = message.text if not message.link or message.link in message.text else f"{message.text}\n\n{message.link}"
    mime.set_content(text)
    if message.html:
        mime.add_alternative(message.html, subtype="html")
    # After the body: set_content() drops every Content-* header set before it.
    mime["Content-Language"] = message.language
    return mime


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


class EmailAdapter(ChannelAdapter):
    channel = Channel.EMAIL

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

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

    async def send_batch(self, items: Sequence[Envelope]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        smtp = self._client()
        try:
            await smtp.connect()
        except (smtp_errors.SMTPException, OSError) as exc:
            return [_classify(exc)] * len(items)
        try:
            for item in items:
                mime = build_mime(self.settings, item.contact, item.message)
                try:
                    await smtp.send_message(mime)
                except smtp_errors.SMTPServerDisconnected as exc:
                    # The rest of the batch never left: each is retried later.
                    outcomes.append(_classify(exc))
                    outcomes.extend(_classify(exc) for _ in items[len(outcomes) :])
                    break
                except (smtp_errors.SMTPException, OSError) as exc:
                    outcomes.append(_classify(exc))
                else:
                    outcomes.append(Outcome.sent(str(mime["Message-ID"])))
        finally:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (smtp_errors.SMTPException, OSError):
                    smtp.close()
        return outcomes
