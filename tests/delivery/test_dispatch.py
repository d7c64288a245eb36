"""One dispatch pass on the demo school: what is due leaves through the real clients to the local peers, each
message recorded before the next leaves, so a crash re-sends only the message in flight."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from channels.base import ChannelAdapter, Envelope, Outcome
from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import SmtpPeer
from channels.peers.twilio import TwilioPeer
from channels.sms import SmsAdapter, SmsSettings
from hub.delivery.dispatch import dispatch_due, reclaim_expired
from hub.demo.school import generate_demo
from hub.enums import AudienceKind, Channel, DeliveryState, GroupKind, StaffRole
from hub.messaging.links import personal_link
from hub.messaging.models import Delivery, Message, MessageAudience, Notice
from hub.messaging.planning import LEASE, publish
from hub.people.models import Contact, Group, School, Staff

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SID = "AC" + "0" * 32
BASE = "http://127.0.0.1:8000"
_DELIVERY_ID = re.compile(r"delivery-(\d+)@")


async def test_a_class_message_reaches_the_peers_with_personal_links(db: str) -> None:
    await generate_demo(seed=2026)
    school = await School.first()
    teacher = await Staff.get(email="prof.demo@athenee-demo.example.be")
    assert school is not None and await teacher.roles.filter(role=StaffRole.TEACHER).exists()
    class_3a = await Group.get(school=school, kind=GroupKind.CLASS, code="3A")
    message = await Message.create(school=school, author=teacher, subject="Sortie au théâtre", body="Jeudi 26.")
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=class_3a)
    await publish(
        message.id,
        now=MONDAY_10,
        actor_staff_id=teacher.id,
        available_channels=frozenset({Channel.PORTAL, Channel.EMAIL, Channel.SMS}),
    )

    with SmtpPeer() as smtp:
        async with TwilioPeer(auth_token="t" * 32, account_sid=SID) as twilio:
            adapters = {
                Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port)),
                Channel.SMS: SmsAdapter(
                    SmsSettings(SID, "t" * 32, "+32460000000", f"{BASE}/hooks/twilio/status", base_url=twilio.base_url)
                ),
            }
            report = await dispatch_due(adapters, now=MONDAY_10, base_url=BASE)
            await adapters[Channel.SMS].close()
            sms_received = list(twilio.messages)

    email_rows = await Delivery.filter(notice__message=message, channel=Channel.EMAIL)
    sms_rows = await Delivery.filter(notice__message=message, channel=Channel.SMS)
    assert report.claimed == len(email_rows) + len(sms_rows) > 0
    assert report.failed == 0 and report.sent == report.claimed
    assert len(smtp.mailbox.messages) == len(email_rows)
    assert len(sms_received) == len(sms_rows)
    assert all(d.state == DeliveryState.SENT and d.provider_id for d in [*email_rows, *sms_rows])

    # each guardian's copy carries their own link, in their own language
    delivery = email_rows[0]
    notice = await Notice.get(id=delivery.notice_id).prefetch_related("guardian")
    address = (await Contact.get(id=delivery.contact_id)).value
    (mail,) = smtp.mailbox.to(address)
    assert personal_link(BASE, notice.token) in mail.get_body(("plain",)).get_content()
    assert mail["Content-Language"] == str(notice.guardian.language)

    # nothing is due any more: a second pass sends nothing again
    again = await dispatch_due(adapters, now=MONDAY_10, base_url=BASE)
    assert again.claimed == 0


class _Killed(BaseException):
    """Stands for a SIGKILL: not an Exception, so nothing on the way catches it and nothing after it runs."""


async def _class_message_by_email() -> Message:
    await generate_demo(seed=2026)
    teacher = await Staff.get(email="prof.demo@athenee-demo.example.be")
    class_3a = await Group.get(school_id=teacher.school_id, kind=GroupKind.CLASS, code="3A")
    message = await Message.create(school_id=teacher.school_id, author=teacher, subject="Piscine", body="Mardi.")
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=class_3a)
    await publish(message.id, now=MONDAY_10, actor_staff_id=teacher.id, available_channels=frozenset({Channel.EMAIL}))
    return message


def _delivery_id(envelope: Envelope) -> int:
    return int(envelope.message.idempotency_key.removeprefix("delivery-"))


async def test_each_send_is_recorded_before_the_next_leaves(db: str) -> None:
    message = await _class_message_by_email()
    emails = await Delivery.filter(notice__message=message, channel=Channel.EMAIL).count()
    assert emails > 3
    sent: list[int] = []

    async def watching(channel: Channel, adapter: ChannelAdapter, envelopes: list[Envelope]) -> list[Outcome]:
        assert len(envelopes) == 1  # one message in flight per send call
        # everything sent before is already recorded: a crash now would lose track of this message alone
        assert await Delivery.filter(id__in=sent).exclude(state=DeliveryState.SENT).count() == 0
        sent.append(_delivery_id(envelopes[0]))
        return await adapter.send_batch(envelopes)

    with SmtpPeer() as smtp:
        adapters = {Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port))}
        report = await dispatch_due(adapters, now=MONDAY_10, base_url=BASE, send=watching)
        received = len(smtp.mailbox.messages)
    assert report.claimed == report.sent == len(sent) == received == emails
    rows = await Delivery.filter(id__in=sent)
    assert all(d.state == DeliveryState.SENT and d.attempts == 1 and d.provider_id and d.sent_at for d in rows)


async def test_a_crash_after_the_provider_accepted_resends_that_message_only(db: str) -> None:
    message = await _class_message_by_email()
    email_rows = Delivery.filter(notice__message=message, channel=Channel.EMAIL)
    emails = await email_rows.count()
    calls, in_flight = 0, 0

    async def killed_on_the_fourth(
        channel: Channel, adapter: ChannelAdapter, envelopes: list[Envelope]
    ) -> list[Outcome]:
        nonlocal calls
        calls += 1
        outcomes = await adapter.send_batch(envelopes)
        if calls == 4:  # the relay took the fourth message; the process dies before recording it
            nonlocal in_flight
            in_flight = _delivery_id(envelopes[0])
            raise _Killed
        return outcomes

    with SmtpPeer() as smtp:
        adapters = {Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port))}
        with pytest.raises(_Killed):
            await dispatch_due(adapters, now=MONDAY_10, base_url=BASE, worker_id="dead", send=killed_on_the_fourth)
        states = Counter(await email_rows.values_list("state", flat=True))
        assert states == {DeliveryState.SENT: 3, DeliveryState.CLAIMED: emails - 3}  # the first three recorded
        # once the lease has run out another worker takes the claims back and sends them
        later = MONDAY_10 + LEASE + timedelta(seconds=1)
        assert await reclaim_expired(later) == emails - 3
        report = await dispatch_due(adapters, now=later, base_url=BASE, worker_id="next")
        # copies per delivery, from the Message-ID (it carries the ``delivery-<id>`` key)
        copies = Counter(_DELIVERY_ID.findall(" ".join(str(mail["Message-ID"]) for mail in smtp.mailbox.messages)))
    assert report.sent == emails - 3
    assert len(copies) == emails and sum(copies.values()) == emails + 1  # one re-send: the message in flight
    assert [int(key) for key, n in copies.items() if n > 1] == [in_flight]
    assert await email_rows.exclude(state=DeliveryState.SENT).count() == 0
