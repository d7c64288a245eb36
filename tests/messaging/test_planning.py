"""The planning library over the database, on SQLite and PostgreSQL, with tiny schools built in each test."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from charter import default_charter, is_allowed
from hub.enums import (
    ActorKind,
    AnswerMode,
    AudienceKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryPurpose,
    DeliveryState,
    ErrorKind,
    GroupKind,
    Relation,
    StaffRole,
    Urgency,
)
from hub.messaging.models import (
    Acknowledgement,
    Delivery,
    Message,
    MessageAudience,
    Notice,
    NoticePupil,
    ReplySlip,
    SlipResponse,
)
from hub.messaging.planning import (
    AlreadyAnswered,
    PlanningError,
    due_deliveries,
    due_escalations,
    publish,
    record_acknowledgement,
    record_answer,
    record_outcome,
    schedule_reminders,
)
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
from hub.store.audit import AuditEntry

CHARTER = default_charter()
MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels, a school day
FRIDAY_22 = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)  # Friday 22:00 in Brussels
MONDAY_0730 = datetime(2026, 11, 30, 6, 30, tzinfo=UTC)


@dataclass
class Tiny:
    """A class 3B: the Peeters family (3 children, mother and father separated, a barred step-father), the
    Janssens (one child, one guardian with email and SMS), a teacher and a principal."""

    school: School
    teacher: Staff
    principal: Staff
    class3b: Group
    pupils: dict[str, Pupil] = field(default_factory=dict)
    guardians: dict[str, Guardian] = field(default_factory=dict)


_ext = iter(range(1, 10_000))


async def add_guardian(
    school: School,
    name: str,
    household: Household,
    *,
    email: bool = True,
    sms: bool = False,
    prefs: tuple[Channel, ...] = (),
) -> Guardian:
    guardian = await Guardian.create(
        school=school, external_id=f"G{next(_ext)}", first_name=name, last_name="X", household=household
    )
    purposes = [ConsentPurpose.SCHOOL_MESSAGES]
    if email:
        await Contact.create(guardian=guardian, kind=ContactKind.EMAIL, value=f"{name}@example.be", verified=True)
        purposes.append(ConsentPurpose.EMAIL)
    if sms:
        await Contact.create(guardian=guardian, kind=ContactKind.PHONE, value=f"+3247{next(_ext):07d}", verified=True)
        purposes.append(ConsentPurpose.SMS)
    for purpose in purposes:
        await Consent.create(
            guardian=guardian,
            purpose=purpose,
            version="1",
            given_at=MONDAY_10 - timedelta(days=30),
            source=ConsentSource.PORTAL,
        )
    for rank, channel in enumerate(prefs, start=1):
        await ChannelPreference.create(guardian=guardian, channel=channel, rank=rank)
    return guardian


async def link(pupil: Pupil, guardian: Guardian, household: Household, **rights: bool) -> None:
    await Guardianship.create(pupil=pupil, guardian=guardian, relation=Relation.OTHER, household=household, **rights)


async def build_school() -> Tiny:
    school = await School.create(name="Athénée Royal")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email=f"t{next(_ext)}@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    principal = await Staff.create(school=school, first_name="Paula", last_name="P", email=f"p{next(_ext)}@school.be")
    await StaffRoleGrant.create(staff=principal, role=StaffRole.PRINCIPAL)
    level = await Group.create(school=school, kind=GroupKind.LEVEL, code="3", name="3e")
    class3b = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B", parent=level)
    tiny = Tiny(school=school, teacher=teacher, principal=principal, class3b=class3b)

    for name in ("lina", "noah", "emma", "lucas", "left"):
        pupil = await Pupil.create(
            school=school, external_id=f"P{next(_ext)}", first_name=name, last_name="X", active=name != "left"
        )
        await Membership.create(group=class3b, pupil=pupil)
        tiny.pupils[name] = pupil
    other = await Pupil.create(school=school, external_id="P-other", first_name="other", last_name="Y")
    tiny.pupils["other"] = other  # not in 3B

    mother_home = await Household.create(school=school, external_id="H1")
    father_home = await Household.create(school=school, external_id="H2")
    janssens_home = await Household.create(school=school, external_id="H3")
    mother = await add_guardian(school, "mother", mother_home)
    father = await add_guardian(school, "father", father_home, sms=True, prefs=(Channel.SMS, Channel.EMAIL))
    step = await add_guardian(school, "stepfather", father_home)
    janssens = await add_guardian(school, "janssens", janssens_home, sms=True)
    paper = await add_guardian(school, "paper", janssens_home, email=False)
    for child in ("lina", "noah", "emma"):
        await link(tiny.pupils[child], mother, mother_home)
        await link(tiny.pupils[child], father, father_home)
        await link(tiny.pupils[child], step, father_home, barred=True, may_answer=False)
    await link(tiny.pupils["lucas"], janssens, janssens_home)
    await link(tiny.pupils["lucas"], paper, janssens_home, receives=False)
    await link(tiny.pupils["left"], paper, janssens_home)  # the only pupil who receives for "paper" has left
    await link(other, mother, mother_home)
    tiny.guardians = {"mother": mother, "father": father, "step": step, "janssens": janssens, "paper": paper}
    return tiny


async def class_message(
    tiny: Tiny,
    *,
    urgency: Urgency = Urgency.NORMAL,
    author: Staff | None = None,
    reason: str = "",
    needs_ack: bool = False,
) -> Message:
    message = await Message.create(
        school=tiny.school,
        author=author or tiny.teacher,
        subject="Sortie",
        body="Sortie au musée vendredi.",
        urgency=urgency,
        urgency_reason=reason,
        needs_acknowledgement=needs_ack,
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=tiny.class3b)
    return message


async def notice_of(message: Message, guardian: Guardian) -> Notice:
    return await Notice.get(message_id=message.id, guardian_id=guardian.id)


async def first_active(notice: Notice) -> Delivery:
    return await Delivery.filter(notice_id=notice.id).exclude(channel=Channel.PORTAL).order_by("id").first()


# ----------------------------------------------------------------------------------------------------- publish


async def test_class_message_one_notice_per_guardian_naming_their_children(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny)
    result = await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)

    notices = await Notice.filter(message_id=message.id).values_list("guardian_id", flat=True)
    g = tiny.guardians
    assert sorted(notices) == sorted([g["mother"].id, g["father"].id, g["janssens"].id])  # separated: 2 notices
    assert result.notices == 3 and result.due == 3 and result.held == 0
    mother_notice = await notice_of(message, g["mother"])
    named = set(await NoticePupil.filter(notice_id=mother_notice.id).values_list("pupil_id", flat=True))
    assert named == {tiny.pupils[c].id for c in ("lina", "noah", "emma")}  # one notice, three children
    assert mother_notice.plan == ["portal", "email", "letter"]
    assert len(mother_notice.token) >= 32

    father_notice = await notice_of(message, g["father"])
    assert father_notice.plan == ["portal", "sms", "email", "letter"]  # his own order
    portal, first = await Delivery.filter(notice_id=father_notice.id).order_by("step")
    assert (portal.channel, portal.state, portal.step) == (Channel.PORTAL, DeliveryState.DELIVERED, 0)
    assert (first.channel, first.state, first.step, first.due_at) == (Channel.SMS, DeliveryState.DUE, 1, MONDAY_10)
    assert first.contact_id is not None
    assert await Delivery.filter(notice__message_id=message.id).count() == 6

    stored = await Message.get(id=message.id)
    assert stored.state == "published" and stored.published_at == MONDAY_10
    with pytest.raises(PlanningError):
        await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)  # once only


async def test_friday_night_message_is_held_until_monday_morning(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny)
    result = await publish(message.id, now=FRIDAY_22, actor_staff_id=tiny.teacher.id)
    assert result.held == 3 and result.held_until == MONDAY_0730
    firsts = await Delivery.filter(notice__message_id=message.id).exclude(channel=Channel.PORTAL)
    for delivery in firsts:
        assert delivery.state == DeliveryState.HELD
        assert MONDAY_0730 <= delivery.due_at <= MONDAY_0730 + timedelta(minutes=CHARTER.release_spread_minutes)
        assert is_allowed(CHARTER, delivery.due_at, Urgency.NORMAL)
    assert len({d.due_at for d in firsts}) == 3  # spread, not a burst
    assert [d.id for d in await due_deliveries(FRIDAY_22 + timedelta(hours=30))] == []
    released = await due_deliveries(MONDAY_0730 + timedelta(hours=1))
    assert {d.id for d in released} == {d.id for d in firsts}
    assert all(d.state == DeliveryState.DUE for d in released)


async def test_emergency_at_night_goes_now_and_is_audited(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny, urgency=Urgency.EMERGENCY, author=tiny.principal, reason="Fuite de gaz")
    night = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    result = await publish(message.id, now=night, actor_staff_id=tiny.principal.id)
    assert result.due == 3 and result.held == 0
    janssens = await notice_of(message, tiny.guardians["janssens"])
    assert janssens.plan == ["portal", "sms", "email", "letter"]  # SMS first in an emergency
    first = await first_active(janssens)
    assert (first.channel, first.state, first.due_at) == (Channel.SMS, DeliveryState.DUE, night)
    audit = await AuditEntry.get(action="message.emergency")
    assert (audit.actor_kind, audit.actor_id, audit.subject_id) == (ActorKind.STAFF, tiny.principal.id, str(message.id))
    assert audit.details["reason"] == "Fuite de gaz"


async def test_who_may_publish_an_emergency(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny, urgency=Urgency.EMERGENCY, reason="Confinement")
    with pytest.raises(PlanningError, match="may not send"):
        await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    no_reason = await class_message(tiny, urgency=Urgency.EMERGENCY)
    with pytest.raises(PlanningError, match="reason"):
        await publish(no_reason.id, now=MONDAY_10, actor_staff_id=tiny.principal.id)
    assert await Notice.all().count() == 0
    assert await AuditEntry.all().count() == 0
    assert (await Message.get(id=message.id)).state == "draft"


async def test_school_audience_and_pupil_terms(db: str) -> None:
    tiny = await build_school()
    message = await Message.create(school=tiny.school, author=tiny.teacher, subject="s", body="b")
    await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil=tiny.pupils["other"])
    await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil=tiny.pupils["lina"])
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    mother = await notice_of(message, tiny.guardians["mother"])
    named = set(await NoticePupil.filter(notice_id=mother.id).values_list("pupil_id", flat=True))
    assert named == {tiny.pupils["other"].id, tiny.pupils["lina"].id}

    level = await Group.get(code="3")
    by_level = await Message.create(school=tiny.school, author=tiny.teacher, subject="s", body="b")
    await MessageAudience.create(message=by_level, kind=AudienceKind.GROUP, group=level)  # through its class
    assert (await publish(by_level.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)).notices == 3
    everyone = await Message.create(school=tiny.school, author=tiny.teacher, subject="s", body="b")
    await MessageAudience.create(message=everyone, kind=AudienceKind.SCHOOL)
    assert (await publish(everyone.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)).notices == 3


async def test_scheduled_message_paper_only_and_erased_guardians(db: str) -> None:
    tiny = await build_school()
    await Consent.filter(guardian_id=tiny.guardians["janssens"].id).update(withdrawn_at=MONDAY_10)
    await Guardian.filter(id=tiny.guardians["father"].id).update(erased_at=MONDAY_10)
    message = await class_message(tiny)
    wednesday_noon = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    await Message.filter(id=message.id).update(scheduled_at=wednesday_noon)
    result = await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    assert result.notices == 2  # the erased father gets nothing
    janssens = await notice_of(message, tiny.guardians["janssens"])
    assert janssens.plan == ["letter"]  # consent withdrawn: paper only
    (letter,) = await Delivery.filter(notice_id=janssens.id)
    assert (letter.channel, letter.step, letter.state) == (Channel.LETTER, 0, DeliveryState.HELD)
    assert wednesday_noon <= letter.due_at <= wednesday_noon + timedelta(minutes=CHARTER.release_spread_minutes)
    mother = await notice_of(message, tiny.guardians["mother"])
    portal, email = await Delivery.filter(notice_id=mother.id).order_by("step")
    assert (portal.state, portal.due_at) == (DeliveryState.HELD, wednesday_noon)  # not in the inbox before
    assert email.due_at >= wednesday_noon


# ------------------------------------------------------------------------------------------------ outcomes


async def test_a_permanent_failure_that_says_nothing_of_the_address_keeps_the_contact(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    father = await notice_of(message, tiny.guardians["father"])
    sms = await first_active(father)
    await record_outcome(
        sms.id, now=MONDAY_10, ok=False, error="21408 region not enabled", error_kind=ErrorKind.PERMANENT
    )
    assert (await Contact.get(id=sms.contact_id)).dead_at is None
    assert await Delivery.filter(notice_id=father.id, purpose=DeliveryPurpose.FALLBACK).exists()


async def test_permanent_failure_creates_the_fallback_step(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    father = await notice_of(message, tiny.guardians["father"])
    sms = await first_active(father)
    later = MONDAY_10 + timedelta(minutes=5)
    await record_outcome(
        sms.id, now=later, ok=False, error="unknown number", error_kind=ErrorKind.PERMANENT, dead_contact=True
    )

    failed = await Delivery.get(id=sms.id)
    assert failed.state == DeliveryState.FAILED and failed.error_kind == ErrorKind.PERMANENT
    contact = await Contact.get(id=sms.contact_id)
    assert contact.dead_at == later
    fallback = await Delivery.get(notice_id=father.id, step=2)
    assert (fallback.channel, fallback.purpose, fallback.state, fallback.due_at) == (
        Channel.EMAIL,
        DeliveryPurpose.FALLBACK,
        DeliveryState.DUE,
        later,
    )
    # A repeated callback changes nothing and creates no second fallback.
    await record_outcome(sms.id, now=later, ok=False, error="again", error_kind=ErrorKind.PERMANENT)
    assert await Delivery.filter(notice_id=father.id, step=2).count() == 1
    # The email bounces at 21:00: the letter is the next step, due when the charter next allows.
    evening = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    await record_outcome(
        fallback.id, now=evening, ok=False, error="bounce", error_kind=ErrorKind.PERMANENT, dead_contact=True
    )
    letter = await Delivery.get(notice_id=father.id, step=3)
    assert (letter.channel, letter.state) == (Channel.LETTER, DeliveryState.HELD)
    assert letter.due_at == datetime(2026, 11, 24, 6, 30, tzinfo=UTC)


async def test_transient_failure_is_retried_then_falls_back(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    mother = await notice_of(message, tiny.guardians["mother"])
    current = await first_active(mother)
    at = MONDAY_10
    for attempt in range(1, 5):
        await record_outcome(current.id, now=at, ok=False, error="timeout", error_kind=ErrorKind.TRANSIENT)
        retry = await Delivery.filter(notice_id=mother.id, step=1).order_by("-id").first()
        assert (retry.state, retry.attempts, retry.purpose) == (DeliveryState.PLANNED, attempt, DeliveryPurpose.INITIAL)
        assert retry.due_at > at
        at = retry.due_at
        assert retry.id in [d.id for d in await due_deliveries(at)]
        assert (await Delivery.get(id=retry.id)).state == DeliveryState.DUE
        current = retry
    await record_outcome(current.id, now=at, ok=False, error="timeout", error_kind=ErrorKind.TRANSIENT)
    letter = await Delivery.get(notice_id=mother.id, step=2)
    assert letter.channel == Channel.LETTER and letter.purpose == DeliveryPurpose.FALLBACK


async def test_a_late_callback_never_moves_a_delivery_back(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    mother = await first_active(await notice_of(message, tiny.guardians["mother"]))
    t1, t2 = MONDAY_10 + timedelta(seconds=1), MONDAY_10 + timedelta(seconds=5)
    await record_outcome(mother.id, now=t1, ok=True, provider_id="smtp-1")
    await record_outcome(mother.id, now=t2, ok=True, delivered=True)
    stored = await record_outcome(mother.id, now=t2 + timedelta(seconds=1), ok=True, provider_id="smtp-late")
    assert stored.state == DeliveryState.DELIVERED
    again = await Delivery.get(id=mother.id)
    assert (again.state, again.sent_at, again.delivered_at, again.provider_id) == (
        DeliveryState.DELIVERED,
        t1,
        t2,
        "smtp-1",
    )
    await record_outcome(mother.id, now=t2, ok=False, error="late", error_kind=ErrorKind.PERMANENT)
    assert (await Delivery.get(id=mother.id)).state == DeliveryState.DELIVERED

    father = await first_active(await notice_of(message, tiny.guardians["father"]))
    await record_outcome(father.id, now=t1, ok=True, cost=Decimal("0.0750"), segments=1)
    stored = await Delivery.get(id=father.id)
    assert (stored.state, stored.cost, stored.segments, stored.attempts) == (
        DeliveryState.SENT,
        Decimal("0.0750"),
        1,
        1,
    )


# ------------------------------------------------------------------------------------------------- escalation


async def test_escalation_and_acknowledgement(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny, needs_ack=True)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    mother = await notice_of(message, tiny.guardians["mother"])
    father = await notice_of(message, tiny.guardians["father"])
    for notice in (mother, father):
        await record_outcome((await first_active(notice)).id, now=MONDAY_10, ok=True)

    assert await due_escalations(MONDAY_10 + timedelta(hours=23)) == []
    created = await due_escalations(MONDAY_10 + timedelta(hours=24))
    by_notice = {d.notice_id: d for d in created}
    assert by_notice[mother.id].channel == Channel.LETTER  # after her only electronic channel: the paper list
    assert by_notice[father.id].channel == Channel.EMAIL
    assert all(d.purpose == DeliveryPurpose.ESCALATION and d.state == DeliveryState.DUE for d in created)
    assert await due_escalations(MONDAY_10 + timedelta(hours=25)) == []  # idempotent

    # The father reads it before his email step goes: the pending step is cancelled, nothing escalates again.
    assert await record_acknowledgement(father.id, channel=Channel.PORTAL, now=MONDAY_10 + timedelta(hours=25))
    assert not await record_acknowledgement(father.id, channel=Channel.EMAIL, now=MONDAY_10 + timedelta(hours=26))
    email = await Delivery.get(notice_id=father.id, step=2)
    assert email.state == DeliveryState.CANCELLED
    assert await Acknowledgement.filter(notice_id=father.id).count() == 1
    assert (await Notice.get(id=father.id)).first_read_at == MONDAY_10 + timedelta(hours=25)
    assert await due_escalations(MONDAY_10 + timedelta(days=5)) == []


async def test_escalation_waits_for_allowed_hours(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny, needs_ack=True)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    father = await notice_of(message, tiny.guardians["father"])
    mother = await notice_of(message, tiny.guardians["mother"])
    await record_outcome((await first_active(father)).id, now=datetime(2026, 11, 23, 18, 30, tzinfo=UTC), ok=True)
    await record_outcome((await first_active(mother)).id, now=datetime(2026, 11, 23, 19, 30, tzinfo=UTC), ok=True)
    # Tuesday 22:00: the father's wait ended at 19:30 (allowed), but his step is held until Wednesday 07:30;
    # the mother's ended at 20:30, in quiet hours: her escalation is not due before Wednesday 07:30 at all.
    tuesday_night = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    wednesday_0730 = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
    created = await due_escalations(tuesday_night)
    assert [(d.notice_id, d.state, d.due_at) for d in created] == [(father.id, DeliveryState.HELD, wednesday_0730)]
    created = await due_escalations(wednesday_0730)
    assert [(d.notice_id, d.state, d.due_at) for d in created] == [(mother.id, DeliveryState.DUE, wednesday_0730)]


# ------------------------------------------------------------------------------------------ answers, reminders


async def slip_message(tiny: Tiny, mode: AnswerMode) -> Message:
    message = await class_message(tiny)
    await ReplySlip.create(
        message=message, deadline=datetime(2026, 12, 4, 11, 0, tzinfo=UTC), answer_mode=mode, reminder_hours=[72, 24]
    )
    return message


async def test_one_answer_per_pupil_closes_the_other_parents_reminders(db: str) -> None:
    tiny = await build_school()
    message = await slip_message(tiny, AnswerMode.ONE_PER_PUPIL)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    # publishing created them: 3 notices x 2 times; scheduling again adds nothing
    assert await Delivery.filter(notice__message=message, purpose=DeliveryPurpose.REMINDER).count() == 6
    assert await schedule_reminders(message.id, MONDAY_10) == 0
    mother = await notice_of(message, tiny.guardians["mother"])
    father = await notice_of(message, tiny.guardians["father"])
    reminders = await Delivery.filter(notice_id=father.id, purpose=DeliveryPurpose.REMINDER).order_by("due_at")
    assert [r.channel for r in reminders] == [Channel.SMS, Channel.SMS]
    assert [r.due_at for r in reminders] == [
        datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 11, 0, tzinfo=UTC),
    ]

    answered_at = MONDAY_10 + timedelta(hours=2)
    for child in ("lina", "noah"):
        await record_answer(mother.id, tiny.pupils[child].id, {"1": "oui"}, channel=Channel.PORTAL, now=answered_at)
    pending = DeliveryState.PLANNED
    assert await Delivery.filter(notice_id=father.id, purpose=DeliveryPurpose.REMINDER, state=pending).count() == 2
    await record_answer(mother.id, tiny.pupils["emma"].id, {"1": "non"}, channel=Channel.PORTAL, now=answered_at)
    for notice in (mother, father):  # every child has an answer: nobody of the family is reminded
        states = await Delivery.filter(notice_id=notice.id, purpose=DeliveryPurpose.REMINDER).values_list(
            "state", flat=True
        )
        assert set(states) == {DeliveryState.CANCELLED}
    janssens = await notice_of(message, tiny.guardians["janssens"])
    assert await Delivery.filter(notice_id=janssens.id, purpose=DeliveryPurpose.REMINDER, state=pending).count() == 2

    # A second answer replaces the first.
    await record_answer(mother.id, tiny.pupils["emma"].id, {"1": "oui"}, channel=Channel.EMAIL, now=answered_at)
    response = await SlipResponse.get(pupil_id=tiny.pupils["emma"].id)
    assert response.answers == {"1": "oui"} and response.channel == Channel.EMAIL
    assert await SlipResponse.all().count() == 3
    assert await Acknowledgement.filter(notice_id=mother.id).exists()  # answering proves reading

    # The other parent cannot overwrite it: one answer per pupil, the first stands.
    with pytest.raises(AlreadyAnswered) as refused:
        await record_answer(father.id, tiny.pupils["emma"].id, {"1": "non"}, channel=Channel.SMS, now=answered_at)
    assert refused.value.response.guardian_id == tiny.guardians["mother"].id  # type: ignore[attr-defined]
    assert (await SlipResponse.get(pupil_id=tiny.pupils["emma"].id)).answers == {"1": "oui"}


async def test_two_parents_answering_at_once_leave_one_answer(db: str) -> None:
    """Both parents send their answer at the same moment: the pupil's row is locked, the second is refused."""
    tiny = await build_school()
    message = await slip_message(tiny, AnswerMode.ONE_PER_PUPIL)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    mother = await notice_of(message, tiny.guardians["mother"])
    father = await notice_of(message, tiny.guardians["father"])
    lina = tiny.pupils["lina"].id
    results = await asyncio.gather(
        record_answer(mother.id, lina, {"1": "oui"}, channel=Channel.PORTAL, now=MONDAY_10),
        record_answer(father.id, lina, {"1": "non"}, channel=Channel.PORTAL, now=MONDAY_10),
        return_exceptions=True,
    )
    assert sum(isinstance(r, AlreadyAnswered) for r in results) == 1, results
    assert await SlipResponse.filter(pupil_id=lina).count() == 1


async def test_every_guardian_must_answer(db: str) -> None:
    tiny = await build_school()
    message = await slip_message(tiny, AnswerMode.EVERY_GUARDIAN)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    await schedule_reminders(message.id, MONDAY_10)
    mother = await notice_of(message, tiny.guardians["mother"])
    father = await notice_of(message, tiny.guardians["father"])
    await record_answer(mother.id, tiny.pupils["lina"].id, {"1": "oui"}, channel=Channel.PORTAL, now=MONDAY_10)
    mother_states = await Delivery.filter(notice_id=mother.id, purpose=DeliveryPurpose.REMINDER).values_list(
        "state", flat=True
    )
    assert set(mother_states) == {DeliveryState.CANCELLED}
    father_states = await Delivery.filter(notice_id=father.id, purpose=DeliveryPurpose.REMINDER).values_list(
        "state", flat=True
    )
    assert set(father_states) == {DeliveryState.PLANNED}


async def test_who_may_answer(db: str) -> None:
    tiny = await build_school()
    message = await slip_message(tiny, AnswerMode.ONE_PER_PUPIL)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    janssens = await notice_of(message, tiny.guardians["janssens"])
    with pytest.raises(PlanningError, match="not named"):
        await record_answer(janssens.id, tiny.pupils["lina"].id, {}, channel=Channel.PORTAL, now=MONDAY_10)
    await Guardianship.filter(guardian_id=tiny.guardians["janssens"].id).update(may_answer=False)
    with pytest.raises(PlanningError, match="may not answer"):
        await record_answer(janssens.id, tiny.pupils["lucas"].id, {}, channel=Channel.PORTAL, now=MONDAY_10)
    assert await SlipResponse.all().count() == 0
    # A guardian who may answer for no pupil of the notice is not reminded.
    second = await slip_message(tiny, AnswerMode.ONE_PER_PUPIL)
    await publish(second.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    janssens_second = await notice_of(second, tiny.guardians["janssens"])
    assert not await Delivery.filter(notice_id=janssens_second.id, purpose=DeliveryPurpose.REMINDER).exists()
    assert await Delivery.filter(notice__message=second, purpose=DeliveryPurpose.REMINDER).count() == 4
