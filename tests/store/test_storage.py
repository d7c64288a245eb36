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


async def test_postgres_plans_each_statement_for_its_own_array_of_ids(pg_db: str) -> None:
    """A statement asyncpg prepared once and runs again keeps being planned for the ids it gets: a generic plan,
    made for a guessed handful, turned a publish's chunk of 2,000 guardians from 0.05 s into 10 s."""
    from tortoise.transactions import in_transaction

    school = await School.create(name="Athénée")
    statement = "SELECT COUNT(*) AS n FROM pupil WHERE id = ANY($1) AND school_id = $2"
    async with in_transaction() as connection:  # one connection: its prepared statements are its own
        for size in (1, 3, 2_000, 5, 2_000, 10, 2_000, 4, 2_000):
            rows = await connection.execute_query_dict(statement, [list(range(size)), school.id])
            assert rows[0]["n"] == 0
        plans = await connection.execute_query_dict(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", [statement]
        )
    assert plans, "asyncpg prepares the statement on this connection"
    assert sum(p["generic_plans"] for p in plans) == 0
    assert sum(p["custom_plans"] for p in plans) >= 9
