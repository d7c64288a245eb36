"""A family's email reply to a notice: it reaches Carnet, not the teacher's mailbox.

Each notice's email carries a Reply-To naming its delivery, signed by the hub (``channels.email.reply_address``,
made like the VERP return path), whose domain's MX hands the mail to ``carnet bounces``. The receiver
(:mod:`hub.delivery.bounces`) refuses a forged or guessed address at ``RCPT`` and gives the message here, which:

* ignores an automatic answer (``Auto-Submitted`` other than ``no``, ``Precedence: bulk/junk/list/auto_reply``,
  ``X-Autoreply``): an "out of office" is not a parent's word;
* reads the text the parent wrote (the plain part, else the HTML one as text), without the quoted message below
  it;
* stores it as the guardian's post in the notice's reply thread (``hub.messaging.replies``), channel email,
  exactly like a reply on the portal or by SMS, so staff are told of it only in their hours
  (``hub.messaging.threads.notify_staff``), and the teacher's own address is never handed out.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import html
import re
from dataclasses import dataclass
from email.message import EmailMessage

from hub.enums import Channel
from hub.messaging.models import Delivery
from hub.messaging.replies import ReplyError, record_guardian_reply

#: A reply is text; a large attachment is not read (the server refuses mail above this size).
MAX_REPLY_BYTES = 5 * 1024 * 1024
_AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
#: Where the quoted message starts in the usual mail clients (fr, nl, en).
_QUOTE_START = re.compile(
    r"^(>|-{2,}\s*(original message|message d'origine|oorspronkelijk bericht)\s*-{2,}"
    r"|(on|le|op) .{0,200}(wrote|a écrit|schreef)\s*:\s*$|from:\s|de\s?:\s|van\s?:\s)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MailReply:
    delivery_id: int
    #: "posted", "automatic" (an autoresponder: ignored), "unknown" (no such email delivery), or the
    #: ``ReplyError`` code ("empty", "too_long", "unknown_notice").
    outcome: str
    post_id: int | None = None


def is_automatic(message: EmailMessage) -> bool:
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return (auto not in ("", "no")) or precedence in _AUTOMATIC_PRECEDENCE or message.get("X-Autoreply") is not None


def written_text(message: EmailMessage) -> str:
    """What the parent wrote: the plain part (else the HTML part as text), cut where the quoted message starts."""
    part = message.get_body(("plain", "html"))
    if part is None:
        return ""
    content = part.get_content() if isinstance(part, EmailMessage) else ""
    text = str(content)
    if part.get_content_type() == "text/html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)))
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_START.match(line.strip()):
            break
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


async def handle_reply(delivery_id: int, raw: bytes, now: dt.datetime) -> MailReply:
    """Store the email ``raw`` sent to the reply address of ``delivery_id`` as its guardian's post."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the default policy makes EmailMessage objects
    if is_automatic(message):
        return MailReply(delivery_id, "automatic")
    delivery = await Delivery.get_or_none(id=delivery_id, channel=Channel.EMAIL).prefetch_related("notice")
    if delivery is None:
        return MailReply(delivery_id, "unknown")
    try:
        post = await record_guardian_reply(
            delivery.notice.id, delivery.notice.guardian_id, written_text(message), Channel.EMAIL, now
        )
    except ReplyError as exc:
        return MailReply(delivery_id, exc.code)
    return MailReply(delivery_id, "posted", post.id)
