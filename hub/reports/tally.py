"""The delivery report's tallies (:mod:`hub.reports.models`): taking away what the notices that changed counted,
adding what they count now.

A message's tally is a sum over its notices (the funnel counts notices; a channel, failure or SMS line the
deliveries of its notices; a class line the notices naming a pupil of the group; the first channel one per notice),
so each notice keeps its own part of it, its lines (``report_notice_line``). The database's triggers note in
``report_dirty`` the notice whose rows changed (or a whole message: its slip, its acknowledgement, its times, its
publish), and in ``report_roster`` a pupil whose classes changed (the notices naming them are noted here).
:func:`refresh` takes those notes (the ones committed when it starts: a transaction still running keeps its note,
taken by the next reading once its changes are committed) and, in the same transaction, computes the new lines of
the notices noted with the report's own rules, takes their old lines away from the tally and adds the new ones (an
upsert on the line's key), drops the lines left at zero, and replaces their ``report_pending`` rows. A whole
message's tally is rewritten from all its notices. So a report costs the notices that changed since the last one,
not the size of their messages. A failure rolls the whole back: the notes stay, nothing is half-written. Two
reports of a school take turns (a lock of the transaction, on PostgreSQL; SQLite has one writer): each subtracts
lines the other may not have written yet otherwise. Writers never wait on a report.

Each query is written once for both databases (named parameters, see :class:`Sql`); a set of ids goes as one
argument (an array on PostgreSQL, a JSON list on SQLite), never one argument per id.
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

#: The notices being recomputed (``{claimed}``: the notice is one of them, or its message one recomputed whole).
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

#: A tally line's key, then its figures.
_KEY = "message_id, part, channel, state, label, group_id, bucket"
_FIGURES = (
    "n, sent, delivered, is_read, ack_asked, acked, slip_asked, answered, portal_first, opened_only, segments, cost"
)
_COLUMNS = f"{_KEY}, {_FIGURES}"

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
    SELECT d.notice_id, d.message_id, d.channel,
        ROW_NUMBER() OVER (PARTITION BY d.notice_id ORDER BY d.sent_at, d.id) AS rank
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

#: Every line of the notices being recomputed, each notice's own (one part per ``UNION ALL``): ``notice_id``, then
#: a tally line's columns. Keys hold no NULL (0: no group, no quarter; '': no label), so that they match.
_LINES = """
SELECT id AS notice_id, message_id, 'notices' AS part, '' AS channel, '' AS state, '' AS label, 0 AS group_id,
    0 AS bucket, 1 AS n, is_sent AS sent, is_delivered AS delivered, is_read, ack_asked, ack_asked * acked AS acked,
    slip_asked, slip_asked * answered AS answered, CASE WHEN alerted = 0 AND is_read = 1 THEN 1 ELSE 0 END
    AS portal_first, opened_only, 0 AS segments, CAST(0 AS NUMERIC) AS cost
FROM flags
UNION ALL
SELECT d.notice_id, d.message_id, 'channel', d.channel, d.state, COALESCE(d.error_kind, ''), 0, 0, COUNT(*),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, SUM(d.cost)
FROM dl d
WHERE d.channel <> 'portal'
GROUP BY d.notice_id, d.message_id, d.channel, d.state, d.error_kind
UNION ALL
SELECT notice_id, message_id, 'first', channel, '', '', 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM firsts
WHERE rank = 1
UNION ALL
SELECT d.notice_id, d.message_id, 'failure', d.channel, '', COALESCE(d.reason, ''), 0, 0, COUNT(*),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM dl d
WHERE d.state = 'failed'
GROUP BY d.notice_id, d.message_id, d.channel, d.reason
UNION ALL
SELECT f.id, f.message_id, 'class', '', '', '', ig.group_id, 0, 1, f.is_sent, 0, f.is_read,
    f.ack_asked, f.ack_asked * f.acked, f.slip_asked, f.slip_asked * f.answered, 0, 0, 0, 0
FROM in_group ig
JOIN flags f ON f.id = ig.notice_id
UNION ALL
SELECT d.notice_id, d.message_id, 'sms', '', '', '', 0, {quarter}, COUNT(*), 0, 0, 0, 0, 0, 0, 0, 0, 0,
    SUM(d.segments), SUM(d.cost)
FROM dl d
WHERE d.channel = 'sms' AND d.sent_at IS NOT NULL
GROUP BY d.notice_id, d.message_id, {quarter}"""

#: Lines added to the tally (``{lines}``: rows of its columns, one per key; negative figures take away): an upsert.
_UPSERT = f"""
INSERT INTO report_tally ({_COLUMNS})
SELECT * FROM ({{lines}}) moved WHERE true
ON CONFLICT ({_KEY}) DO UPDATE SET {", ".join(f"{c} = report_tally.{c} + excluded.{c}" for c in _FIGURES.split(", "))}
RETURNING message_id"""


def _summed(source: str, where: str, sign: str = "") -> str:
    """The lines of ``source`` (rows of a tally line's columns) summed by key, times ``sign``."""
    sums = ", ".join(f"{sign}SUM({c})" for c in _FIGURES.split(", "))
    return f"SELECT {_KEY}, {sums} FROM {source} WHERE {where} GROUP BY {_KEY}"


_PENDING = """
INSERT INTO report_pending (notice_id, message_id, published_at, steps, letter_always, letter_at, due_always, due_at)
SELECT u.id, u.message_id, u.published_at, COALESCE(st.steps, 0) AS steps,
    COALESCE(st.letter_always, 0) = 1 AS letter_always, st.letter_at, COALESCE(st.due_always, 0) = 1 AS due_always,
    st.due_at
FROM unsent u
LEFT JOIN steps st ON st.notice_id = u.id"""


#: The lock two reports of one school take in turn (PostgreSQL; with the school's id).
_LOCK = 7_101_617


async def refresh(school_id: int) -> int:
    """Bring the school's tallies up to date with the notes taken since the last refresh; how many notices and
    whole messages were recomputed."""
    async with in_transaction("default") as connection:
        sql = Sql(connection)
        if sql.postgres:
            await sql.rows("SELECT pg_advisory_xact_lock(:lock, :school)", {"lock": _LOCK, "school": school_id})
        pupils = {r["pupil_id"] for r in await sql.rows("DELETE FROM report_roster RETURNING pupil_id", {})}
        if pupils:  # their classes changed: the notices naming them are out of date
            await sql.rows(
                f"""INSERT INTO report_dirty (message_id, notice_id)
                SELECT DISTINCT n.message_id, n.id FROM notice_pupil np JOIN notice n ON n.id = np.notice_id
                WHERE {sql.ids_in("np.pupil_id", "pupils")}""",
                {"pupils": sql.ids(sorted(pupils))},
            )
        # The school's notes, and the notes of messages deleted since (nothing left to recompute for them).
        taken = await sql.rows(
            """DELETE FROM report_dirty
            WHERE message_id IN (SELECT id FROM message WHERE school_id = :school)
               OR message_id NOT IN (SELECT id FROM message)
            RETURNING message_id, notice_id""",
            {"school": school_id},
        )
        if taken:  # the lines of the messages deleted since (their notices' deletion noted them)
            await sql.rows(
                f"""DELETE FROM report_notice_line WHERE {sql.ids_in("message_id", "noted")}
                AND message_id NOT IN (SELECT id FROM message)""",
                {"noted": sql.ids(sorted({r["message_id"] for r in taken}))},
            )
        whole = sorted({r["message_id"] for r in taken if r["notice_id"] is None})
        done = set(whole)  # a notice of a message recomputed whole is recomputed with it
        notices = sorted({r["notice_id"] for r in taken if r["notice_id"] is not None and r["message_id"] not in done})
        if not whole and not notices:
            return 0
        params = {"whole": sql.ids(whole), "notices": sql.ids(notices)}
        in_whole = f"({sql.ids_in('message_id', 'whole')})"
        lines_of = f"({in_whole} OR {sql.ids_in('notice_id', 'notices')})"
        claimed = f"({sql.ids_in('n.message_id', 'whole')} OR {sql.ids_in('n.id', 'notices')})"
        facts = _FACTS.format(deliveries=sql.deliveries_of("sc"), claimed=claimed)
        lines = _LINES.format(quarter=sql.quarter_of("d.sent_at"))
        if whole:  # rewritten from all their notices
            await sql.rows(f"DELETE FROM report_tally WHERE {in_whole}", params)
        await sql.rows(f"DELETE FROM report_pending WHERE {lines_of}", params)
        touched: set[int] = set()
        if sql.postgres:  # one statement: the facts computed once, the old lines and the new summed together
            # The facts stay in memory; and no JIT compilation: the estimate of the per-notice reads crosses its
            # threshold, and compiling the statement took 1.7 s of a 2.4 s refresh of 10,000 notices.
            await sql.rows("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)", {})
            old_figures = ", ".join(f"-{c}" for c in _FIGURES.split(", "))
            moved = (
                f"SELECT {_KEY}, {', '.join(f'SUM({c})' for c in _FIGURES.split(', '))} FROM ("
                f"SELECT {_COLUMNS} FROM added UNION ALL "
                f"SELECT {_KEY}, {old_figures} FROM old WHERE NOT {in_whole}) both_ GROUP BY {_KEY} "
                f"HAVING {' OR '.join(f'SUM({c}) <> 0' for c in _FIGURES.split(', '))}"
            )
            found = await sql.rows(
                f"""{facts},
                old AS (DELETE FROM report_notice_line WHERE {lines_of} RETURNING {_COLUMNS}),
                added AS (INSERT INTO report_notice_line (notice_id, {_COLUMNS}) {lines} RETURNING {_COLUMNS}),
                pending AS ({_PENDING} RETURNING notice_id)
                {_UPSERT.format(lines=moved)}""",
                params,
            )
            touched.update(r["message_id"] for r in found)
        else:  # the old lines taken away, then the new ones written and added
            if notices:
                old = _summed("report_notice_line", f"{sql.ids_in('notice_id', 'notices')} AND NOT {in_whole}", "-")
                touched.update(r["message_id"] for r in await sql.rows(_UPSERT.format(lines=old), params))
            await sql.rows(f"DELETE FROM report_notice_line WHERE {lines_of}", params)
            await sql.rows(f"{facts}\nINSERT INTO report_notice_line (notice_id, {_COLUMNS}) {lines}", params)
            new = _UPSERT.format(lines=_summed("report_notice_line", lines_of))
            touched.update(r["message_id"] for r in await sql.rows(new, params))
            await sql.rows(f"{facts}\n{_PENDING}", params)
        if touched:  # the lines no notice counts any more
            await sql.rows(
                f"DELETE FROM report_tally WHERE n = 0 AND {sql.ids_in('message_id', 'touched')}",
                {"touched": sql.ids(sorted(touched))},
            )
        return len(whole) + len(notices)
