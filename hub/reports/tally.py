"""The delivery report's tallies (:mod:`hub.reports.models`): recomputing the messages that changed.

The database's triggers note a message in ``report_dirty`` whenever a row its figures come from changes, and a pupil
in ``report_roster`` whenever their classes change. :func:`refresh` takes those notes (the ones committed when it
starts: a transaction still running keeps its note, taken by the next reading once its changes are committed) and,
in the same transaction, rewrites the tallies of those messages with the report's own rules, so a report costs what
changed since the last one, plus a handful of rows per message. A failure rolls the whole back: the notes stay,
nothing is half-written.

Each query is written once for both databases (named parameters, see :class:`Sql`); a set of message ids goes as
one argument (an array on PostgreSQL, a JSON list on SQLite), never one argument per id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

#: How many characters of an error text make its group (the report lists the most frequent groups).
ERROR_PREFIX = 160
#: An SMS line's time unit: a quarter of an hour, in seconds (every time zone's midnight falls on one).
QUARTER = 900


class Sql:
    """Named parameters (``:name``) for SQL written once for both databases: ``?`` on SQLite, ``$n`` on
    PostgreSQL, and times as SQLite stores them (ISO text in UTC, which sorts like time)."""

    _NAME = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

    def __init__(self, connection: BaseDBAsyncClient | None = None) -> None:
        self.connection = connection or Tortoise.get_connection("default")
        self.postgres = self.connection.capabilities.dialect == "postgres"

    def _value(self, value: Any) -> Any:
        if isinstance(value, datetime) and not self.postgres:
            return value.astimezone(UTC).isoformat(sep=" ")
        return value

    def compile(self, sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        values: list[Any] = []
        positions: dict[str, int] = {}

        def place(match: re.Match[str]) -> str:
            name = match.group(1)
            if not self.postgres:
                values.append(self._value(params[name]))
                return "?"
            if name not in positions:
                values.append(self._value(params[name]))
                positions[name] = len(values)
            return f"${positions[name]}"

        return self._NAME.sub(place, sql), values

    async def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        text, values = self.compile(sql, params)
        return list(await self.connection.execute_query_dict(text, values))

    def ids_in(self, column: str, name: str) -> str:
        """``column`` is one of the ids of parameter ``name`` (see :meth:`ids`): one argument whatever their number."""
        if self.postgres:
            return f"{column} = ANY(:{name})"
        return f"{column} IN (SELECT value FROM json_each(:{name}))"

    def ids(self, ids: Sequence[int]) -> Any:
        return list(ids) if self.postgres else json.dumps(list(ids))

    def deliveries_of(self, notices: str) -> str:
        """Join each of the ``notices`` (an alias) to its deliveries as ``d``, through the index on ``notice_id``:
        PostgreSQL would rather hash the whole table, which costs every delivery of the year for one message's
        (``OFFSET 0`` keeps it from flattening the lateral sub-query into that hash join; it skips nothing)."""
        if self.postgres:
            return f"CROSS JOIN LATERAL (SELECT * FROM delivery WHERE delivery.notice_id = {notices}.id OFFSET 0) d"
        return f"JOIN delivery d ON d.notice_id = {notices}.id"

    def quarter_of(self, column: str) -> str:
        """The quarter of an hour (since 1970, UTC) of a time column."""
        if self.postgres:
            return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / {QUARTER}) AS INTEGER)"
        return f"CAST(strftime('%s', {column}) AS INTEGER) / {QUARTER}"


_OK = "('sent', 'delivered')"

#: The notices of the messages being recomputed (``{claimed}``: the message is one of them).
_SCOPE = """
scope AS (
    SELECT n.id, n.message_id, n.first_read_at, n.opened_at, m.needs_acknowledgement AS needs_ack,
        s.id AS slip_id, s.answer_mode, m.scheduled_at, m.published_at
    FROM notice n
    JOIN message m ON m.id = n.message_id
    LEFT JOIN reply_slip s ON s.message_id = m.id
    WHERE {claimed}
)"""

#: The deliveries of those notices, read once (every part below is computed from this one read): the columns the
#: report uses, an error only for a failure and only as much of it as makes its group.
_DELIVERIES = f"""
dl AS MATERIALIZED (
    SELECT d.id, d.notice_id, sc.message_id, d.channel, d.state, d.purpose, d.error_kind, d.cost, d.segments,
        d.sent_at, d.due_at, CASE WHEN d.state = 'failed' THEN SUBSTR(d.error, 1, {ERROR_PREFIX}) END AS reason
    FROM scope sc
    {{deliveries}}
)"""

#: One row of 0/1 facts per notice (computed by the database, never sent back as is). Each fact is a join on a set
#: computed once (hash joins, linear in the notices), not a sub-query run per notice. See hub.reports.delivery for
#: what each stage means.
_FLAGS = f"""
WITH {_SCOPE},
{_DELIVERIES},
reached AS (
    SELECT d.notice_id,
        MAX(CASE WHEN d.state = 'delivered' AND d.channel <> 'letter' THEN 1 ELSE 0 END) AS confirmed
    FROM dl d
    WHERE d.channel <> 'portal' AND d.state IN {_OK}
    GROUP BY d.notice_id
),
answered_own AS (
    SELECT DISTINCT r.notice_id
    FROM slip_response r
    JOIN scope sc ON sc.id = r.notice_id AND sc.slip_id = r.slip_id
),
pupil_unanswered AS (
    SELECT DISTINCT np.notice_id
    FROM notice_pupil np
    JOIN scope sc ON sc.id = np.notice_id
    LEFT JOIN slip_response r ON r.slip_id = sc.slip_id AND r.pupil_id = np.pupil_id
    WHERE sc.slip_id IS NOT NULL AND r.id IS NULL
),
flags AS (
    SELECT sc.id, sc.message_id,
        CASE WHEN sc.first_read_at IS NULL THEN 0 ELSE 1 END AS is_read,
        CASE WHEN sc.first_read_at IS NULL AND sc.opened_at IS NOT NULL THEN 1 ELSE 0 END AS opened_only,
        CASE WHEN rc.notice_id IS NULL THEN 0 ELSE 1 END AS alerted,
        CASE WHEN rc.notice_id IS NOT NULL OR sc.first_read_at IS NOT NULL THEN 1 ELSE 0 END AS is_sent,
        CASE WHEN rc.confirmed = 1 OR sc.first_read_at IS NOT NULL THEN 1 ELSE 0 END AS is_delivered,
        CASE WHEN sc.needs_ack THEN 1 ELSE 0 END AS ack_asked,
        CASE WHEN a.id IS NULL THEN 0 ELSE 1 END AS acked,
        CASE WHEN sc.slip_id IS NULL THEN 0 ELSE 1 END AS slip_asked,
        CASE
            WHEN sc.slip_id IS NULL THEN 0
            WHEN sc.answer_mode = 'every_guardian' THEN CASE WHEN ao.notice_id IS NULL THEN 0 ELSE 1 END
            WHEN pu.notice_id IS NULL THEN 1
            ELSE 0
        END AS answered
    FROM scope sc
    LEFT JOIN reached rc ON rc.notice_id = sc.id
    LEFT JOIN acknowledgement a ON a.notice_id = sc.id
    LEFT JOIN answered_own ao ON ao.notice_id = sc.id
    LEFT JOIN pupil_unanswered pu ON pu.notice_id = sc.id
)"""

_COLUMNS = (
    "message_id, part, channel, state, label, group_id, bucket, n, sent, delivered, is_read, ack_asked, acked, "
    "slip_asked, answered, portal_first, opened_only, segments, cost"
)

#: Every fact the tallies come from, as common table expressions over the messages being recomputed: the
#: notices' flags, their groups, the channel that reached each first, and for the notices no channel reached yet
#: what decides why at any moment (``report_pending``'s columns), from their deliveries other than the inbox and
#: the reminders. A letter is for the print queue when due or being printed, when held (by the quiet hours) unless
#: the sender scheduled the message for later, and once its time came (the rule of
#: ``hub.messaging.paper.printable``); any delivery is due once its time came.
_FACTS = f"""{_FLAGS},
in_group AS (
    SELECT DISTINCT np.notice_id, ms.group_id
    FROM notice_pupil np
    JOIN membership ms ON ms.pupil_id = np.pupil_id
    JOIN scope sc ON sc.id = np.notice_id
),
firsts AS (
    SELECT d.message_id, d.channel, ROW_NUMBER() OVER (PARTITION BY d.notice_id ORDER BY d.sent_at, d.id) AS rank
    FROM dl d
    WHERE d.channel <> 'portal' AND d.state IN {_OK}
),
unsent AS (
    SELECT sc.id, sc.message_id, sc.published_at, sc.scheduled_at
    FROM flags f
    JOIN scope sc ON sc.id = f.id
    WHERE f.is_sent = 0
),
steps AS (
    SELECT d.notice_id, COUNT(*) AS steps,
        MAX(CASE WHEN d.channel = 'letter' AND (d.state IN ('due', 'claimed')
            OR (d.state = 'held' AND u.scheduled_at IS NULL)) THEN 1 ELSE 0 END) AS letter_always,
        MIN(CASE
            WHEN d.channel = 'letter' AND d.state = 'held' AND u.scheduled_at < d.due_at THEN u.scheduled_at
            WHEN d.channel = 'letter' AND d.state IN ('held', 'planned') THEN d.due_at
        END) AS letter_at,
        MAX(CASE WHEN d.state IN ('due', 'claimed') THEN 1 ELSE 0 END) AS due_always,
        MIN(CASE WHEN d.state IN ('held', 'planned') THEN d.due_at END) AS due_at
    FROM dl d
    JOIN unsent u ON u.id = d.notice_id
    WHERE d.channel <> 'portal' AND d.purpose <> 'reminder'
    GROUP BY d.notice_id
)"""

#: Every line of the messages' tallies (one part per ``UNION ALL``).
_TALLIES = f"""
INSERT INTO report_tally ({_COLUMNS})
SELECT message_id, 'notices', '', '', '', CAST(NULL AS INTEGER), CAST(NULL AS INTEGER), COUNT(*), SUM(is_sent),
    SUM(is_delivered), SUM(is_read),
    SUM(ack_asked), SUM(ack_asked * acked), SUM(slip_asked), SUM(slip_asked * answered),
    SUM(CASE WHEN alerted = 0 AND is_read = 1 THEN 1 ELSE 0 END), SUM(opened_only), 0, 0
FROM flags
GROUP BY message_id
UNION ALL
SELECT d.message_id, 'channel', d.channel, d.state, COALESCE(d.error_kind, ''), NULL, NULL, COUNT(*),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, SUM(d.cost)
FROM dl d
WHERE d.channel <> 'portal'
GROUP BY d.message_id, d.channel, d.state, d.error_kind
UNION ALL
SELECT message_id, 'first', channel, '', '', NULL, NULL, COUNT(*), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM firsts
WHERE rank = 1
GROUP BY message_id, channel
UNION ALL
SELECT d.message_id, 'failure', d.channel, '', d.reason, NULL, NULL, COUNT(*), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM dl d
WHERE d.state = 'failed'
GROUP BY d.message_id, d.channel, d.reason
UNION ALL
SELECT f.message_id, 'class', '', '', '', ig.group_id, NULL, COUNT(*), SUM(f.is_sent), 0, SUM(f.is_read),
    SUM(f.ack_asked), SUM(f.ack_asked * f.acked), SUM(f.slip_asked), SUM(f.slip_asked * f.answered), 0, 0, 0, 0
FROM in_group ig
JOIN flags f ON f.id = ig.notice_id
GROUP BY f.message_id, ig.group_id
UNION ALL
SELECT d.message_id, 'sms', '', '', '', NULL, {{quarter}}, COUNT(*), 0, 0, 0, 0, 0, 0, 0, 0, 0,
    SUM(d.segments), SUM(d.cost)
FROM dl d
WHERE d.channel = 'sms' AND d.sent_at IS NOT NULL
GROUP BY d.message_id, {{quarter}}"""


_PENDING = """
INSERT INTO report_pending (notice_id, message_id, published_at, steps, letter_always, letter_at, due_always, due_at)
SELECT u.id, u.message_id, u.published_at, COALESCE(st.steps, 0), COALESCE(st.letter_always, 0) = 1,
    st.letter_at, COALESCE(st.due_always, 0) = 1, st.due_at
FROM unsent u
LEFT JOIN steps st ON st.notice_id = u.id"""


async def refresh(school_id: int) -> int:
    """Recompute the tallies of the school's messages noted since the last refresh; how many messages."""
    async with in_transaction("default") as connection:
        sql = Sql(connection)
        pupils = {r["pupil_id"] for r in await sql.rows("DELETE FROM report_roster RETURNING pupil_id", {})}
        if pupils:  # their classes changed: every message naming them is out of date
            await sql.rows(
                f"""INSERT INTO report_dirty (message_id)
                SELECT DISTINCT n.message_id FROM notice_pupil np JOIN notice n ON n.id = np.notice_id
                WHERE {sql.ids_in("np.pupil_id", "pupils")}""",
                {"pupils": sql.ids(sorted(pupils))},
            )
        # The school's notes, and the notes of messages deleted since (nothing left to recompute for them).
        taken = await sql.rows(
            """DELETE FROM report_dirty
            WHERE message_id IN (SELECT id FROM message WHERE school_id = :school)
               OR message_id NOT IN (SELECT id FROM message)
            RETURNING message_id""",
            {"school": school_id},
        )
        messages = sorted({r["message_id"] for r in taken})  # several transactions may have noted one message
        if not messages:
            return 0
        params = {"ids": sql.ids(messages)}
        claimed = {"claimed": sql.ids_in("m.id", "ids")}
        await sql.rows(f"DELETE FROM report_tally WHERE {sql.ids_in('message_id', 'ids')}", params)
        await sql.rows(f"DELETE FROM report_pending WHERE {sql.ids_in('message_id', 'ids')}", params)
        facts = _FACTS.format(deliveries=sql.deliveries_of("sc"), **claimed)
        tallies = _TALLIES.format(quarter=sql.quarter_of("d.sent_at"))
        if sql.postgres:  # one statement: the facts computed once for both tables
            # The facts of a message stay in memory; and no JIT compilation: the estimate of the per-notice reads
            # crosses its threshold, and compiling the statement took 1.7 s of a 2.4 s refresh of 10,000 notices.
            await sql.rows("SET LOCAL work_mem = '64MB'", {})
            await sql.rows("SET LOCAL jit = off", {})
            await sql.rows(f"{facts},\npending AS ({_PENDING}\nRETURNING notice_id)\n{tallies}", params)
        else:
            await sql.rows(f"{facts}\n{tallies}", params)
            await sql.rows(f"{facts}\n{_PENDING}", params)
        return len(messages)
