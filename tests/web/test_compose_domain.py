"""``hub.messaging.composer`` on the demo school without the web: when the preview says a message goes out (the
charter's
hours, the sender's time, an emergency), and that it writes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from charter import default_charter, next_allowed
from hub.demo.school import STAFF_DOMAIN
from hub.enums import AudienceKind, Channel, StaffRole, Urgency
from hub.messaging import composer
from hub.messaging.models import Delivery, Notice
from hub.people.models import Staff, StaffRoleGrant
from hub.store import db

CHARTER = default_charter()
#: A Saturday evening in Brussels: nothing but an emergency goes out before Monday.
SATURDAY_NIGHT = dt.datetime(2026, 11, 28, 21, 0, tzinfo=dt.UTC)
CHANNELS = frozenset({Channel.PORTAL, Channel.LETTER, Channel.EMAIL})


@pytest.fixture
async def demo(demo_db_url: str) -> AsyncIterator[None]:
    await db.init(demo_db_url)
    try:
        yield
    finally:
        await db.close()


@dataclass(frozen=True)
class Sender:
    id: int
    school_id: int
    roles: frozenset[StaffRole]


async def _principal() -> Sender:
    staff = await Staff.get(email=f"direction@{STAFF_DOMAIN}")
    roles = await StaffRoleGrant.filter(staff_id=staff.id).values_list("role", flat=True)
    return Sender(staff.id, staff.school_id, frozenset(StaffRole(r) for r in roles))  # type: ignore[attr-defined]


async def _draft(member: Sender, **changes: object) -> composer.Message:
    options = await composer.audience_options(member)
    draft = composer.Draft(
        subject="Réunion", body="Bonjour", audience=[composer.Term(AudienceKind.GROUP, options.classes[0].id)]
    )
    for name, value in changes.items():
        setattr(draft, name, value)
    return await composer.save_draft(member, draft, now=SATURDAY_NIGHT)


async def _preview(message: composer.Message) -> composer.Preview:
    return await composer.preview(
        message, charter=CHARTER, available_channels=CHANNELS, base_url="http://testserver", now=SATURDAY_NIGHT
    )


async def test_a_normal_message_written_on_saturday_night_is_held_until_the_charter_allows(demo: None) -> None:
    preview = await _preview(await _draft(await _principal()))
    assert preview.held
    assert preview.goes_out_at == next_allowed(CHARTER, SATURDAY_NIGHT, Urgency.NORMAL)
    assert preview.goes_out_at.astimezone(CHARTER.tz).weekday() == 0  # Monday
    assert preview.families > 0 and sum(preview.first_channels.values()) == preview.families
    assert await Notice.all().count() == 0 and await Delivery.all().count() == 0  # a preview writes nothing


async def test_an_emergency_goes_at_once_and_a_chosen_time_is_kept_when_allowed(demo: None) -> None:
    principal = await _principal()
    emergency = await _draft(principal, urgency=Urgency.EMERGENCY, urgency_reason="Tempête")
    preview = await _preview(emergency)
    assert not preview.held and preview.goes_out_at == SATURDAY_NIGHT

    tuesday_ten = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # 10:00 in Brussels, a school day
    scheduled = await _preview(await _draft(principal, scheduled_at=tuesday_ten))
    assert scheduled.held and scheduled.goes_out_at == tuesday_ten
