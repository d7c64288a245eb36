"""A parent's email reply: the notice's email has a signed per-notice Reply-To (never the teacher's address),
Auto-Submitted, a Message-ID of the school's domain, an iCalendar event for the slip's deadline, and parses with
``email.policy.strict``; a reply to that address, over real SMTP on 127.0.0.1 to the receiver ``carnet bounces``
runs, becomes a post in the notice's thread, told to staff only in their hours; a forged address is refused."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import pytest

from channels.email import EmailAdapter, EmailSettings, reply_address, return_path_key
from channels.peers.smtp import SmtpPeer
from charter import default_charter
from hub.delivery.bounces import BounceResult, BounceServer
from hub.delivery.dispatch import dispatch_due
from hub.enums import Channel, ContactKind, QuestionKind
from hub.messaging.models import Delivery, Notice, ReplySlip, SlipQuestion, ThreadPost
from hub.messaging.planning import publish
from hub.messaging.threads import notify_staff
from hub.people.models import Contact
from tests.messaging.test_planning import Tiny, build_school, class_message

KEY = return_path_key("r" * 40)
DOMAIN = "athenee.example.be"
SENDER = f"Athénée royal <ecole@{DOMAIN}>"
BASE = "http://127.0.0.1:8000"
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SATURDAY_NIGHT = datetime(2026, 11, 28, 22, 30, tzinfo=UTC)
DEADLINE = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[BounceServer, asyncio.Queue[BounceResult]]]:
    results: asyncio.Queue[BounceResult] = asyncio.Queue()
    server = await BounceServer(KEY, on_result=results.put).start()
    try:
        yield server, results
    finally:
        await server.stop()


async def _sent(tiny: Tiny) -> tuple[EmailMessage, Delivery, EmailSettings]:
    """A class message with a reply slip, sent by email to the mother through the SMTP peer."""
    message = await class_message(tiny)
    slip = await ReplySlip.create(message=message, deadline=DEADLINE)
    await SlipQuestion.create(slip=slip, position=1, kind=QuestionKind.YES_NO, text="Participe ?")
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    mother = tiny.guardians["mother"]
    address = (await Contact.get(guardian_id=mother.id, kind=ContactKind.EMAIL)).value
    with SmtpPeer() as peer:
        settings = EmailSettings(host="127.0.0.1", port=peer.port, sender=SENDER, return_path_key=KEY)
        await dispatch_due({Channel.EMAIL: EmailAdapter(settings)}, now=MONDAY_10, base_url=BASE)
        (mail,) = peer.mailbox.to(address)
    delivery = await Delivery.get(notice__message_id=message.id, notice__guardian_id=mother.id, channel=Channel.EMAIL)
    return mail, delivery, settings


async def _reply(server: BounceServer, to: str, body: str, **headers: str) -> None:
    reply = EmailMessage()
    reply["From"] = "mother@example.be"
    reply["To"] = to
    reply["Subject"] = "Re: Sortie"
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    reply.set_content(body)
    await aiosmtplib.send(reply, hostname="127.0.0.1", port=server.port, sender="mother@example.be", recipients=[to])


async def test_the_email_is_clean_and_a_reply_lands_in_the_thread_in_staff_hours(
    db: str, receiver: tuple[BounceServer, asyncio.Queue[BounceResult]]
) -> None:
    server, results = receiver
    tiny = await build_school()
    mail, delivery, _settings = await _sent(tiny)

    # The email: strict parsing, Auto-Submitted, the school's Message-ID domain, no teacher address.
    raw = mail.as_bytes(policy=email.policy.SMTP)
    strict = email.message_from_bytes(raw, policy=email.policy.strict)
    assert all(not part.defects for part in strict.walk())
    assert strict["Auto-Submitted"] == "auto-generated"
    assert str(strict["Message-ID"]).endswith(f"@{DOMAIN}>") and "carnet.example.be" not in raw.decode()
    assert tiny.teacher.email not in raw.decode(), "the teacher's own address is never exposed"
    reply_to = str(strict["Reply-To"])
    assert reply_to == reply_address(KEY, delivery.id, DOMAIN)
    (calendar,) = [p for p in strict.walk() if p.get_content_type() == "text/calendar"]
    ics = calendar.get_content()
    assert "BEGIN:VEVENT" in ics and "DTEND:20261130T130000Z" in ics and "Participe" not in ics
    assert re.search(r"SUMMARY:Répondre au talon : Sortie", ics)

    # A parent's reply, quoting the message below: only their words are posted, on Saturday night.
    notice = await Notice.get(id=delivery.notice_id)  # type: ignore[attr-defined]
    body = "Elle viendra, merci.\n\nLe lun. 23 nov. 2026, l'école a écrit :\n> Sortie au musée vendredi."
    await _reply(server, reply_to, body)
    assert (await asyncio.wait_for(results.get(), 60)).outcome == "reply_posted"
    (post,) = await ThreadPost.filter(notice_id=notice.id)
    assert (post.body, post.channel, post.guardian_id) == ("Elle viendra, merci.", Channel.EMAIL, notice.guardian_id)  # type: ignore[attr-defined]

    # Staff are told only in their hours, by email through the SMTP peer: nothing on Saturday night, the digest
    # on Monday morning.
    with SmtpPeer() as peer:
        send = EmailAdapter(EmailSettings(host="127.0.0.1", port=peer.port, sender=SENDER)).send
        assert await notify_staff(SATURDAY_NIGHT, default_charter(), send) == 0
        assert (await ThreadPost.get(id=post.id)).staff_notified_at is None
        assert peer.mailbox.messages == []
        monday = SATURDAY_NIGHT + timedelta(days=1, hours=10)  # Monday 09:30 in Brussels
        assert await notify_staff(monday, default_charter(), send) >= 1
        assert peer.mailbox.to(tiny.teacher.email), "the author follows the replies to their message"


async def test_a_forged_reply_address_is_refused_and_an_autoreply_ignored(
    db: str, receiver: tuple[BounceServer, asyncio.Queue[BounceResult]]
) -> None:
    server, results = receiver
    tiny = await build_school()
    _mail, delivery, _settings = await _sent(tiny)
    genuine = reply_address(KEY, delivery.id, DOMAIN)
    forged = [
        reply_address(return_path_key("x" * 40), delivery.id, DOMAIN),  # another hub's key
        genuine.replace(f"+{delivery.id}-", f"+{delivery.id + 1}-"),  # someone else's delivery
        f"reply+{delivery.id}-0000000000000000@{DOMAIN}",
        f"teacher@{DOMAIN}",
    ]
    for address in forged:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await _reply(server, address, "Je suis un faussaire.")
    await _reply(server, genuine, "Je suis absente jusqu'au 1er décembre.", Auto_Submitted="auto-replied")
    assert (await asyncio.wait_for(results.get(), 60)).outcome == "reply_automatic"
    assert await ThreadPost.all().count() == 0
