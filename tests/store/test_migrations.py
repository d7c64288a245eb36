"""Schema changes go through migrations: on an empty database, on one holding data, and in step with the models."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from hub.enums import ActorKind
from hub.people.models import Guardianship, School
from hub.store import db as hubdb
from hub.store.audit import AuditEntry
from hub.testing import postgres

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'empty.sqlite3'}"
    import asyncio

    server: postgres.PostgresServer = request.getfixturevalue("pg_server")
    return asyncio.run(postgres.create_database(server, f"carnet_mig_{tmp_path.name[-20:]}".lower()))


async def _tables() -> set[str]:
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r["name"] for r in rows}
    rows = await conn.execute_query_dict("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    return {r["name"] for r in rows}


async def test_migrations_build_the_schema_on_an_empty_database_and_rerun_as_a_no_op(empty_url: str) -> None:
    await hubdb.migrate(empty_url)
    await hubdb.migrate(empty_url)  # a second start applies nothing and breaks nothing
    await hubdb.init(empty_url)
    try:
        tables = await _tables()
        for table in ("school", "pupil", "guardian", "guardianship", "consent", "notice", "delivery", "audit_log"):
            assert table in tables
    finally:
        await hubdb.close()


async def test_upgrading_a_populated_database_keeps_its_data(empty_url: str) -> None:
    # The database of a school running the first release...
    await tortoise_migrate(config=hubdb.tortoise_config(empty_url), target="models.0001_initial")
    await hubdb.close()
    await hubdb.init(empty_url)
    try:
        # Written as the first release wrote it, in raw SQL: today's models have columns 0001 did not have.
        conn = connections.get("default")

        async def insert(sql: str) -> int:
            await conn.execute_query(sql)
            table = sql.split()[2]
            return int((await conn.execute_query_dict(f"SELECT max(id) AS id FROM {table}"))[0]["id"])

        created = "'2025-09-01 08:00:00+00:00'"
        school = await insert(
            "INSERT INTO school (name, timezone, default_language, address, school_year, created_at)"
            f" VALUES ('Athénée', 'Europe/Brussels', 'fr', '', '2025-2026', {created})"
        )
        home = await insert(
            "INSERT INTO household (school_id, external_id, street, postal_code, city, country)"
            f" VALUES ({school}, 'H1', '', '', 'Namur', 'BE')"
        )
        pupil = await insert(
            "INSERT INTO pupil (school_id, external_id, first_name, last_name, active, created_at)"
            f" VALUES ({school}, 'P1', 'Lina', 'Peeters', true, {created})"
        )
        mother_id = await insert(
            "INSERT INTO guardian (school_id, external_id, first_name, last_name, language, street, postal_code,"
            " city, country, password_hash, created_at)"
            f" VALUES ({school}, 'G1', 'Ann', 'Peeters', 'fr', '', '', '', 'BE', '', {created})"
        )
        await insert(
            "INSERT INTO guardianship (pupil_id, guardian_id, relation, household_id, receives, may_answer, barred,"
            f" barred_reason, created_at) VALUES ({pupil}, {mother_id}, 'mother', {home}, true, true, false,"
            f" '', {created})"
        )
        await AuditEntry.create(at=NOW, actor_kind=ActorKind.SYSTEM, action="old.entry")
    finally:
        await hubdb.close()

    # ...upgraded to this one.
    await hubdb.migrate(empty_url)
    await hubdb.init(empty_url)
    try:
        assert (await School.get(name="Athénée")).school_year == "2025-2026"
        link = await Guardianship.get(pupil__external_id="P1").prefetch_related("guardian", "household")
        assert link.guardian.first_name == "Ann"
        assert link.household is not None and link.household.city == "Namur"
        assert await AuditEntry.filter(action="old.entry").count() == 1
        with pytest.raises(Exception, match="append-only"):  # the upgrade's trigger now guards the old rows
            await connections.get("default").execute_query("DELETE FROM audit_log")
    finally:
        await hubdb.close()


async def test_the_models_and_the_migrations_agree(tmp_path: Path) -> None:
    """A model change without its migration fails here, not on a school's server."""
    config = hubdb.tortoise_config(f"sqlite://{tmp_path / 'x.sqlite3'}")
    async with tortoise_cli_context(config) as ctx:
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    assert [w.name for w in writers] == [], "run `python -m tortoise makemigrations` and commit the migration"
