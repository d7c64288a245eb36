"""The absence register (hub/records/absences.py) on SQLite and PostgreSQL, with a tiny school built in each test:
the notice and its justification slip, held in quiet hours; justifications by SMS (through the real Twilio client
to the local peer), Telegram, paper and the office; the threshold; who may take a register; the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from channels.peers.twilio import TwilioPeer
from channels.sms import SmsAdapter, SmsSettings
from channels.telegram import sign_callback
from charter import school_charter
from hub.config import Settings
from hub.delivery.dispatch import dispatch_due
from hub.enums import (
    AbsenceReason,
    Category,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryPurpose,
    DeliveryState,
    GroupKind,
    Language,
    QuestionKind,
    Relation,
    StaffRole,
)
from hub.messaging import inbound, paper, translations
from hub.messaging.links import short_code
from hub.messaging.models import Delivery, Message, Notice, ReplySlip, SlipQuestion, SlipResponse
from hub.people.models import (
    Consent,
    Contact,
    Group,
    Guardian,
    Guardianship,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
    Teaching,
)
from hub.records import absences
from hub.records.absences import Mark
from hub.records.models import Absence, Register

TOKEN = "t" * 32
ACCOUNT = "AC" + "0" * 32
BASE_URL = "https://carnet.example.be"
INBOUND_URL = BASE_URL + "/hooks/twilio/inbound"
PHONE = "+32470111222"
CHAT = 424242
LINK_SECRET = "l" * 40
TEACHER = frozenset({StaffRole.TEACHER})
SECRETARY = frozenset({StaffRole.SECRETARY})
PRINCIPAL = frozenset({StaffRole.PRINCIPAL})


@dataclass
class Tiny:
    school: School
    teacher: Staff
    other_teacher: Staff
    secretary: Staff
    class_3b: Group
    class_3c: Group
    lina: Pupil
    marc: Pupil
    mother: Guardian
    father: Guardian
    barred: Guardian


async def tiny(at: dt.datetime) -> Tiny:
    school = await School.create(name="Athénée Royal")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email="t@school.be")
    other = await Staff.create(school=school, first_name="Ula", last_name="U", email="u@school.be")
    secretary = await Staff.create(school=school, first_name="Sam", last_name="S", email="s@school.be")
    for member, role in ((teacher, StaffRole.TEACHER), (other, StaffRole.TEACHER), (secretary, StaffRole.SECRETARY)):
        await StaffRoleGrant.create(staff=member, role=role)
    class_3b = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    class_3c = await Group.create(school=school, kind=GroupKind.CLASS, code="3C", name="3C")
    await Teaching.create(staff=teacher, group=class_3b, subject="Math")
    await Teaching.create(staff=other, group=class_3c, subject="Math")
    lina = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="Xhaflaire")
    marc = await Pupil.create(school=school, external_id="P2", first_name="Marc", last_name="Yildiz")
    await Membership.create(group=class_3b, pupil=lina)
    await Membership.create(group=class_3b, pupil=marc)
    mother = await Guardian.create(school=school, external_id="G1", first_name="Anne", last_name="X")
    father = await Guardian.create(school=school, external_id="G2", first_name="Bob", last_name="X")
    barred = await Guardian.create(school=school, external_id="G3", first_name="Carl", last_name="X")
    await Contact.create(guardian=mother, kind=ContactKind.PHONE, value=PHONE, verified=True)
    await Contact.create(guardian=mother, kind=ContactKind.TELEGRAM, value=str(CHAT), verified=True)
    for guardian in (mother, father, barred):
        await Contact.create(
            guardian=guardian, kind=ContactKind.EMAIL, value=f"{guardian.first_name}@home.be", verified=True
        )
        for purpose in (ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.SMS, ConsentPurpose.EMAIL):
            await Consent.create(
                guardian=guardian,
                purpose=purpose,
                version="1",
                given_at=at - dt.timedelta(days=30),
                source=ConsentSource.PORTAL,
            )
    await Guardianship.create(pupil=lina, guardian=mother, relation=Relation.MOTHER)
    # The father receives the school's messages but may not see records; the third guardian is barred.
    await Guardianship.create(pupil=lina, guardian=father, relation=Relation.FATHER, sees_records=False)
    await Guardianship.create(pupil=lina, guardian=barred, relation=Relation.OTHER, barred=True)
    await Guardianship.create(pupil=marc, guardian=father, relation=Relation.FATHER)
    return Tiny(school, teacher, other, secretary, class_3b, class_3c, lina, marc, mother, father, barred)


def today(at: dt.datetime) -> dt.date:
    return at.astimezone(school_charter().tz).date()


async def take(
    t: Tiny,
    at: dt.datetime,
    marks: dict[int, Mark],
    *,
    period: int = 2,
    on_date: dt.date | None = None,
    channels: frozenset[Channel] = frozenset({Channel.PORTAL, Channel.SMS, Channel.TELEGRAM, Channel.EMAIL}),
) -> absences.TakeResult:
    return await absences.take_register(
        t.teacher.id,
        TEACHER,
        t.school.id,
        t.class_3b.id,
        on_date or today(at),
        period,
        marks,
        now=at,
        available_channels=channels,
    )


async def lina_notice(t: Tiny) -> Notice:
    absence = await Absence.get(pupil_id=t.lina.id)
    assert absence.message_id is not None
    return await Notice.get(message_id=absence.message_id, guardian_id=t.mother.id)


# ----------------------------------------------------------------------------------------- the notice


async def test_an_absence_creates_the_notice_with_its_justification_slip(db: str, at_school_hours: dt.datetime) -> None:
    t = await tiny(at_school_hours)
    result = await take(t, at_school_hours, {t.lina.id: Mark.ABSENT, t.marc.id: Mark.LATE})
    assert (result.absent, result.late, len(result.messages)) == (1, 1, 1)
    lina = await Absence.get(pupil_id=t.lina.id)
    assert not lina.late and not lina.justified and lina.message_id == result.messages[0]
    late = await Absence.get(pupil_id=t.marc.id)
    assert late.late and late.message_id is None  # late: recorded, no notice
    message = await Message.get(id=lina.message_id)
    assert message.category == Category.ABSENCE and "Lina" in message.subject
    slip = await ReplySlip.get(message_id=message.id)
    questions = await SlipQuestion.filter(slip_id=slip.id).order_by("position")
    assert [q.kind for q in questions] == [QuestionKind.ONE_CHOICE, QuestionKind.FREE_TEXT]
    assert questions[0].choices == ["Maladie", "Certificat médical", "Raison familiale", "Autre"]
    # Only the guardian with the records right, not barred, gets it.
    assert await Notice.filter(message_id=message.id).values_list("guardian_id", flat=True) == [t.mother.id]
    notice = await lina_notice(t)
    first = (
        await Delivery.filter(notice_id=notice.id, purpose=DeliveryPurpose.INITIAL)
        .exclude(channel=Channel.PORTAL)
        .get()
    )
    assert first.state == DeliveryState.DUE  # in the charter's hours: on its way at once
    assert result.due == 1 and result.held == 0


async def test_an_absence_recorded_in_quiet_hours_is_held(db: str, at_saturday_night: dt.datetime) -> None:
    t = await tiny(at_saturday_night)
    friday = today(at_saturday_night) - dt.timedelta(days=1)
    result = await take(t, at_saturday_night, {t.lina.id: Mark.ABSENT}, on_date=friday)
    assert result.held == 1 and result.due == 0
    assert result.held_until is not None and result.held_until > at_saturday_night
    notice = await lina_notice(t)
    first = (
        await Delivery.filter(notice_id=notice.id, purpose=DeliveryPurpose.INITIAL)
        .exclude(channel=Channel.PORTAL)
        .get()
    )
    assert first.state == DeliveryState.HELD and first.due_at == result.held_until


async def test_later_periods_of_a_half_day_join_its_notice_and_a_correction_withdraws_it(
    db: str, at_school_hours: dt.datetime
) -> None:
    t = await tiny(at_school_hours)
    first = await take(t, at_school_hours, {t.lina.id: Mark.ABSENT}, period=1)
    second = await take(t, at_school_hours, {t.lina.id: Mark.ABSENT}, period=2)
    assert len(first.messages) == 1 and second.messages == ()
    assert set(await Absence.filter(pupil_id=t.lina.id).values_list("message_id", flat=True)) == {first.messages[0]}
    # Taken again: Lina was there after all in both periods, so what has not gone yet is dropped.
    await take(t, at_school_hours, {}, period=1)
    await take(t, at_school_hours, {t.lina.id: Mark.PRESENT}, period=2)
    assert not await Absence.filter(pupil_id=t.lina.id).exists()
    assert await Register.filter(group_id=t.class_3b.id).count() == 2
    pending = await Delivery.filter(
        notice__message_id=first.messages[0], state__in=(DeliveryState.DUE, DeliveryState.HELD)
    ).count()
    assert pending == 0


# ----------------------------------------------------------------------------------- justifications


async def _sms_sent(at: dt.datetime) -> list[str]:
    """Send what is due by SMS through the Twilio peer; the bodies the mother's phone received."""
    async with TwilioPeer(auth_token=TOKEN, account_sid=ACCOUNT) as twilio:
        adapter = SmsAdapter(
            SmsSettings(ACCOUNT, TOKEN, "+32460000000", f"{BASE_URL}/hooks/twilio/status", base_url=twilio.base_url)
        )
        try:
            await dispatch_due({Channel.SMS: adapter}, now=at, base_url=BASE_URL)
        finally:
            await adapter.close()
        return [sms.body for sms in twilio.to(PHONE)]


async def _sms_answer(at: dt.datetime, body: str) -> inbound.SmsReplyResult:
    """The mother's SMS reply, as Twilio's signed webhook brings it."""
    params = {"MessageSid": "SM" + secrets.token_hex(16), "From": PHONE, "To": "+32460000000", "Body": body}
    signature = RequestValidator(TOKEN).compute_signature(INBOUND_URL, params)
    return await inbound.twilio_inbound(INBOUND_URL, params, signature, TOKEN, at)


async def test_a_justification_by_sms_through_the_twilio_peer_marks_the_absence_justified(
    db: str, at_school_hours: dt.datetime
) -> None:
    t = await tiny(at_school_hours)
    await take(t, at_school_hours, {t.lina.id: Mark.ABSENT}, channels=frozenset({Channel.PORTAL, Channel.SMS}))
    assert len(await _sms_sent(at_school_hours)) == 1
    result = await _sms_answer(at_school_hours + dt.timedelta(minutes=30), "2 certificat remis")
    assert result.answered_pupils == (t.lina.id,)
    absence = await Absence.get(pupil_id=t.lina.id)
    assert absence.justified and absence.reason == AbsenceReason.MEDICAL_CERTIFICATE
    assert absence.note == "certificat remis" and absence.justified_via == "sms"


async def test_a_dutch_guardian_gets_the_notice_and_its_slip_in_dutch_and_justifies_by_sms(
    db: str, at_school_hours: dt.datetime
) -> None:
    """The notice is written in every language the product speaks: the school's French is the message, Dutch and
    English its versions; a Dutch mother's SMS is Dutch, with the Dutch keys, and her answer justifies."""
    t = await tiny(at_school_hours)
    await Guardian.filter(id=t.mother.id).update(language=Language.NL)
    await take(t, at_school_hours, {t.lina.id: Mark.ABSENT}, channels=frozenset({Channel.PORTAL, Channel.SMS}))
    absence = await Absence.get(pupil_id=t.lina.id)
    message = await Message.get(id=absence.message_id)
    assert message.subject.startswith("Absence de Lina")
    versions = (await translations.versions_of([message.id]))[message.id]
    assert set(versions) == {"nl", "en"}
    assert versions["nl"].subject.startswith("Afwezigheid van Lina")
    assert versions["nl"].questions[0].choices == ("Ziekte", "Doktersattest", "Familiale reden", "Andere")
    (sms,) = await _sms_sent(at_school_hours)
    assert "Afwezigheid van Lina" in sms and "Absence de" not in sms
    result = await _sms_answer(at_school_hours + dt.timedelta(minutes=30), "2 attest afgegeven")
    assert result.answered_pupils == (t.lina.id,)
    absence = await Absence.get(pupil_id=t.lina.id)
    assert absence.justified and absence.reason == AbsenceReason.MEDICAL_CERTIFICATE


async def test_a_justification_by_a_telegram_button_marks_the_absence_justified(
    db: str, at_school_hours: dt.datetime
) -> None:
    t = await tiny(at_school_hours)
    await take(t, at_school_hours, {t.lina.id: Mark.ABSENT})
    notice = await lina_notice(t)
    data = sign_callback("answer:1:0", notice.token[:16], CHAT, LINK_SECRET)
    user = {"id": CHAT, "is_bot": False, "first_name": "Anne"}
    update = {
        "update_id": 1,
        "callback_query": {
            "id": "771",
            "from": user,
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": 5,
                "date": int(at_school_hours.timestamp()),
                "chat": {"id": CHAT, "type": "private", "first_name": "Anne"},
                "text": "Absence",
            },
        },
    }
    settings = Settings(data_dir=Path("/nonexistent"), telegram_link_secret=LINK_SECRET)
    result = await inbound.telegram_update(update, settings, at_school_hours + dt.timedelta(minutes=5))
    assert result.kind == "answered"
    absence = await Absence.get(pupil_id=t.lina.id)
    assert absence.justified and absence.reason == AbsenceReason.ILLNESS and absence.justified_via == "telegram"


async def test_a_justification_on_paper_marks_the_absence_justified(db: str, at_school_hours: dt.datetime) -> None:
    t = await tiny(at_school_hours)
    await take(t, at_school_hours, {t.lina.id: Mark.ABSENT})
    notice = await lina_notice(t)
    await paper.record_paper_answer(
        short_code(notice.token),
        pupil_id=t.lina.id,
        answers={1: "Raison familiale", 2: "Enterrement de sa grand-mère"},
        signed_name="Anne X",
        staff_id=t.secretary.id,
        now=at_school_hours + dt.timedelta(days=1),
    )
    absence = await Absence.get(pupil_id=t.lina.id)
    assert absence.justified and absence.reason == AbsenceReason.FAMILY
    assert absence.note == "Enterrement de sa grand-mère" and absence.justified_via == "letter"


async def test_the_secretary_records_a_paper_note_and_a_teacher_of_another_class_may_not(
    db: str, at_school_hours: dt.datetime
) -> None:
    t = await tiny(at_school_hours)
    await take(t, at_school_hours, {t.lina.id: Mark.ABSENT})
    absence = await Absence.get(pupil_id=t.lina.id)
    with pytest.raises(absences.NotAllowed):
        await absences.justify_from_office(
            t.other_teacher.id,
            TEACHER,
            t.school.id,
            absence.id,
            AbsenceReason.ILLNESS,
            "",
            now=at_school_hours,
        )
    with pytest.raises(absences.RegisterError):
        await absences.justify_from_office(
            t.secretary.id, SECRETARY, t.school.id, absence.id, AbsenceReason.UNKNOWN, "", now=at_school_hours
        )
    assert not (await Absence.get(id=absence.id)).justified
    count = await absences.justify_from_office(
        t.secretary.id, SECRETARY, t.school.id, absence.id, AbsenceReason.ILLNESS, "mot", now=at_school_hours
    )
    absence = await Absence.get(id=absence.id)
    assert count == 1 and absence.justified and absence.justified_via == "office" and absence.note == "mot"
    assert not await SlipResponse.exists()  # the family did not answer: the office did


# ------------------------------------------------------------------------------------------- threshold


async def test_the_threshold_of_unjustified_half_days_flags_the_pupil(db: str, at_school_hours: dt.datetime) -> None:
    t = await tiny(at_school_hours)
    tz = school_charter().tz
    day = today(at_school_hours)

    async def absent(on: dt.date, period: int, *, justified: bool = False, late: bool = False) -> None:
        start, end = absences.period_times(on, period, tz)
        await Absence.create(pupil=t.lina, starts_at=start, ends_at=end, justified=justified, late=late)

    # Eight half-days over four days (two periods of one morning count once), plus justified and late ones.
    for back in range(1, 5):
        on = day - dt.timedelta(days=back)
        await absent(on, 1)
        await absent(on, 2)
        await absent(on, 6)
    await absent(day - dt.timedelta(days=5), 1, justified=True)
    await absent(day - dt.timedelta(days=6), 1, late=True)
    counts = await absences.unjustified_half_days([t.lina.id], today=day, charter=school_charter())
    assert counts == {t.lina.id: 8}
    threshold, flagged = await absences.flagged_pupils(t.school.id, today=day, charter=school_charter())
    assert threshold == absences.DEFAULT_THRESHOLD == 9 and flagged == []

    await absent(day - dt.timedelta(days=7), 6)  # the ninth
    _threshold, flagged = await absences.flagged_pupils(t.school.id, today=day, charter=school_charter())
    assert [(f.pupil_id, f.half_days, f.classes) for f in flagged] == [(t.lina.id, 9, ("3B",))]

    await School.filter(id=t.school.id).update(absence_threshold_half_days=12)  # the school's own setting
    assert (await absences.flagged_pupils(t.school.id, today=day, charter=school_charter()))[1] == []


# ------------------------------------------------------------------------------------------ who may


async def test_a_teacher_cannot_take_another_teachers_class_register(db: str, at_school_hours: dt.datetime) -> None:
    t = await tiny(at_school_hours)
    with pytest.raises(absences.NotAllowed):
        await absences.take_register(
            t.other_teacher.id,
            TEACHER,
            t.school.id,
            t.class_3b.id,
            today(at_school_hours),
            1,
            {t.lina.id: Mark.ABSENT},
            now=at_school_hours,
        )
    with pytest.raises(absences.NotAllowed):
        await absences.sheet(
            t.other_teacher.id,
            TEACHER,
            t.school.id,
            t.class_3b.id,
            today(at_school_hours),
            1,
            today=today(at_school_hours),
        )
    assert not await Register.exists() and not await Absence.exists() and not await Message.exists()
    # The secretary may take any class's register; a teacher only their own groups are offered.
    assert [g.id for g in await absences.register_groups(t.other_teacher.id, TEACHER, t.school.id)] == [t.class_3c.id]
    await absences.take_register(
        t.secretary.id, SECRETARY, t.school.id, t.class_3b.id, today(at_school_hours), 1, {}, now=at_school_hours
    )
    assert await Register.exists()


async def test_bad_registers_are_refused_and_store_nothing(db: str, at_school_hours: dt.datetime) -> None:
    t = await tiny(at_school_hours)
    day = today(at_school_hours)
    stranger = await Pupil.create(school=t.school, external_id="P9", first_name="Zoé", last_name="Z")
    for on_date, period, marks in [
        (day + dt.timedelta(days=1), 1, {}),  # a day to come
        (day - dt.timedelta(days=absences.MAX_DAYS_BACK + 1), 1, {}),
        (day, 0, {}),
        (day, 9, {}),
        (day, 1, {stranger.id: Mark.ABSENT}),  # not in the class
    ]:
        with pytest.raises(absences.RegisterError):
            await absences.take_register(
                t.teacher.id, TEACHER, t.school.id, t.class_3b.id, on_date, period, marks, now=at_school_hours
            )
    with pytest.raises(absences.RegisterError):
        absences.read_marks([("mark-1", "maybe")])
    with pytest.raises(absences.RegisterError):
        absences.read_marks([("mark-x", "absent")])
    assert not await Register.exists() and not await Absence.exists()


# ------------------------------------------------------------------------------------------------ CSV


async def test_a_class_absences_export_as_csv(db: str, at_school_hours: dt.datetime) -> None:
    t = await tiny(at_school_hours)
    await take(t, at_school_hours, {t.lina.id: Mark.ABSENT, t.marc.id: Mark.LATE}, period=1)
    day = today(at_school_hours)
    name, data = await absences.class_absences_csv(
        t.teacher.id, TEACHER, t.school.id, t.class_3b.id, day, day, tz=school_charter().tz
    )
    assert name == f"absences-3B-{day.isoformat()}-{day.isoformat()}.csv"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == list(absences.CSV_COLUMNS)
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["Xhaflaire"][3:9] == [day.isoformat(), "am", "08:20", "09:10", "no", "no"]
    assert by_name["Yildiz"][7] == "yes"
    with pytest.raises(absences.NotAllowed):
        await absences.class_absences_csv(
            t.other_teacher.id, TEACHER, t.school.id, t.class_3b.id, day, day, tz=school_charter().tz
        )


async def test_a_justification_through_the_personal_link_marks_the_absence_justified(
    db: str, at_school_hours: dt.datetime
) -> None:
    t = await tiny(at_school_hours)
    await take(t, at_school_hours, {t.lina.id: Mark.ABSENT})
    notice = await lina_notice(t)
    # What the notice page (/n/<token>) stores when the guardian answers: the same record_answer as every channel.
    from hub.messaging.planning import record_answer

    await record_answer(
        notice.id, t.lina.id, {"1": "Maladie", "2": "Fièvre"}, channel=Channel.PORTAL, now=at_school_hours
    )
    absence = await Absence.get(pupil_id=t.lina.id)
    assert absence.justified and absence.reason == AbsenceReason.ILLNESS and absence.note == "Fièvre"
    assert absence.justified_via == "portal"
