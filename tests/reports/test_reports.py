"""The delivery report over a tiny school built in each test, through the real planning library (publish, then
outcomes, acknowledgements and answers as the channels would record them), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tortoise import Tortoise

from charter import default_charter, next_allowed
from hub.enums import (
    AnswerMode,
    AudienceKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryState,
    ErrorKind,
    GroupKind,
    QuestionKind,
    Relation,
    StaffRole,
    Urgency,
)
from hub.messaging.models import Delivery, Message, MessageAudience, Notice, ReplySlip, SlipQuestion
from hub.messaging.planning import publish, record_acknowledgement, record_answer, record_outcome
from hub.people.models import (
    ChannelPreference,
    Consent,
    Contact,
    Group,
    Guardian,
    Guardianship,
    Household,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
)
from hub.reports.delivery import NotReached, Period, ReportError, delivery_report, period_of

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels, a school day
SATURDAY_NIGHT = datetime(2026, 11, 28, 22, 30, tzinfo=UTC)  # Saturday 23:30 in Brussels: the charter is closed
TZ = "Europe/Brussels"
AUTUMN = Period(date(2026, 9, 1), date(2026, 11, 30), TZ)


@dataclass
class Small:
    """Classes 3A and 3B. Separated parents (mother, father) of Alice (3A) and Bob (3B); Chloé (3A), whose
    guardian has email then SMS; Dan (3B), whose guardian has no internet (letters only)."""

    school: School
    principal: Staff
    classes: dict[str, Group] = field(default_factory=dict)
    pupils: dict[str, Pupil] = field(default_factory=dict)
    guardians: dict[str, Guardian] = field(default_factory=dict)


async def _guardian(small: Small, name: str, *, email: bool = False, sms: bool = False) -> Guardian:
    home = await Household.create(school=small.school, external_id=f"H-{name}")
    guardian = await Guardian.create(
        school=small.school, external_id=f"G-{name}", first_name=name.title(), last_name="X", household=home
    )
    purposes = [ConsentPurpose.SCHOOL_MESSAGES] if email or sms else []
    if email:
        await Contact.create(guardian=guardian, kind=ContactKind.EMAIL, value=f"{name}@example.be", verified=True)
        purposes.append(ConsentPurpose.EMAIL)
    if sms:
        phone = f"+3247{len(small.guardians):07d}"
        await Contact.create(guardian=guardian, kind=ContactKind.PHONE, value=phone, verified=True)
        purposes.append(ConsentPurpose.SMS)
    for purpose in purposes:
        given = MONDAY_10 - timedelta(days=90)
        await Consent.create(
            guardian=guardian, purpose=purpose, version="1", given_at=given, source=ConsentSource.PORTAL
        )
    small.guardians[name] = guardian
    return guardian


async def build_small() -> Small:
    school = await School.create(name="Athénée", timezone=TZ)
    principal = await Staff.create(school=school, first_name="Paula", last_name="P", email="p@school.be")
    await StaffRoleGrant.create(staff=principal, role=StaffRole.PRINCIPAL)
    small = Small(school=school, principal=principal)
    for code in ("3A", "3B"):
        small.classes[code] = await Group.create(school=school, kind=GroupKind.CLASS, code=code, name=code)
    for name, code in (("alice", "3A"), ("bob", "3B"), ("chloe", "3A"), ("dan", "3B")):
        pupil = await Pupil.create(school=school, external_id=f"P-{name}", first_name=name.title(), last_name="X")
        await Membership.create(group=small.classes[code], pupil=pupil)
        small.pupils[name] = pupil
    mother = await _guardian(small, "mother", email=True)
    father = await _guardian(small, "father", email=True)
    chloe_parent = await _guardian(small, "carla", email=True, sms=True)
    await ChannelPreference.create(guardian=chloe_parent, channel=Channel.EMAIL, rank=1)
    await ChannelPreference.create(guardian=chloe_parent, channel=Channel.SMS, rank=2)
    paper = await _guardian(small, "dora")
    links = [
        ("alice", mother),
        ("bob", mother),
        ("alice", father),
        ("bob", father),
        ("chloe", chloe_parent),
        ("dan", paper),
    ]
    for pupil, guardian in links:
        await Guardianship.create(pupil=small.pupils[pupil], guardian=guardian, relation=Relation.OTHER)
    return small


async def message_to_both_classes(
    small: Small, *, mode: AnswerMode | None = AnswerMode.ONE_PER_PUPIL, now: datetime = MONDAY_10
) -> Message:
    message = await Message.create(
        school=small.school, author=small.principal, subject="Excursion", body="Jeudi.", needs_acknowledgement=True
    )
    for group in small.classes.values():
        await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=group)
    if mode is not None:
        slip = await ReplySlip.create(message=message, deadline=now + timedelta(days=7), answer_mode=mode)
        await SlipQuestion.create(slip=slip, position=1, kind=QuestionKind.YES_NO, text="D'accord ?")
    await publish(message.id, now=now, actor_staff_id=small.principal.id)
    return message


async def notice(message: Message, guardian: Guardian) -> Notice:
    return await Notice.get(message_id=message.id, guardian_id=guardian.id)


async def step(message: Message, guardian: Guardian, channel: Channel) -> Delivery:
    found = await Delivery.filter(
        notice__message_id=message.id, notice__guardian_id=guardian.id, channel=channel, state=DeliveryState.DUE
    ).first()
    assert found is not None, f"no due {channel} delivery for {guardian.first_name}"
    return found


async def _the_story(small: Small) -> Message:
    """Mother's email is delivered and she answers for both children; father's email is only sent; Carla's
    email bounces, her SMS goes (2 segments) and she opens the link without acknowledging; Dora's letter waits."""
    g = small.guardians
    message = await message_to_both_classes(small)
    later = MONDAY_10 + timedelta(minutes=5)
    await record_outcome((await step(message, g["mother"], Channel.EMAIL)).id, now=later, ok=True, delivered=True)
    await record_outcome((await step(message, g["father"], Channel.EMAIL)).id, now=later, ok=True)
    bounced = await step(message, g["carla"], Channel.EMAIL)
    await record_outcome(bounced.id, now=later, ok=False, error="550 no such user", error_kind=ErrorKind.PERMANENT)
    sms = await step(message, g["carla"], Channel.SMS)
    await record_outcome(sms.id, now=later, ok=True, cost=Decimal("0.15"), segments=2)
    await Notice.filter(id=(await notice(message, g["carla"])).id).update(first_read_at=later)
    mother = await notice(message, g["mother"])
    for pupil in ("alice", "bob"):
        await record_answer(mother.id, small.pupils[pupil].id, {"1": "yes"}, channel=Channel.PORTAL, now=later)
    return message


async def test_funnel_channels_and_classes_of_a_small_school(db: str) -> None:
    small = await build_small()
    message = await _the_story(small)
    report = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10 + timedelta(hours=1))

    assert report.messages == 1
    assert [(s.key, s.count, s.base) for s in report.funnel] == [
        ("planned", 4, 4),
        ("sent", 3, 4),  # Dora's letter is not printed yet
        ("delivered", 2, 4),  # mother (confirmed), Carla (read); father's email only sent
        ("read", 2, 4),  # mother answered (which reads), Carla opened
        ("acknowledged", 1, 4),  # answering acknowledges; opening does not
        ("answered", 2, 4),  # one answer per pupil: the father's notice is answered by the mother's answers
    ]
    channels = {c.channel: c for c in report.channels}
    assert set(channels) == {"email", "sms", "letter"}
    assert (channels["email"].sent, channels["email"].delivered, channels["email"].failed_permanent) == (1, 1, 1)
    assert (channels["sms"].sent, channels["sms"].cost, channels["sms"].first_reached) == (1, Decimal("0.1500"), 1)
    assert channels["email"].first_reached == 2 and channels["letter"].pending == 1
    assert [(f.channel, f.error, f.count) for f in report.failures] == [("email", "550 no such user", 1)]

    classes = {c.code: c for c in report.classes}
    # Mother's and father's notices name Alice (3A) and Bob (3B): they count in both classes.
    assert (classes["3A"].guardians, classes["3A"].reached, classes["3A"].read) == (3, 3, 2)
    assert (classes["3A"].acknowledged, classes["3A"].answered, classes["3A"].answer_base) == (1, 2, 3)
    assert (classes["3B"].guardians, classes["3B"].reached, classes["3B"].read) == (3, 2, 1)
    assert (classes["3B"].acknowledged, classes["3B"].ack_base, classes["3B"].answered) == (1, 3, 2)

    assert report.unreached_total == 1
    (dora,) = report.unreached
    assert (dora.guardian_name, dora.pupils, dora.reason) == ("Dora X", ("Dan X",), "letter_waiting")
    assert dora.message_id == message.id

    # The letter printed: Dora's letter is handed over, and counts as "letter printed", not as delivered.
    letter = await step(message, small.guardians["dora"], Channel.LETTER)
    await record_outcome(letter.id, now=MONDAY_10 + timedelta(hours=2), ok=True, delivered=True)
    after = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10 + timedelta(hours=3))
    assert [s.count for s in after.funnel[:3]] == [4, 4, 2] and after.unreached_total == 0
    printed = {c.channel: c for c in after.channels}["letter"]
    assert (printed.printed, printed.delivered) == (1, 0)
    assert {c["channel"]: c for c in after.as_json()["channels"]}["letter"]["printed"] == 1


async def test_one_per_pupil_needs_every_child_answered(db: str) -> None:
    small = await build_small()
    message = await message_to_both_classes(small)
    mother = await notice(message, small.guardians["mother"])
    await record_answer(mother.id, small.pupils["alice"].id, {"1": "yes"}, channel=Channel.PORTAL, now=MONDAY_10)
    report = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10)
    assert report.funnel[-1].count == 0, "Bob has no answer yet: neither parent's notice is answered"
    father = await notice(message, small.guardians["father"])
    await record_answer(father.id, small.pupils["bob"].id, {"1": "no"}, channel=Channel.PORTAL, now=MONDAY_10)
    report = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10)
    assert (report.funnel[-1].count, report.funnel[-1].base) == (2, 4), "each child answered by one parent"


async def test_every_guardian_counts_each_guardians_own_answer(db: str) -> None:
    small = await build_small()
    message = await message_to_both_classes(small, mode=AnswerMode.EVERY_GUARDIAN)
    mother = await notice(message, small.guardians["mother"])
    for pupil in ("alice", "bob"):
        await record_answer(mother.id, small.pupils[pupil].id, {"1": "yes"}, channel=Channel.PORTAL, now=MONDAY_10)
    report = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10)
    assert (report.funnel[-1].count, report.funnel[-1].base) == (1, 4), "the father still has to answer"


async def test_period_and_message_filter(db: str) -> None:
    small = await build_small()
    first = await message_to_both_classes(small, mode=None)
    second = await message_to_both_classes(small, mode=None, now=MONDAY_10 + timedelta(days=1))
    fathers = await notice(second, small.guardians["father"])
    await record_acknowledgement(fathers.id, channel=Channel.SMS, now=MONDAY_10)

    both = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10)
    assert both.messages == 2 and both.funnel[0].count == 8 and both.funnel[4].count == 1
    only_first = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10, message_id=first.id)
    assert only_first.messages == 1 and only_first.funnel[0].count == 4 and only_first.funnel[4].count == 0
    monday = Period(date(2026, 11, 23), date(2026, 11, 23), TZ)
    assert (await delivery_report(small.school.id, monday, now=MONDAY_10)).funnel[0].count == 4
    other = await School.create(name="Another school")
    assert (await delivery_report(other.id, AUTUMN, now=MONDAY_10)).funnel[0].count == 0


async def test_sms_spend_by_month_in_the_schools_time_zone(db: str) -> None:
    small = await build_small()
    await ChannelPreference.filter(guardian_id=small.guardians["carla"].id).delete()
    for name in ("carla", "mother"):
        await Contact.get_or_create(
            guardian=small.guardians[name], kind=ContactKind.PHONE, defaults={"value": "+32470999999", "verified": True}
        )
        given = MONDAY_10 - timedelta(days=90)
        guardian = small.guardians[name]
        await Consent.create(
            guardian=guardian, purpose=ConsentPurpose.SMS, version="1", given_at=given, source=ConsentSource.PORTAL
        )
        await ChannelPreference.create(guardian=small.guardians[name], channel=Channel.SMS, rank=1)
    message = await message_to_both_classes(small, mode=None, now=datetime(2026, 10, 5, 8, 0, tzinfo=UTC))
    october_night = datetime(2026, 10, 31, 22, 30, tzinfo=UTC)  # 23:30 on 31 October in Brussels
    november_night = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 November in Brussels
    for name, at in (("carla", october_night), ("mother", november_night)):
        sms = await step(message, small.guardians[name], Channel.SMS)
        await record_outcome(sms.id, now=at, ok=True, cost=Decimal("0.0750") * 3, segments=3)

    report = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10)
    spend = {m.month.month: (m.messages, m.segments, m.cost) for m in report.sms}
    assert spend == {
        9: (0, 0, Decimal("0.0000")),
        10: (1, 3, Decimal("0.2250")),
        11: (1, 3, Decimal("0.2250")),
    }
    assert report.sms_cost == Decimal("0.4500")


def test_period_of_a_form() -> None:
    # By default from the school year's first day in the charter's calendar (the day after the summer holidays).
    assert period_of("", "", now=MONDAY_10, tz=TZ) == Period(date(2026, 8, 31), date(2026, 11, 23), TZ)
    assert period_of("2026-10-01", "2026-10-31", now=MONDAY_10, tz=TZ).end == datetime(2026, 10, 31, 23, tzinfo=UTC)
    wrong = [("1 oct", "", "from"), ("", "2026-13-01", "to"), ("2026-11-02", "2026-11-01", "order")]
    wrong.append(("1990-09-01", "", "long"))
    for first, last, reason in wrong:
        with pytest.raises(ReportError) as refused:
            period_of(first, last, now=MONDAY_10, tz=TZ)
        assert refused.value.reason == reason


async def _step_of(message: Message, guardian: Guardian, channel: Channel) -> Delivery:
    found = await Delivery.filter(
        notice__message_id=message.id, notice__guardian_id=guardian.id, channel=channel
    ).first()
    assert found is not None, f"no {channel} delivery for {guardian.first_name}"
    return found


async def test_why_a_notice_reached_nobody(db: str) -> None:
    """Held families (waiting for the charter, with the release time) are counted apart from the families that
    cannot be reached without someone acting; when the release time comes they are being sent."""
    small = await build_small()
    message = await message_to_both_classes(small, mode=None, now=SATURDAY_NIGHT)
    opening = next_allowed(default_charter(), SATURDAY_NIGHT, Urgency.NORMAL)
    assert opening.astimezone(ZoneInfo(TZ)).strftime("%A %H:%M") == "Monday 07:30"

    # Three emails wait for Monday. Dora's letter is held too, but a letter rings nobody: it is in the print
    # queue (hub.messaging.paper), printed whenever the office works, so she is a family to act for.
    night = await delivery_report(small.school.id, AUTUMN, now=SATURDAY_NIGHT + timedelta(minutes=1))
    assert night.not_reached == NotReached(held=3, letter_waiting=1, held_until=opening)
    assert night.unreached_total == 4
    assert [(u.guardian_name, u.reason) for u in night.unreached] == [("Dora X", "letter_waiting")]
    assert [(h.message_id, h.families, h.first_release) for h in night.held_messages] == [(message.id, 3, opening)]
    assert night.held_messages[0].last_release < opening + timedelta(minutes=30)  # spread over the release minutes

    # Dora's letter cannot be made (no address): nothing is left to try. Carla's email is refused: her SMS,
    # the next step, waits for Monday too.
    later = SATURDAY_NIGHT + timedelta(minutes=5)
    letter = await _step_of(message, small.guardians["dora"], Channel.LETTER)
    await record_outcome(letter.id, now=later, ok=False, error="no address", error_kind=ErrorKind.PERMANENT)
    email = await _step_of(message, small.guardians["carla"], Channel.EMAIL)
    await record_outcome(email.id, now=later, ok=False, error="550 no such user", error_kind=ErrorKind.PERMANENT)
    report = await delivery_report(small.school.id, AUTUMN, now=later)
    assert report.not_reached == NotReached(held=3, failed_everywhere=1, held_until=opening)
    assert [(u.guardian_name, u.reason) for u in report.unreached] == [("Dora X", "failed_everywhere")]
    assert report.as_json()["not_reached_by_reason"] == {
        "held": 3,
        "held_until": opening.isoformat(),
        "sending": 0,
        "unreachable": 1,
        "letter_waiting": 0,
        "failed_everywhere": 1,
        "not_planned": 0,
    }

    # Monday, once the release minutes are over: the held ones are due, a worker takes them.
    monday = await delivery_report(small.school.id, AUTUMN, now=opening + timedelta(minutes=45))
    assert monday.not_reached == NotReached(sending=3, failed_everywhere=1)
    assert monday.held_messages == []


async def test_a_letter_of_a_message_scheduled_for_later_is_held(db: str) -> None:
    """The sender's chosen time is not the charter's: that letter waits (the print queue keeps it for later)."""
    small = await build_small()
    wednesday = MONDAY_10 + timedelta(days=2)
    message = await Message.create(
        school=small.school, author=small.principal, subject="Plus tard", body="Mercredi.", scheduled_at=wednesday
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=small.classes["3B"])
    await publish(message.id, now=MONDAY_10, actor_staff_id=small.principal.id)
    await Message.filter(id=message.id).update(published_at=MONDAY_10)  # in the report's period, as if published
    report = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10, message_id=message.id)
    assert report.not_reached == NotReached(held=3, held_until=wednesday)  # mother, father (Bob), Dora (Dan)
    assert report.unreached == []


async def test_a_letter_due_waits_for_the_office(db: str) -> None:
    small = await build_small()
    await message_to_both_classes(small, mode=None)  # Monday 10:00: everything is due
    report = await delivery_report(small.school.id, AUTUMN, now=MONDAY_10)
    assert report.not_reached == NotReached(sending=3, letter_waiting=1)
    assert [(u.guardian_name, u.reason) for u in report.unreached] == [("Dora X", "letter_waiting")]


async def _queries_of_a_report(school_id: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many statements the database receives while the report is built (counted at the connection)."""
    connection = Tortoise.get_connection("default")
    count = 0
    for name in ("execute_query", "execute_query_dict"):
        original = getattr(connection, name)

        async def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(connection, name, counted)
    await delivery_report(school_id, AUTUMN, now=MONDAY_10 + timedelta(days=3))
    monkeypatch.undo()
    return count


async def test_the_number_of_queries_does_not_grow_with_the_school(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    small = await build_small()
    await _the_story(small)
    few = await _queries_of_a_report(small.school.id, monkeypatch)
    for day in (1, 2):
        later = await message_to_both_classes(small, now=MONDAY_10 + timedelta(days=day))
        for name in ("mother", "father", "carla"):
            await record_acknowledgement(
                (await notice(later, small.guardians[name])).id, channel=Channel.SMS, now=MONDAY_10
            )
    assert await _queries_of_a_report(small.school.id, monkeypatch) == few <= 11
