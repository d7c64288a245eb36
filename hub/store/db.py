"""Opening the database and bringing its schema up to date.

SQLite (WAL mode, Tortoise's default for SQLite) when nothing is configured; PostgreSQL when
``CARNET_DATABASE_URL`` is a ``postgres://`` URL. The schema only ever changes through the migrations in
``hub/store/migrations`` (Tortoise's own migration system), so an upgrade keeps the data already stored.
"""

from __future__ import annotations

import datetime as dt
import gc
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api import migrate as _migrate
from tortoise.queryset import QuerySet

from hub.config import Settings

# Tortoise's SQLite backend teaches sqlite3 to store dates and datetimes, not times: a TimeField (a guardian's
# quiet hours) is stored as ISO text, which the field reads back. PostgreSQL's driver needs nothing.
sqlite3.register_adapter(dt.time, dt.time.isoformat)

#: One Tortoise app ("models") over the models of every package, each next to the code that owns it, and one
#: migration history.
MODELS_MODULES = [
    "hub.people.models",
    "hub.people.setup_models",
    "hub.people.gdpr_models",
    "hub.messaging.models",
    "hub.delivery.models",
    "hub.records.models",
    "hub.reports.models",
    "hub.store.audit",
]
MIGRATIONS_MODULE = "hub.store.migrations"


def normalise_url(url: str) -> str:
    """Accept the spellings people paste: ``postgresql://`` and ``sqlite:///abs/path``."""
    if url.startswith("postgresql://"):
        return "postgres://" + url[len("postgresql://") :]
    return url


def connection_config(db_url: str) -> str | dict[str, Any]:
    """The ``default`` connection: the URL, and on PostgreSQL a plan made for each statement's own arguments.

    asyncpg prepares every statement, and after five runs PostgreSQL may keep one generic plan for it, made without
    knowing the arguments: for a set of ids passed as one array (``= ANY($1)``) it guesses a handful, and a join it
    plans for ten rows runs for two thousand (a publish's second chunk of guardians took 10 s instead of 0.05 s). A
    custom plan costs a fraction of a millisecond per statement."""
    url = normalise_url(db_url)
    if not url.startswith("postgres://"):
        return url
    config = expand_db_url(url)
    settings = dict(config["credentials"].get("server_settings") or {})
    settings.setdefault("plan_cache_mode", "force_custom_plan")
    config["credentials"]["server_settings"] = settings
    return config


def tortoise_config(db_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": connection_config(db_url)},
        "apps": {
            "models": {
                "models": MODELS_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        # Every time is stored in UTC and read back aware; local time is the charter's business.
        "use_tz": True,
        "timezone": "UTC",
    }


def _ensure_sqlite_dir(db_url: str) -> None:
    if db_url.startswith("sqlite://") and ":memory:" not in db_url:
        Path(db_url[len("sqlite://") :]).parent.mkdir(parents=True, exist_ok=True)


async def migrate(db_url: str) -> None:
    """Apply every migration not yet applied. Safe to run at each start."""
    _ensure_sqlite_dir(db_url)
    await _migrate(config=tortoise_config(db_url))
    # The migration API initialises Tortoise without connections; reset so ``open_db`` starts clean.
    await close()
    # Reading the migrations leaves some 190,000 objects in reference cycles: collected now, at start-up, rather
    # than by the first full collection, which fell inside a request or a publish and cost it 0.14 s.
    gc.collect()


async def init(db_url: str) -> None:
    _ensure_sqlite_dir(db_url)
    # The global fallback lets tasks other than this one use the ORM: the web server runs its lifespan in one
    # task and requests in others, the worker spreads sends over many.
    await Tortoise.init(config=tortoise_config(db_url), _enable_global_fallback=True)


async def close() -> None:
    # Models keep the dialect's query builder of the last init: forget it, so the next init may be another
    # backend (the tests run SQLite and PostgreSQL in one process).
    await Tortoise._reset_apps()
    await Tortoise.close_connections()
    # Prepared INSERT/UPDATE statements are cached per connection *name* ("default"), with the placeholder
    # style of the dialect that built them: `?` for SQLite, `$1` for PostgreSQL.
    EXECUTOR_CACHE.clear()


@asynccontextmanager
async def open_db(settings: Settings | str, *, run_migrations: bool = True) -> AsyncIterator[None]:
    """Migrate (unless told not to), connect, and close at the end."""
    db_url = settings if isinstance(settings, str) else settings.db_url
    if run_migrations:
        await migrate(db_url)
    await init(db_url)
    try:
        yield
    finally:
        await close()


async def ids_of(query: QuerySet[Any], column: str = "id") -> list[int]:
    """The ids in one column of a query's rows, ``values_list(column, flat=True)`` typed as what it returns:
    Tortoise's stubs type a flat values list as a list of tuples."""
    return cast(list[int], await query.values_list(column, flat=True))
