"""Shared fixtures: a fresh, migrated database per test, on SQLite and on a real PostgreSQL.

A test that takes ``db`` runs twice, once per backend. The schema is migrated once per session into a template
(a SQLite file, a PostgreSQL template database) and each test gets a copy, so tests are isolated and fast.
Outside CI a machine without PostgreSQL skips the PostgreSQL half with the reason; in CI (``CI=true``) nothing
is skipped: the server is installed and started, and a failure to do so fails the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from hub import clock
from hub.store import db as hubdb
from hub.testing import postgres, times

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(hubdb.migrate(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def pg_server() -> postgres.PostgresServer:
    try:
        return postgres.start_postgres()
    except postgres.PostgresUnavailable as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def pg_template(pg_server: postgres.PostgresServer) -> str:
    async def build() -> None:
        url = await postgres.create_database(pg_server, "carnet_template")
        await hubdb.migrate(url)

    asyncio.run(build())
    return "carnet_template"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database holding the migrated, empty schema."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "carnet.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite://{path}"
        return
    server: postgres.PostgresServer = request.getfixturevalue("pg_server")
    template_name: str = request.getfixturevalue("pg_template")
    name = f"carnet_test_{os.getpid()}_{next(_counter)}"
    url = asyncio.run(postgres.create_database(server, name, template=template_name))
    yield url
    asyncio.run(postgres.drop_database(server, name))


async def _load_demo(url: str) -> None:
    from hub.demo.school import generate_demo

    await hubdb.init(url)
    try:
        await generate_demo(seed=2026)
    finally:
        await hubdb.close()


@pytest.fixture(scope="session")
def sqlite_demo_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo-template") / "demo.sqlite3"
    shutil.copyfile(sqlite_template, path)
    asyncio.run(_load_demo(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def pg_demo_template(pg_server: postgres.PostgresServer, pg_template: str) -> str:
    url = asyncio.run(postgres.create_database(pg_server, "carnet_demo_template", template=pg_template))
    asyncio.run(_load_demo(url))
    return "carnet_demo_template"


@pytest.fixture(params=["sqlite", "postgres"])
def demo_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database holding the demo school (``hub.demo.school.generate_demo(2026)``), copied from a
    template built once per session: the web tests start from the whole school in milliseconds."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_demo_template")
        path = tmp_path / "carnet.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite://{path}"
        return
    server: postgres.PostgresServer = request.getfixturevalue("pg_server")
    template_name: str = request.getfixturevalue("pg_demo_template")
    name = f"carnet_test_{os.getpid()}_{next(_counter)}"
    url = asyncio.run(postgres.create_database(server, name, template=template_name))
    yield url
    asyncio.run(postgres.drop_database(server, name))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[str]:
    """Tortoise connected to a fresh database for the duration of the test."""
    await hubdb.init(db_url)
    try:
        yield db_url
    finally:
        await hubdb.close()


_pg_databases = itertools.count()


@pytest.fixture
async def pg_db(pg_server: postgres.PostgresServer, pg_template: str) -> AsyncIterator[str]:
    """Tortoise connected to a fresh PostgreSQL database: for a test only PostgreSQL can hold (several writers at
    once, the driver's limits), which has no SQLite half to skip."""
    name = f"carnet_pg_{os.getpid()}_{next(_pg_databases)}"
    url = await postgres.create_database(pg_server, name, template=pg_template)
    await hubdb.init(url)
    try:
        yield url
    finally:
        await hubdb.close()
        await postgres.drop_database(pg_server, name)


# ------------------------------------------------------------------------------------------------ the clock
# A test whose outcome depends on the hour states the hour: these fixtures install a running clock at that moment
# (hub.clock) for the test and put the system's back after it. A test that takes none runs at whatever time the
# process has, which scripts/test sets to a Saturday 23:30 in CI: such a test must not depend on the hour.


@pytest.fixture(autouse=True)
def _system_clock_after_each_test() -> Iterator[None]:
    yield
    clock.use(None)


@pytest.fixture
def at_school_hours() -> Iterator[dt.datetime]:
    """The product's clock on a Tuesday 10:00 in term (Brussels), running forward: the charter lets messages go."""
    with clock.using(clock.RunningClock(times.school_hours())) as running:
        yield running.now()


@pytest.fixture
def at_saturday_night() -> Iterator[dt.datetime]:
    """The product's clock on a Saturday 23:30 (Brussels), running forward: only emergencies go out."""
    with clock.using(clock.RunningClock(times.saturday_night())) as running:
        yield running.now()


@pytest.fixture
def at_sunday_afternoon() -> Iterator[dt.datetime]:
    """The product's clock on a Sunday 15:00 (Brussels), running forward."""
    with clock.using(clock.RunningClock(times.sunday_afternoon())) as running:
        yield running.now()


@pytest.fixture
def at_holidays() -> Iterator[dt.datetime]:
    """The product's clock on a weekday 10:00 in the school holidays (Brussels), running forward."""
    with clock.using(clock.RunningClock(times.holidays())) as running:
        yield running.now()
