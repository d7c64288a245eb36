"""The model's rules: households, court orders, consent history, the administrators' keys."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.enums import ConsentPurpose, ConsentSource, Relation, StaffRole
from hub.people.consent import consent_history, current_purposes, give_consent, withdraw_consent
from hub.people.family import households_of, may_answer_for
from hub.people.models import Guardian, Guardianship, Household, Pupil, School, Staff
from hub.people.staff import MIN_ADMINS, StaffRuleError, deactivate, grant_role, revoke_role
from hub.store.audit import AuditEntry

T0 = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)


async def _separated_family() -> tuple[Pupil, dict[str, Guardian]]:
    school = await School.create(name="Athénée")
    mum_home = await Household.create(school=school, external_id="H-MUM", city="Namur")
    dad_home = await Household.create(school=school, external_id="H-DAD", city="Jambes")
    pupil = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="Peeters")
    people = {}
    for key, first, relation, home, barred in [
        ("mother", "Ann", Relation.MOTHER, mum_home, False),
        ("stepfather", "Marc", Relation.STEPFATHER, mum_home, False),
        ("father", "Tom", Relation.FATHER, dad_home, False),
        ("grandfather", "Jef", Relation.GRANDFATHER, None, True),
    ]:
        g = await Guardian.create(school=school, external_id=key, first_name=first, last_name="X", household=home)
        await Guardianship.create(
            pupil=pupil,
            guardian=g,
            relation=relation,
            household=home,
            barred=barred,
            barred_reason="Décision du tribunal de la famille" if barred else "",
            may_answer=relation != Relation.STEPFATHER,
        )
        people[key] = g
    return pupil, people


async def test_separated_parents_are_two_households_and_a_barred_guardian_is_in_neither(db: str) -> None:
    pupil, people = await _separated_family()
    homes = await households_of(pupil.id)
    assert len(homes) == 2
    names = sorted(sorted(g.first_name for g in guardians) for guardians in homes.values())
    assert names == [["Ann", "Marc"], ["Tom"]]
    assert all(people["grandfather"].id != g.id for gs in homes.values() for g in gs)


async def test_rights_to_answer_follow_the_guardianship(db: str) -> None:
    pupil, people = await _separated_family()
    assert await may_answer_for(people["mother"].id, pupil.id)
    assert await may_answer_for(people["father"].id, pupil.id)
    assert not await may_answer_for(people["stepfather"].id, pupil.id)  # receives, may not sign
    assert not await may_answer_for(people["grandfather"].id, pupil.id)  # barred


async def test_withdrawing_consent_keeps_it_as_history(db: str) -> None:
    _, people = await _separated_family()
    mum = people["mother"]
    await give_consent(mum, ConsentPurpose.SMS, version="2026.1", source=ConsentSource.PAPER, at=T0)
    await give_consent(mum, ConsentPurpose.SMS, version="2026.1", source=ConsentSource.PORTAL, at=T0)  # no-op
    assert (await current_purposes([mum.id]))[mum.id] == {ConsentPurpose.SMS}

    withdrawn_at = T0 + dt.timedelta(days=30)
    assert await withdraw_consent(mum, ConsentPurpose.SMS, source=ConsentSource.PORTAL, at=withdrawn_at)
    assert not await withdraw_consent(mum, ConsentPurpose.SMS, source=ConsentSource.PORTAL, at=withdrawn_at)
    assert (await current_purposes([mum.id]))[mum.id] == frozenset()

    again = T0 + dt.timedelta(days=60)
    await give_consent(mum, ConsentPurpose.SMS, version="2026.2", source=ConsentSource.PORTAL, at=again)
    history = await consent_history(mum, ConsentPurpose.SMS)
    assert [(c.version, c.given_at, c.withdrawn_at) for c in history] == [
        ("2026.1", T0, withdrawn_at),
        ("2026.2", again, None),
    ]
    actions = await AuditEntry.filter(subject_type="guardian", subject_id=str(mum.id)).values_list("action", flat=True)
    assert sorted(actions) == ["consent.given", "consent.given", "consent.withdrawn"]


async def test_a_school_always_keeps_two_administrators(db: str) -> None:
    school = await School.create(name="Athénée")
    admins = [
        await Staff.create(school=school, first_name=f"A{i}", last_name="Admin", email=f"a{i}@example.be")
        for i in range(MIN_ADMINS + 1)
    ]
    for admin in admins:
        await grant_role(admin, StaffRole.ADMIN, by=None, at=T0)
    await revoke_role(admins[0], StaffRole.ADMIN, by=admins[1], at=T0)  # three -> two: allowed
    with pytest.raises(StaffRuleError, match="at least 2 administrators"):
        await revoke_role(admins[1], StaffRole.ADMIN, by=admins[2], at=T0)
    with pytest.raises(StaffRuleError):
        await deactivate(admins[2], by=admins[1], at=T0)
    await grant_role(admins[0], StaffRole.ADMIN, by=admins[1], at=T0)
    await deactivate(admins[2], by=admins[1], at=T0)  # a third admin exists again: allowed
    assert not (await Staff.get(id=admins[2].id)).active
