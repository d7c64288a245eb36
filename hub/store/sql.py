"""Hand-written SQL for the few queries whose size must not follow the data: one spelling for both databases.

The ORM sends one argument per id of an ``IN (...)`` list, and asyncpg refuses a query with more than 32,767
arguments; building such a statement also costs more than running it. The queries here take a fixed number of
arguments whatever the number of rows they touch (joins and ``NOT EXISTS`` subqueries instead of id lists), and
the bulk inserts go through the driver's ``executemany`` with values the caller has already checked, without the
ORM's per-field validation of each row.

A query is written with PostgreSQL's numbered placeholders (``$1``); on SQLite they become ``?1`` (SQLite reads
numbered parameters too). Datetimes go in aware (UTC), as the ORM stores them, and come back aware on both.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

__all__ = [
    "as_datetime",
    "as_json",
    "connection",
    "execute",
    "ids_argument",
    "in_ids",
    "insert_many",
    "is_postgres",
    "query",
]

_PLACEHOLDER = re.compile(r"\$(\d+)")


def connection() -> BaseDBAsyncClient:
    """The default connection, or the transaction open in this task."""
    return connections.get("default")


def is_postgres(conn: BaseDBAsyncClient | None = None) -> bool:
    return (conn or connection()).capabilities.dialect == "postgres"


def _spelled(sql: str, conn: BaseDBAsyncClient) -> str:
    return sql if is_postgres(conn) else _PLACEHOLDER.sub(r"?\1", sql)


def _arguments(params: Sequence[Any], conn: BaseDBAsyncClient) -> list[Any]:
    if is_postgres(conn):
        return list(params)
    # SQLite stores times as ISO text: send aware datetimes in UTC, as the ORM does, so comparisons hold.
    return [v.astimezone(dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo else v for v in params]


async def query(sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The rows of one SELECT (or ``... RETURNING``), as dicts."""
    conn = connection()
    return await conn.execute_query_dict(_spelled(sql, conn), _arguments(params, conn))


async def execute(sql: str, params: Sequence[Any] = ()) -> int:
    """Run one UPDATE, DELETE or INSERT; the number of rows it touched."""
    conn = connection()
    count, _rows = await conn.execute_query(_spelled(sql, conn), _arguments(params, conn))
    return count


async def insert_many(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """One ``INSERT`` statement run over every row through the driver's ``executemany`` (one round trip on
    PostgreSQL's extended protocol, one prepared statement on SQLite). The values must already be what the column
    stores: no per-field validation happens here (JSON values are given as text)."""
    conn = connection()
    values = [_arguments(row, conn) for row in rows]
    if not values:
        return
    marks = ", ".join(f"${i + 1}" for i in range(len(columns)))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    await conn.execute_many(_spelled(sql, conn), values)


def in_ids(column: str, placeholder: str, *, probe: bool = True) -> str:
    """``column`` is one of the ids given as ONE argument (:func:`ids_argument`): ``= ANY($n)`` on PostgreSQL, a
    ``json_each`` of the JSON list on SQLite. A statement's arguments stay fixed whatever the number of ids.

    ``probe=False`` when the rows are found another way (a join) and the ids only filter them: SQLite would
    otherwise probe an index once per id for each row of the join (the unary ``+`` keeps the index out)."""
    if is_postgres():
        return f"{column} = ANY({placeholder})"
    return f"{'' if probe else '+'}{column} IN (SELECT value FROM json_each({placeholder}))"


def ids_argument(ids: Iterable[int]) -> Any:
    """The one argument :func:`in_ids` reads: an integer array on PostgreSQL, a JSON list on SQLite."""
    values = [int(i) for i in ids]
    return values if is_postgres() else json.dumps(values)


def as_datetime(value: Any) -> dt.datetime | None:
    """A datetime column as read back: asyncpg gives a datetime, SQLite the ISO text the ORM stored."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def as_json(value: Any) -> Any:
    """A JSON column as read back: text on both drivers unless a codec was set."""
    return json.loads(value) if isinstance(value, str | bytes) else value
