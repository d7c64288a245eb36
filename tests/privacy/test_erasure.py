"""A guardian's erasure: their name, contacts and address gone from every table, the export and the audit log,
their answers kept without identity so the principal's figures and the other parent's view do not change."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import Tortoise

from hub.enums import (
    ActorKind,
    AnswerMode,
    AudienceKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    GroupKind,
    QuestionKind,
    Relation,
    StaffRole,
)
from hub.messaging.models import Message, MessageAudience, Notice, ReplySlip, SlipQuestion, SlipResponse
from hub.messaging.planning import publish, record_answer
from hub.messaging.portal import message_page
from hub.people.models import (
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
from hub.people.optouts import stop
from hub.privacy.erasure import ErasureError, erase_guardian
from hub.privacy.export import NothingToExport, export_guardian
from hub.reports.delivery import delivery_report, period_of
from hub.store.audit import AuditEntry, audit

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = MONDAY_10 + timedelta(hours=2)
#: What identifies the erased mother, wherever it was written.
TRACES = ("Anouk", "Vandermeulen", "anouk.vdm@example.be", "+32470555111", "Rue des Lilas", "Ixelles", "1050")


async def _school() -> tuple[Staff, Staff, Guardian, Guardian, Message]:
    school = await School.create(name="Athénée Royal")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email="t@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    secretary = await Staff.create(school=school, first_name="Sam", last_name="S", email="s@school.be")
    await StaffRoleGrant.create(staff=secretary, role=StaffRole.SECRETARY)
    group = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    pupil = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="Peeters")
    await Membership.create(group=group, pupil=pupil)
    mother_home = await Household.create(
        school=school, external_id="H1", street="Rue des Lilas 12", postal_code="1050", city="Ixelles"
    )
    father_home = await Household.create(
        school=school, external_id="H2", street="Avenue Louise 5", postal_code="1000", city="Bruxelles"
    )
    mother = await Guardian.create(
        school=school,
        external_id="G1",
        first_name="Anouk",
        last_name="Vandermeulen",
        household=mother_home,
        street="Rue des Lilas 12",
        postal_code="1050",
        city="Ixelles",
    )
    father = await Guardian.create(
        school=school, external_id="G2", first_name="Bram", last_name="Peeters", household=father_home
    )
    for guardian, email in ((mother, "anouk.vdm@example.be"), (father, "bram@example.be")):
        await Contact.create(guardian=guardian, kind=ContactKind.EMAIL, value=email, verified=True)
        for purpose in (ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.EMAIL):
            await Consent.create(
                guardian=guardian, purpose=purpose, version="1", given_at=MONDAY_10, source=ConsentSource.PORTAL
            )
    await Contact.create(guardian=mother, kind=ContactKind.PHONE, value="+32470555111", verified=True)
    await Guardianship.create(pupil=pupil, guardian=mother, relation=Relation.MOTHER, household=mother_home)
    await Guardianship.create(pupil=pupil, guardian=father, relation=Relation.FATHER, household=father_home)
    message = await Message.create(
        school=school, author=teacher, subject="Sortie au musée", body="Vendredi.", needs_acknowledgement=True
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=group)
    slip = await ReplySlip.create(
        message=message, deadline=MONDAY_10 + timedelta(days=5), answer_mode=AnswerMode.ONE_PER_PUPIL
    )
    await SlipQuestion.create(slip=slip, position=1, kind=QuestionKind.YES_NO, text="Lina participe ?")
    await publish(
        message.id,
        now=MONDAY_10,
        available_channels=frozenset({Channel.PORTAL, Channel.EMAIL}),
        actor_staff_id=teacher.id,
    )
    mother_notice = await Notice.get(message_id=message.id, guardian_id=mother.id)
    await record_answer(
        mother_notice.id, pupil.id, {"1": "yes"}, channel=Channel.PORTAL, now=LATER, signed_name="Anouk Vandermeulen"
    )
    await stop(mother.id, [], None, source="portal", at=LATER)
    await audit(
        "export.guardian",
        at=LATER,
        actor_kind=ActorKind.GUARDIAN,
        actor_id=mother.id,
        subject_type="guardian",
        subject_id=mother.id,
    )
    return teacher, secretary, mother, father, message


async def _figures(school_id: int) -> list[tuple[str, int, int]]:
    period = period_of("2026-09-01", "2026-12-31", now=LATER, tz="Europe/Brussels")
    report = await delivery_report(school_id, period, now=LATER)
    return [(stage.key, stage.count, stage.base) for stage in report.funnel] + [("messages", report.messages, 0)]


async def _father_view(message: Message, father: Guardian) -> list[tuple[object, ...]]:
    notice = await Notice.get(message_id=message.id, guardian_id=father.id)
    page = await message_page(notice, LATER)
    assert page.slip is not None
    seen: list[tuple[object, ...]] = []
    for target in page.slip.targets:
        other = target.other
        assert other is not None, "the father sees that the slip was answered"
        seen.append((target.key, other.at, other.channel, tuple((q.position, v) for q, v, _c in other.lines)))
    return seen


async def _everything_stored() -> str:
    """Every row of every table, as text."""
    dump = []
    for model in Tortoise.apps["models"].values():
        for row in await model.all().values():
            dump.append(repr(row))
    return "\n".join(dump)


async def test_erasure_removes_the_guardian_everywhere_and_changes_no_figure(db: str) -> None:
    _teacher, secretary, mother, father, message = await _school()
    figures = await _figures(mother.school_id)
    view = await _father_view(message, father)
    before = await _everything_stored()
    assert all(trace in before for trace in TRACES)  # the check below can fail
    answers = await SlipResponse.all().count()

    report = await erase_guardian(mother.id, mother.school_id, by_staff_id=secretary.id, at=LATER)

    assert report.contacts == 2 and report.signed_answers == 1 and report.household_cleared
    after = await _everything_stored()
    leaked = [trace for trace in TRACES if trace in after]
    assert not leaked, leaked
    assert "Peeters" in after and "bram@example.be" in after and "Avenue Louise" in after  # the father is untouched
    assert await _figures(mother.school_id) == figures
    assert await _father_view(message, father) == view
    assert await SlipResponse.all().count() == answers
    with pytest.raises(NothingToExport):
        await export_guardian(mother.id, now=LATER)
    father_export = repr(await export_guardian(father.id, now=LATER))
    assert not [trace for trace in TRACES if trace in father_export]
    # the audit log: what staff read there names nobody, and the erasure is in it once, by the secretary
    audit_text = repr(await AuditEntry.all().values())
    assert not [trace for trace in TRACES if trace in audit_text]
    (entry,) = await AuditEntry.filter(action="guardian.erased")
    assert (entry.actor_kind, entry.actor_id, entry.subject_type, entry.subject_id) == (
        ActorKind.STAFF,
        secretary.id,
        "guardian",
        str(mother.id),
    )
    # once is final, and another school's guardian cannot be erased from here
    with pytest.raises(ErasureError):
        await erase_guardian(mother.id, mother.school_id, by_staff_id=secretary.id, at=LATER)
    with pytest.raises(ErasureError):
        await erase_guardian(father.id, mother.school_id + 1, by_staff_id=secretary.id, at=LATER)
    assert await AuditEntry.filter(action="guardian.erased").count() == 1
    assert dataclasses.asdict(report)["guardian_id"] == mother.id
