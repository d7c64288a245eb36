"""One dispatch pass on the demo school: what is due leaves through the real clients to the local peers."""

from __future__ import annotations

from datetime import UTC, datetime

from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import SmtpPeer
from channels.peers.twilio import TwilioPeer
from channels.sms import SmsAdapter, SmsSettings
from hub.delivery.dispatch import dispatch_due
from hub.demo.school import generate_demo
from hub.enums import AudienceKind, Channel, DeliveryState, GroupKind, StaffRole
from hub.messaging.links import personal_link
from hub.messaging.models import Delivery, Message, MessageAudience, Notice
from hub.messaging.planning import publish
from hub.people.models import Contact, Group, School, Staff

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SID = "AC" + "0" * 32
BASE = "http://127.0.0.1:8000"


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
