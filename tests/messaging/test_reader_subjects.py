"""Issue 14: every list a family reads shows a message's subject in their language where it was written in it
(the portal's inbox, the office's paper letter, the API's notice list, through ``translations.subjects_for``),
and the push and Telegram bodies carry the note where it was not."""

from __future__ import annotations

from hub.demo.school import generate_demo
from hub.enums import AudienceKind, Channel, GroupKind, Language
from hub.messaging import office, portal, rendering, translations
from hub.messaging.models import Message, MessageAudience, Notice
from hub.messaging.planning import publish
from hub.messaging.rendering import NoticeView
from hub.people.models import Group, Guardian, Staff
from tests.messaging.test_translations import FR_BODY, FR_SUBJECT, MONDAY_10, NL_BODY, NL_SUBJECT, NOTE_EN


async def _two_messages() -> tuple[Message, Message, Notice, Notice]:
    """A message with a Dutch version and one without, to the same class; a Dutch and an English guardian."""
    await generate_demo(seed=2026)
    teacher = await Staff.get(email="prof.demo@athenee-demo.example.be")
    class_3a = await Group.get(school_id=teacher.school_id, kind=GroupKind.CLASS, code="3A")
    made = []
    for subject in (FR_SUBJECT, "Réunion des parents"):
        message = await Message.create(school_id=teacher.school_id, author=teacher, subject=subject, body=FR_BODY)
        await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=class_3a)
        made.append(message)
    await translations.save_versions(made[0].id, [translations.Version("nl", NL_SUBJECT, NL_BODY)])
    for message in made:
        await publish(
            message.id, now=MONDAY_10, actor_staff_id=teacher.id, available_channels=frozenset({Channel.PORTAL})
        )
    first, second = await Notice.filter(message_id=made[0].id).order_by("guardian_id").limit(2)
    await Guardian.filter(id=first.guardian_id).update(language=Language.NL)
    await Guardian.filter(id=second.guardian_id).update(language=Language.EN)
    return made[0], made[1], first, second


async def test_subjects_for_picks_each_reader_s_version_in_one_query(db: str) -> None:
    trip, meeting, _, _ = await _two_messages()
    subjects = {trip.id: trip.subject, meeting.id: meeting.subject}
    assert await translations.subjects_for("nl", "fr", subjects) == {
        trip.id: NL_SUBJECT,
        meeting.id: "Réunion des parents",
    }
    assert await translations.subjects_for("en", "fr", subjects) == subjects
    assert await translations.subjects_for("fr", "fr", subjects) == subjects
    assert await translations.subjects_for("nl", "nl", subjects) == subjects  # the school writes Dutch itself
    assert await translations.subjects_for("nl", "fr", {}) == {}


async def test_the_inbox_and_the_paper_letter_show_the_reader_s_subject(db: str) -> None:
    trip, _, dutch, english = await _two_messages()
    nl_inbox = await portal.inbox(dutch.guardian_id, now=MONDAY_10)
    assert nl_inbox is not None
    by_notice = {item.notice_id: item.subject for item in nl_inbox.items}
    assert by_notice[dutch.id] == NL_SUBJECT
    assert "Réunion des parents" in by_notice.values()  # no Dutch version: the school's subject
    en_inbox = await portal.inbox(english.guardian_id, now=MONDAY_10)
    assert en_inbox is not None
    assert {item.notice_id: item.subject for item in en_inbox.items}[english.id] == FR_SUBJECT

    # the office types the code printed on the Dutch letter: it shows the subject the letter printed
    from hub.messaging.models import ReplySlip

    await ReplySlip.create(message_id=trip.id, deadline=MONDAY_10.replace(year=2027))
    letter = await office.find_letter(dutch.token[:8], trip.school_id)
    assert letter.subject == NL_SUBJECT
    letter = await office.find_letter(english.token[:8], trip.school_id)
    assert letter.subject == FR_SUBJECT


def _view(language: str, text_language: str) -> NoticeView:
    return NoticeView(
        language=language,
        school_name="Athénée",
        guardian_name="Anna",
        subject=FR_SUBJECT,
        body=FR_BODY,
        link="https://carnet.example/n/abc",
        text_language=text_language,
    )


def test_push_and_telegram_carry_the_note_and_the_sms_stays_short() -> None:
    for channel in (Channel.WEBPUSH, Channel.FCM, Channel.TELEGRAM):
        untranslated = rendering.render(_view("en", "fr"), channel)
        assert NOTE_EN in untranslated.text, channel
        assert untranslated.text.index(NOTE_EN) < untranslated.text.index("Jeudi"), channel
        translated = rendering.render(_view("fr", "fr"), channel)
        assert "translated" not in translated.text and "traduit" not in translated.text, channel
    sms, _ = rendering.render_sms(_view("en", "fr"))
    assert NOTE_EN not in sms.text and FR_SUBJECT in sms.text and "https://carnet.example/n/abc" in sms.text
