"""The retention job removes exactly what is past its period at the moment stated, and nothing else."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.enums import ActorKind, AudienceKind, Channel, GroupKind, Relation, StaffRole
from hub.messaging.models import Attachment, Delivery, Message, MessageAudience, Notice, ReplySlip, ThreadPost
from hub.messaging.planning import publish
from hub.people.models import Group, Guardian, Guardianship, Membership, Pupil, School, Staff, StaffRoleGrant
from hub.privacy import retention
from hub.records.models import Grade
from hub.store.audit import AuditEntry

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)  # the moment the job runs, stated
DAY = timedelta(days=1)


async def _school() -> tuple[School, Staff, Group, Pupil]:
    school = await School.create(name="Athénée Royal")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email="t@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    group = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    pupil = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="X")
    await Membership.create(group=group, pupil=pupil)
    guardian = await Guardian.create(school=school, external_id="G1", first_name="Anne", last_name="X")
    await Guardianship.create(pupil=pupil, guardian=guardian, relation=Relation.MOTHER)
    return school, teacher, group, pupil


async def _message(teacher: Staff, group: Group, age: timedelta, *, open_slip: bool = False) -> Message:
    sent = NOW - age
    message = await Message.create(school_id=teacher.school_id, author=teacher, subject=f"age {age.days}", body=".")
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=group)
    if open_slip:
        await ReplySlip.create(message=message, deadline=NOW + DAY)
    await publish(message.id, now=sent, actor_staff_id=teacher.id, available_channels=frozenset({Channel.PORTAL}))
    notice = await Notice.get(message_id=message.id)
    await Delivery.filter(notice_id=notice.id).update(created_at=sent)
    await ThreadPost.create(
        notice=notice, author_kind=ActorKind.GUARDIAN, guardian_id=notice.guardian_id, body="ok", at=sent
    )
    attachment = await Attachment.create(
        message=message, filename="a.pdf", content_type="application/pdf", size=1, sha256="0" * 64, data=b"x"
    )
    await Attachment.filter(id=attachment.id).update(created_at=sent)
    return message


async def test_the_job_removes_exactly_what_is_past_its_period(db: str) -> None:
    school, teacher, group, pupil = await _school()
    await retention.set_periods(
        school.id, retention.Periods(deliveries=100, notices=200, threads=150, attachments=120), by=teacher.id, at=NOW
    )
    young = await _message(teacher, group, timedelta(days=99))  # within every period
    middle = await _message(teacher, group, timedelta(days=160))  # past deliveries, threads, attachments
    old = await _message(teacher, group, timedelta(days=201))  # past everything
    kept_open = await _message(teacher, group, timedelta(days=400), open_slip=True)  # a slip still open
    await Grade.create(pupil=pupil, subject="Math", title="old", term="T1", max_score=20, assessed_on=date(2024, 11, 1))
    await Grade.create(pupil=pupil, subject="Math", title="new", term="T1", max_score=20, assessed_on=date(2025, 12, 1))

    dry = await retention.plan(school.id, NOW)
    assert dry.counts == {
        "deliveries": 3,
        "notices": 1,
        "threads": 3,
        "attachments": 3,
        "journal": 0,
        "grades": 1,
        "absences": 0,
        "report_cards": 0,
    }
    assert await Delivery.all().count() == 4  # a dry run changes nothing

    done = await retention.apply(school.id, NOW)
    assert done.counts == dry.counts
    assert set(await Notice.all().values_list("message_id", flat=True)) == {young.id, middle.id, kept_open.id}
    assert set(await Delivery.all().values_list("notice__message_id", flat=True)) == {young.id}
    assert set(await ThreadPost.all().values_list("notice__message_id", flat=True)) == {young.id}
    assert set(await Attachment.all().values_list("message_id", flat=True)) == {young.id}
    assert await Grade.all().values_list("title", flat=True) == ["new"]
    assert old.id not in await Notice.all().values_list("message_id", flat=True)
    assert await AuditEntry.filter(action="retention.applied").count() == 1
    # run again at the same moment: nothing left to remove, nothing audited
    again = await retention.apply(school.id, NOW)
    assert not any(again.counts.values())
    assert await AuditEntry.filter(action="retention.applied").count() == 1


async def test_periods_are_bounded(db: str) -> None:
    school, teacher, _group, _pupil = await _school()
    with pytest.raises(ValueError, match="deliveries"):
        await retention.set_periods(school.id, retention.Periods(5, 200, 200, 200), by=teacher.id, at=NOW)
    assert await retention.periods_of(school.id) == retention.Periods(**retention.DEFAULT_DAYS)


async def test_the_worker_runs_the_retention_job_daily(db: str) -> None:
    import asyncio

    from hub import clock
    from hub.delivery.worker import _run_daily

    _school_row, teacher, group, _pupil = await _school()
    await _message(teacher, group, timedelta(days=800))
    stop = asyncio.Event()
    ran: list[list[str]] = []

    async def job(now: datetime) -> list[str]:
        ran.append(await retention.apply_all(now))
        stop.set()
        return ran[-1]

    with clock.using(clock.FixedClock(NOW)):
        await asyncio.wait_for(_run_daily([job], stop), 30)
    assert "notices: 1" in ran[0][0] and await Notice.all().count() == 0
