"""A real digest: past the daily limit, the held notices leave the next morning as ONE message per guardian and
channel listing them all, in the guardian's language, counted at the local SMTP and Twilio peers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import SmtpPeer
from channels.peers.twilio import TwilioPeer
from channels.sms import SmsAdapter, SmsSettings
from hub.delivery.dispatch import dispatch_due
from hub.enums import Channel, ContactKind, DeliveryState, Language
from hub.messaging.links import personal_link
from hub.messaging.models import Delivery, Message, Notice
from hub.messaging.planning import publish
from hub.people.models import Contact, Guardian
from tests.messaging.test_planning import Tiny, build_school, class_message

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TUESDAY_10 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SID = "AC" + "0" * 32
BASE = "http://127.0.0.1:8000"


async def _publish(tiny: Tiny, subject: str) -> Message:
    message = await class_message(tiny)
    await Message.filter(id=message.id).update(subject=subject)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    return message


async def test_three_items_past_the_cap_leave_as_one_message_per_guardian_and_channel(db: str) -> None:
    tiny = await build_school()
    mother, father = tiny.guardians["mother"], tiny.guardians["father"]
    await Guardian.filter(id=mother.id).update(language=Language.NL)
    for n in range(3):  # the charter's daily limit: three a day
        await _publish(tiny, f"Monday {n}")
    held = [await _publish(tiny, f"Held {n}") for n in range(3)]
    digested = await Delivery.filter(notice__message_id__in=[m.id for m in held]).exclude(digest_key="")
    assert len(digested) == 9 and {d.state for d in digested} == {DeliveryState.HELD}, "3 guardians x 3 items"

    with SmtpPeer() as smtp:
        async with TwilioPeer(auth_token="t" * 32, account_sid=SID) as twilio:
            adapters = {
                Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port)),
                Channel.SMS: SmsAdapter(
                    SmsSettings(SID, "t" * 32, "+32460000000", f"{BASE}/hooks/twilio/status", base_url=twilio.base_url)
                ),
            }
            monday = await dispatch_due(adapters, now=MONDAY_10, base_url=BASE)
            emails_monday, sms_monday = len(smtp.mailbox.messages), len(twilio.messages)
            assert monday.sent == 9 and emails_monday + sms_monday == 9, "Monday's three go one by one"

            tuesday = await dispatch_due(adapters, now=TUESDAY_10, base_url=BASE)
            await adapters[Channel.SMS].close()
            emails = smtp.mailbox.messages[emails_monday:]
            texts = twilio.messages[sms_monday:]

    assert tuesday.claimed == 9 and tuesday.sent == 9, "every held item is recorded as sent"
    by_channel = Counter(d.channel for d in digested)
    assert len(emails) + len(texts) == 3, "one message per guardian and channel, not nine"
    assert len(emails) == by_channel[Channel.EMAIL] // 3 and len(texts) == by_channel[Channel.SMS] // 3
    assert Counter(str(m["To"]) for m in emails).most_common(1)[0][1] == 1
    assert len({m.to for m in texts}) == len(texts)

    mother_mail = (await Contact.get(guardian_id=mother.id, kind=ContactKind.EMAIL)).value
    (digest,) = [m for m in emails if mother_mail in str(m["To"])]
    body = digest.get_body(("plain",)).get_content()
    assert "3 berichten" in str(digest["Subject"]), "in the guardian's language (Dutch)"
    for n, message in enumerate(held):
        notice = await Notice.get(message_id=message.id, guardian_id=mother.id)
        assert f"Held {n}" in body and personal_link(BASE, notice.token) in body
    father_phone = (await Contact.get(guardian_id=father.id, kind=ContactKind.PHONE)).value
    (sms,) = [t for t in texts if t.to == father_phone]
    assert all(f"Held {n}" in sms.body for n in range(3)) and "3 messages" in sms.body
    states = set(await Delivery.filter(id__in=[d.id for d in digested]).values_list("state", flat=True))
    assert states == {DeliveryState.SENT}
