"""End to end on the demo school: a whole-school message puts on the paper list exactly the families that no
electronic channel can reach (no internet, or no consent for their only contact), and others only once their
electronic channels failed for good."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.demo import generate_demo
from hub.enums import AudienceKind, Channel, DeliveryState, ErrorKind, StaffRole, Urgency
from hub.models import Contact, Delivery, Guardian, Message, MessageAudience, Notice, School, Staff
from hub.paper import paper_list
from hub.planning import publish, record_outcome

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels


async def test_paper_list_for_a_whole_school_message(db: str) -> None:
    await generate_demo(seed=2026)
    school = await School.first()
    assert school is not None
    principal = await Staff.get(roles__role=StaffRole.PRINCIPAL)
    message = await Message.create(
        school=school,
        author=principal,
        subject="Journée pédagogique",
        body="L'école sera fermée.",
        urgency=Urgency.NORMAL,
    )
    await MessageAudience.create(message=message, kind=AudienceKind.SCHOOL)
    await publish(message.id, now=MONDAY_10, actor_staff_id=principal.id)

    with_contacts = set(await Contact.filter(guardian__school=school).values_list("guardian_id", flat=True))
    paper_only = set(await Guardian.filter(school=school).exclude(id__in=with_contacts).values_list("id", flat=True))
    plans = dict(await Notice.filter(message=message).values_list("guardian_id", "plan"))
    # A plan with no active electronic channel: the portal is an inbox nobody is alerted by.
    letter_only = {g for g, plan in plans.items() if [c for c in plan if c != "portal"] == ["letter"]}
    items = await paper_list(message_id=message.id)
    listed = {item.guardian_id for item in items}
    assert listed == letter_only
    assert paper_only & set(plans) <= listed, "every family without internet starts on paper"
    assert letter_only - paper_only, "so do families who withdrew the consent of their only channel"
    assert all(item.address_lines and item.reason == "only channel" for item in items)

    # An email that bounces for good puts that family on paper too.
    email_step = await Delivery.filter(
        notice__message_id=message.id, channel=Channel.EMAIL, state=DeliveryState.DUE
    ).first()
    assert email_step is not None
    await record_outcome(
        email_step.id, now=MONDAY_10, ok=False, error="550 No such user", error_kind=ErrorKind.PERMANENT
    )
    notice_guardian = (await email_step.notice).guardian_id  # type: ignore[attr-defined]
    # it falls back to the guardian's next channel; once only the letter is left it reaches the list
    while True:
        pending = (
            await Delivery.filter(
                notice_id=email_step.notice_id,
                state=DeliveryState.DUE,  # type: ignore[attr-defined]
            )
            .exclude(channel=Channel.LETTER)
            .first()
        )
        if pending is None:
            break
        await record_outcome(pending.id, now=MONDAY_10, ok=False, error="gone", error_kind=ErrorKind.PERMANENT)
    assert notice_guardian in {item.guardian_id for item in await paper_list(message_id=message.id)}
