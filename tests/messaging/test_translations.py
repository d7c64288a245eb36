"""A message written in French and Dutch: a Dutch-reading guardian gets the Dutch text on every channel, an
English-reading one the French text with a note in English; the message page, the letter and the preview agree.
Sent through the real clients to the local peers, as ``tests/delivery/test_dispatch.py`` does."""

from __future__ import annotations

from datetime import UTC, datetime

from channels.email import EmailAdapter, EmailSettings
from channels.letter import LetterRecipient, LetterSchool
from channels.peers.smtp import SmtpPeer
from channels.peers.twilio import TwilioPeer
from channels.sms import SmsAdapter, SmsSettings
from hub.delivery.dispatch import dispatch_due
from hub.demo.school import generate_demo
from hub.enums import AudienceKind, Channel, GroupKind, Language
from hub.messaging import links, portal, rendering, translations
from hub.messaging.models import Delivery, Message, MessageAudience, Notice
from hub.messaging.planning import publish
from hub.people.models import Contact, Group, Guardian, Staff

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SID = "AC" + "0" * 32
BASE = "http://127.0.0.1:8000"
FR_SUBJECT, FR_BODY = "Sortie au théâtre", "Jeudi, la classe va au théâtre."
NL_SUBJECT, NL_BODY = "Uitstap naar het theater", "Donderdag gaat de klas naar het theater."
NOTE_EN = "This message was not translated into English."


def test_choose_gives_the_readers_version_or_the_schools() -> None:
    school = translations.Version("fr", FR_SUBJECT, FR_BODY)
    nl = translations.Version("nl", NL_SUBJECT, NL_BODY)
    assert translations.choose("nl", school, {"nl": nl}) is nl
    assert translations.choose("en", school, {"nl": nl}) is school
    assert translations.choose("de", school, {"nl": nl}) is school  # German is not spoken: the school's
    assert rendering.language_note("en", "fr") == NOTE_EN
    assert rendering.language_note("nl", "fr") == "Dit bericht werd niet in het Nederlands vertaald."
    assert rendering.language_note("fr", "fr") == ""
    assert "machine" in rendering.language_note("en", "en", machine=True)


def test_the_preview_counts_families_per_language_and_names_the_missing_ones() -> None:
    lines = translations.audience_languages(
        {"fr": 20, "nl": 8, "en": 2}, "fr", {"nl": translations.Version("nl", "s", "b", machine=True)}
    )
    assert [(x.language, x.families, x.gets, x.missing, x.machine) for x in lines] == [
        ("fr", 20, "fr", False, False),
        ("nl", 8, "nl", False, True),
        ("en", 2, "fr", True, False),
    ]


async def test_a_dutch_reader_gets_dutch_and_an_english_reader_french_with_a_note(db: str) -> None:
    await generate_demo(seed=2026)
    teacher = await Staff.get(email="prof.demo@athenee-demo.example.be")
    class_3a = await Group.get(school_id=teacher.school_id, kind=GroupKind.CLASS, code="3A")
    message = await Message.create(school_id=teacher.school_id, author=teacher, subject=FR_SUBJECT, body=FR_BODY)
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=class_3a)
    await translations.save_versions(message.id, [translations.Version("nl", NL_SUBJECT, NL_BODY)])
    await publish(
        message.id,
        now=MONDAY_10,
        actor_staff_id=teacher.id,
        available_channels=frozenset({Channel.PORTAL, Channel.EMAIL, Channel.SMS}),
    )
    emails = await Delivery.filter(notice__message=message, channel=Channel.EMAIL).order_by("id")
    sms = await Delivery.filter(notice__message=message, channel=Channel.SMS).order_by("id")
    assert len(emails) >= 2 and sms
    # the guardians' languages, as their families chose them
    nl_notice = await Notice.get(id=emails[0].notice_id)
    en_notice = await Notice.get(id=emails[1].notice_id)
    sms_notice = await Notice.get(id=sms[0].notice_id)
    await Guardian.filter(id__in=[nl_notice.guardian_id, sms_notice.guardian_id]).update(language=Language.NL)
    await Guardian.filter(id=en_notice.guardian_id).update(language=Language.EN)

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
            texts = list(twilio.messages)
    assert report.failed == 0 and report.sent > 0

    async def mail_of(delivery: Delivery) -> str:
        address = (await Contact.get(id=delivery.contact_id)).value
        (mail,) = smtp.mailbox.to(address)
        return str(mail["Subject"]) + "\n" + mail.get_body(("plain",)).get_content()

    dutch = await mail_of(emails[0])
    assert NL_SUBJECT in dutch and NL_BODY in dutch and FR_BODY not in dutch and "vertaald" not in dutch
    english = await mail_of(emails[1])
    assert FR_SUBJECT in english and FR_BODY in english and NOTE_EN in english and NL_BODY not in english
    # the SMS of a Dutch reader carries the Dutch subject
    phone = (await Contact.get(id=sms[0].contact_id)).value
    (text,) = [m for m in texts if m.to == phone]
    assert NL_SUBJECT in text.body and FR_SUBJECT not in text.body

    # the message page (portal and personal link) and the printed letter say the same
    page_nl = await portal.message_page(nl_notice, MONDAY_10)
    assert (page_nl.subject, page_nl.body, page_nl.language_note) == (NL_SUBJECT, NL_BODY, "")
    page_en = await portal.message_page(en_notice, MONDAY_10)
    assert (page_en.subject, page_en.body, page_en.language_note) == (FR_SUBJECT, FR_BODY, NOTE_EN)
    views = await links.notice_views([emails[0], emails[1]], BASE)
    assert views[nl_notice.id].subject == NL_SUBJECT
    letter = rendering.render_letter(
        views[en_notice.id],
        school=LetterSchool("Athénée", ()),
        recipient=LetterRecipient("X", ()),
    )
    assert letter.body.startswith(NOTE_EN) and FR_BODY in letter.body
