"""A guardian's own quiet hours: the pure rule (windows crossing midnight, the charter's hours taking over), and
publishing over the database: a normal message waits until they end, an urgent one does not, a fallback waits
too. The quiet hours are stored the way the portal stores them (``hub.people.account.set_quiet_hours``)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from charter import default_charter
from hub.enums import Channel, DeliveryPurpose, DeliveryState, ErrorKind, Urgency
from hub.messaging.models import Delivery
from hub.messaging.planning import publish, record_outcome
from hub.messaging.routing import after_quiet_hours
from hub.people import account
from hub.people.preferences import QuietHours
from tests.messaging.test_planning import MONDAY_10, build_school, class_message, first_active, notice_of

CHARTER = default_charter()
BRUSSELS = ZoneInfo("Europe/Brussels")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BRUSSELS)


def test_quiet_hours_crossing_midnight() -> None:
    night = QuietHours(time(22), time(7))
    assert night.end_after(local(2026, 11, 23, 23, 30), BRUSSELS) == local(2026, 11, 24, 7)
    assert night.end_after(local(2026, 11, 24, 6, 59), BRUSSELS) == local(2026, 11, 24, 7)
    assert night.end_after(local(2026, 11, 24, 7), BRUSSELS) is None  # the end is not quiet any more
    assert night.end_after(local(2026, 11, 24, 12), BRUSSELS) is None
    lunch = QuietHours(time(12), time(14))
    assert lunch.end_after(local(2026, 11, 24, 13), BRUSSELS) == local(2026, 11, 24, 14)
    assert lunch.end_after(local(2026, 11, 24, 11, 59), BRUSSELS) is None
    with pytest.raises(ValueError):
        QuietHours(time(8), time(8))


def test_the_guardians_hours_and_the_charters_take_turns() -> None:
    evenings = QuietHours(time(18), time(8))
    friday_19 = local(2026, 11, 27, 19)  # the charter allows a normal message until 20:00
    # Quiet until Saturday 08:00; the charter is closed at weekends: Monday 07:30; still quiet: Monday 08:00.
    assert after_quiet_hours(CHARTER, friday_19, evenings, Urgency.NORMAL) == local(2026, 11, 30, 8)
    assert after_quiet_hours(CHARTER, friday_19, evenings, Urgency.URGENT) == friday_19
    assert after_quiet_hours(CHARTER, friday_19, evenings, Urgency.EMERGENCY) == friday_19
    assert after_quiet_hours(CHARTER, friday_19, None, Urgency.NORMAL) == friday_19
    assert after_quiet_hours(CHARTER, local(2026, 11, 27, 10), evenings, Urgency.NORMAL) == local(2026, 11, 27, 10)


async def test_a_normal_message_waits_for_the_guardians_quiet_hours_to_end(db: str) -> None:
    tiny = await build_school()
    mother, janssens = tiny.guardians["mother"], tiny.guardians["janssens"]
    await account.set_quiet_hours(mother.id, QuietHours(time(9), time(12)), MONDAY_10)  # Monday 10:00 is quiet

    message = await class_message(tiny)
    result = await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    held = await first_active(await notice_of(message, mother))
    assert held.state == DeliveryState.HELD and held.due_at == local(2026, 11, 23, 12)
    portal = await Delivery.get(notice_id=held.notice_id, channel=Channel.PORTAL)  # type: ignore[attr-defined]
    assert portal.state == DeliveryState.DELIVERED  # the inbox rings nobody: it does not wait
    other = await first_active(await notice_of(message, janssens))
    assert other.state == DeliveryState.DUE and other.due_at == MONDAY_10
    assert result.held == 1 and result.held_until == local(2026, 11, 23, 12)


async def test_an_urgent_message_ignores_the_guardians_quiet_hours(db: str) -> None:
    tiny = await build_school()
    mother = tiny.guardians["mother"]
    await account.set_quiet_hours(mother.id, QuietHours(time(9), time(12)), MONDAY_10)
    message = await class_message(tiny, urgency=Urgency.URGENT, author=tiny.principal)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.principal.id)
    delivery = await first_active(await notice_of(message, mother))
    assert delivery.state == DeliveryState.DUE and delivery.due_at == MONDAY_10


async def test_a_fallback_waits_for_the_quiet_hours_too(db: str) -> None:
    tiny = await build_school()
    father = tiny.guardians["father"]  # prefers SMS, then email
    message = await class_message(tiny)
    await publish(message.id, now=MONDAY_10, actor_staff_id=tiny.teacher.id)
    sms = await first_active(await notice_of(message, father))
    assert sms.channel == Channel.SMS and sms.state == DeliveryState.DUE

    await account.set_quiet_hours(father.id, QuietHours(time(9, 30), time(11, 15)), MONDAY_10)
    await record_outcome(sms.id, now=MONDAY_10, ok=False, error="unknown number", error_kind=ErrorKind.PERMANENT)
    fallback = await Delivery.get(notice_id=sms.notice_id, purpose=DeliveryPurpose.FALLBACK)  # type: ignore[attr-defined]
    assert fallback.channel == Channel.EMAIL
    assert fallback.state == DeliveryState.HELD and fallback.due_at == local(2026, 11, 23, 11, 15)
    assert fallback.due_at.astimezone(UTC) == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
