"""The daily limit and its digests, per-message escalation waits, late answers and scheduled messages, on SQLite
and PostgreSQL (the pure digest rules without a database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from charter import default_charter, is_allowed
from hub.enums import AnswerMode, Channel, DeliveryState, MessageState, Urgency
from hub.messaging.models import Delivery, Message, SlipResponse
from hub.messaging.planning import (
    PlanningError,
    digest_groups,
    due_deliveries,
    due_escalations,
    publish,
    publish_scheduled,
    record_answer,
    record_outcome,
)
from hub.messaging.routing import digest_key, digest_placement, local_day
from tests.messaging.test_planning import (
    MONDAY_10,
    Tiny,
    build_school,
    class_message,
    first_active,
    notice_of,
    slip_message,
)

CHARTER = default_charter()
TUESDAY = date(2026, 11, 24)
TUESDAY_0730 = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
TUESDAY_10 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------ pure rules


def test_digest_key_names_guardian_channel_and_day() -> None:
    assert digest_key(42, Channel.EMAIL, TUESDAY) == "42:email:2026-11-24"
    assert digest_key(42, "sms", TUESDAY) == "42:sms:2026-11-24"
    assert len(digest_key(2**63, Channel.TELEGRAM, TUESDAY)) <= 64
    assert local_day(CHARTER, datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == TUESDAY  # 00:30 in Brussels


def test_digest_placement() -> None:
    monday = date(2026, 11, 23)
    assert digest_placement(CHARTER, MONDAY_10, {monday: 2}) is None  # room left
    assert digest_placement(CHARTER, MONDAY_10, {monday: 9}, urgency=Urgency.URGENT) is None  # never limited
    at, day = digest_placement(CHARTER, MONDAY_10, {monday: 3}, guardian_id=7)
    assert day == TUESDAY and TUESDAY_0730 <= at < TUESDAY_0730 + timedelta(hours=1)
    assert is_allowed(CHARTER, at, Urgency.NORMAL)
    assert digest_placement(CHARTER, MONDAY_10, {monday: 3}, guardian_id=67)[0] == at  # a slot per guardian
    # Tuesday full: Wednesday, unless the guardian already has a digest on Tuesday, which the notice joins.
    full = {monday: 3, TUESDAY: 3}
    assert digest_placement(CHARTER, MONDAY_10, full)[1] == date(2026, 11, 25)
    assert digest_placement(CHARTER, MONDAY_10, full, {TUESDAY})[1] == TUESDAY
    # Friday's overflow waits for Monday, the next day with an allowed window.
    friday = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert digest_placement(CHARTER, friday, {date(2026, 11, 27): 3})[1] == date(2026, 11, 30)


# ------------------------------------------------------------------------------------------ daily limit, digest


async def _publish_many(tiny: Tiny, count: int, now: datetime, urgency: Urgency = Urgency.NORMAL) -> list[Message]:
    author = tiny.principal if urgency is not Urgency.NORMAL else tiny.teacher
    messages = []
    for _ in range(count):
        message = await class_message(tiny, urgency=urgency, author=author)
        await publish(message.id, now=now, actor_staff_id=author.id)
        messages.append(message)
    return messages


async def test_beyond_the_daily_limit_notices_are_held_to_the_next_day_as_one_digest(db: str) -> None:
    tiny = await build_school()
    assert CHARTER.max_non_urgent_per_day == 3
    firsts = await _publish_many(tiny, 3, MONDAY_10)
    fourth, fifth = await class_message(tiny), await class_message(tiny)
    result = await publish(fourth.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    assert (result.due, result.held, result.digested) == (0, 3, 3)
    await publish(fifth.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)

    mother = tiny.guardians["mother"]
    for message in firsts:
        first = await first_active(await notice_of(message, mother))
        assert (first.state, first.digest_key) == (DeliveryState.DUE, "")
    key = digest_key(mother.id, Channel.EMAIL, TUESDAY)
    held = [await first_active(await notice_of(m, mother)) for m in (fourth, fifth)]
    for delivery in held:
        assert (delivery.state, delivery.digest_key) == (DeliveryState.HELD, key)
        assert local_day(CHARTER, delivery.due_at) == TUESDAY and is_allowed(CHARTER, delivery.due_at, Urgency.NORMAL)
    assert held[0].due_at == held[1].due_at  # due together
    portal = await Delivery.get(notice_id=held[0].notice_id, channel=Channel.PORTAL)
    assert portal.state == DeliveryState.DELIVERED  # the inbox shows it at once: it rings nobody

    assert await digest_groups(MONDAY_10 + timedelta(hours=2)) == {}
    groups = await digest_groups(TUESDAY_10)
    assert groups[key] == [held[0].id, held[1].id]
    father = tiny.guardians["father"]
    assert len(groups[digest_key(father.id, Channel.SMS, TUESDAY)]) == 2
    assert len(groups) == 3  # one digest per guardian

    # On Tuesday the digest counts once: two more notices go as usual, the third joins Wednesday's digest.
    later = await _publish_many(tiny, 3, TUESDAY_10)
    states = [(await first_active(await notice_of(m, mother))) for m in later]
    assert [(d.state, d.digest_key) for d in states[:2]] == [(DeliveryState.DUE, "")] * 2
    assert states[2].digest_key == digest_key(mother.id, Channel.EMAIL, date(2026, 11, 25))


async def test_urgent_messages_are_never_limited_nor_counted(db: str) -> None:
    tiny = await build_school()
    await _publish_many(tiny, 2, MONDAY_10)
    urgent = await _publish_many(tiny, 3, MONDAY_10, Urgency.URGENT)
    mother = tiny.guardians["mother"]
    for message in urgent:
        first = await first_active(await notice_of(message, mother))
        assert (first.state, first.digest_key) == (DeliveryState.DUE, "")
    (third,) = await _publish_many(tiny, 1, MONDAY_10)
    assert (await first_active(await notice_of(third, mother))).state == DeliveryState.DUE  # 3rd normal one
    (fourth,) = await _publish_many(tiny, 1, MONDAY_10)
    assert (await first_active(await notice_of(fourth, mother))).digest_key != ""
    more_urgent = await _publish_many(tiny, 1, MONDAY_10, Urgency.URGENT)
    first = await first_active(await notice_of(more_urgent[0], mother))
    assert (first.state, first.digest_key) == (DeliveryState.DUE, "")


# ------------------------------------------------------------------------------------------------ escalation


async def test_escalation_uses_the_message_s_own_wait(db: str) -> None:
    tiny = await build_school()
    quick = await class_message(tiny, needs_ack=True)
    await Message.filter(id=quick.id).update(escalation_wait_minutes=120)
    usual = await class_message(tiny, needs_ack=True)
    for message in (quick, usual):
        await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
        for guardian in ("mother", "father"):
            first = await first_active(await notice_of(message, tiny.guardians[guardian]))
            await record_outcome(first.id, now=MONDAY_10, ok=True)

    assert await due_escalations(MONDAY_10 + timedelta(minutes=119)) == []
    created = await due_escalations(MONDAY_10 + timedelta(minutes=120))
    quick_notices = {(await notice_of(quick, tiny.guardians[g])).id for g in ("mother", "father")}
    assert {d.notice_id for d in created} == quick_notices  # the other message waits its 24 hours
    assert await due_escalations(MONDAY_10 + timedelta(hours=23)) == []
    usual_created = await due_escalations(MONDAY_10 + timedelta(hours=24))
    assert {d.notice_id for d in usual_created} == {
        (await notice_of(usual, tiny.guardians[g])).id for g in ("mother", "father")
    }


# ---------------------------------------------------------------------------------------------- late answers


async def test_a_late_answer_is_refused_unless_recorded_as_late(db: str) -> None:
    tiny = await build_school()
    message = await slip_message(tiny, AnswerMode.ONE_PER_PUPIL)  # deadline Friday 4 December, 12:00 local
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    janssens = await notice_of(message, tiny.guardians["janssens"])
    lucas = tiny.pupils["lucas"].id
    too_late = datetime(2026, 12, 4, 11, 1, tzinfo=UTC)
    with pytest.raises(PlanningError, match=r"the reply slip closed on 2026-12-04 12:00"):
        await record_answer(janssens.id, lucas, {"1": "oui"}, channel=Channel.PORTAL, now=too_late)
    assert await SlipResponse.all().count() == 0
    response = await record_answer(
        janssens.id,
        lucas,
        {"1": "oui"},
        channel=Channel.LETTER,
        now=too_late,
        recorded_by_staff_id=tiny.teacher.id,
        late_ok=True,
    )
    assert (response.answers, response.channel, response.at) == ({"1": "oui"}, Channel.LETTER, too_late)
    on_time = await notice_of(message, tiny.guardians["mother"])
    deadline = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
    await record_answer(on_time.id, tiny.pupils["lina"].id, {}, channel=Channel.PORTAL, now=deadline)  # at it: ok


# ------------------------------------------------------------------------------------------------- scheduled


async def test_a_scheduled_message_is_scheduled_then_published(db: str) -> None:
    tiny = await build_school()
    message = await class_message(tiny)
    wednesday_noon = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    await Message.filter(id=message.id).update(scheduled_at=wednesday_noon)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    stored = await Message.get(id=message.id)
    assert (stored.state, stored.published_at) == (MessageState.SCHEDULED, None)
    with pytest.raises(PlanningError):
        await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)  # once only, scheduled or not

    assert await publish_scheduled(wednesday_noon - timedelta(seconds=1)) == 0
    assert await due_deliveries(wednesday_noon - timedelta(seconds=1)) == []
    assert (await Message.get(id=message.id)).state == MessageState.SCHEDULED
    assert await publish_scheduled(wednesday_noon) == 1
    stored = await Message.get(id=message.id)
    assert (stored.state, stored.published_at) == (MessageState.PUBLISHED, wednesday_noon)
    assert await publish_scheduled(wednesday_noon + timedelta(hours=1)) == 0

    other = await class_message(tiny)
    await Message.filter(id=other.id).update(scheduled_at=wednesday_noon)
    await publish(other.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    released = await due_deliveries(wednesday_noon + timedelta(hours=1))  # the worker's loop publishes it too
    assert released and (await Message.get(id=other.id)).state == MessageState.PUBLISHED

    now_message = await class_message(tiny)
    await Message.filter(id=now_message.id).update(scheduled_at=MONDAY_10 - timedelta(hours=1))  # already past
    await publish(now_message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    assert (await Message.get(id=now_message.id)).state == MessageState.PUBLISHED
