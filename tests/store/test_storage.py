"""The model's storage rules, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError

from hub.enums import ActorKind, Relation
from hub.people.models import Guardian, Guardianship, Household, Pupil, School
from hub.store.audit import AuditEntry

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


async def test_audit_log_is_append_only_in_orm_and_database(db: str) -> None:
    entry = await AuditEntry.create(at=NOW, actor_kind=ActorKind.SYSTEM, action="test.created")
    entry.action = "test.changed"
    with pytest.raises(PermissionError):
        await entry.save()
    with pytest.raises(PermissionError):
        await entry.delete()
    conn = connections.get("default")
    with pytest.raises(Exception, match="append-only"):
        await conn.execute_query("UPDATE audit_log SET action = 'forged'")
    with pytest.raises(Exception, match="append-only"):
        await conn.execute_query("DELETE FROM audit_log")
    stored = await AuditEntry.get(id=entry.id)
    assert stored.action == "test.created"


async def test_a_guardian_is_linked_once_per_pupil(db: str) -> None:
    school = await School.create(name="Athénée")
    home = await Household.create(school=school, external_id="H1")
    pupil = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="Peeters")
    mother = await Guardian.create(
        school=school, external_id="G1", first_name="Ann", last_name="Peeters", household=home
    )
    await Guardianship.create(pupil=pupil, guardian=mother, relation=Relation.MOTHER, household=home)
    with pytest.raises(IntegrityError):
        await Guardianship.create(pupil=pupil, guardian=mother, relation=Relation.MOTHER, household=home)


async def test_times_come_back_aware_in_utc(db: str) -> None:
    await AuditEntry.create(at=NOW, actor_kind=ActorKind.SYSTEM, action="tz")
    entry = await AuditEntry.get(action="tz")
    assert entry.at == NOW
    assert entry.at.utcoffset() == dt.timedelta(0)
