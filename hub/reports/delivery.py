"""The delivery report: how the school's published messages reached families, in a fixed number of queries.

One notice is one guardian's copy of a message. Along the way a notice passes these stages (each a subset of the
one before, so the funnel never widens):

* **planned**: the notice exists.
* **sent**: a channel that alerts the guardian (email, SMS, push, Telegram, the letter) handed it over: a
  delivery SENT or DELIVERED, a printed letter included. A guardian who already read it on the portal counts.
* **delivered**: a provider confirmed the delivery, or the guardian read it. A printed letter is not: it counts
  as **letter printed** (its channel line's ``printed``), since nobody knows whether it reached the family.
* **read**: a person read it (``Notice.first_read_at``: the portal's page, an action on the personal link or its
  page's signal once displayed, an acknowledgement, an answer). A personal link only fetched (``Notice.opened_at``:
  perhaps by a mail provider's link scanner) is not read: those notices are counted apart (``opened_not_read``).

and, each out of the notices it applies to:

* **acknowledged**: out of the notices whose message asks for an acknowledgement.
* **answered**: out of the notices whose message has a reply slip. A slip answered once per pupil
  (``one_per_pupil``) is answered when every pupil the notice names has an answer, from either guardian: a
  child answered for by the other parent is answered on both parents' notices. A slip every guardian answers
  (``every_guardian``) is answered by this guardian's own answer.

A notice no channel reached yet is in one of these piles (counted in families, i.e. notices, like the composer's
pages), told apart by what its deliveries other than the inbox and the reminders are doing:

* **held**: its next delivery only waits for its time (the charter's quiet hours, the daily limit, a guardian's
  own quiet hours, a retry's wait), with the release time: it goes out on its own, nothing to do;
* **sending**: a delivery is due now (a worker takes it);
* and the families that cannot be reached without someone acting: a **letter waiting** to be printed (what the
  print queue lists: a letter held by the quiet hours is printed whenever the office works), every channel
  **failed**, or nothing **planned** at all.

The queries are plain SQL over the tables (the same text on SQLite and PostgreSQL): per-notice facts are joins
on sets the database computes once, folded into sums, so it returns a handful of rows (one per stage, channel,
class, month, pile, held message), never one per notice. Only the page of families that cannot be reached
returns notices, capped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import Tortoise

from hub.enums import Channel, DeliveryState, ErrorKind
from hub.inputs import parse_date
from hub.messaging.models import Message, NoticePupil

#: Families listed per page of "cannot be reached" (the total is always given).
UNREACHED_PAGE = 50
#: Messages listed with their held families (the latest published are the ones held).
HELD_MESSAGES = 20
#: Failure reasons shown (the most frequent first) and how much of an error text makes its group.
TOP_FAILURES = 5
ERROR_PREFIX = 160
#: The channels that alert a guardian, in the order the report lists them (the portal only waits).
ALERTING = (Channel.EMAIL, Channel.SMS, Channel.WEBPUSH, Channel.FCM, Channel.TELEGRAM, Channel.LETTER)
_CENT = Decimal("0.0001")


#: The longest period a report covers: three school years (the SMS table has one row per month).
MAX_DAYS = 3 * 366


class ReportError(ValueError):
    """A period the report cannot show. ``reason`` names what to correct: ``from`` or ``to`` (not a date),
    ``order`` (the end before the start), ``long`` (more than MAX_DAYS)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# --------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Period:
    """Local dates, both included, and the UTC instants they span in the school's time zone."""

    first: date
    last: date
    tz: str

    @property
    def start(self) -> datetime:
        return _midnight(self.first, self.tz)

    @property
    def end(self) -> datetime:
        return _midnight(self.last + timedelta(days=1), self.tz)

    def months(self) -> list[date]:
        """The first day of each local month the period touches."""
        months, day = [], self.first.replace(day=1)
        while day <= self.last:
            months.append(day)
            day = (day + timedelta(days=32)).replace(day=1)
        return months


@dataclass(frozen=True)
class Stage:
    key: str  #: planned, sent, delivered, read, acknowledged, answered
    count: int
    base: int  #: what the count is out of (planned, or the notices the stage applies to)

    @property
    def share(self) -> float:
        return self.count / self.base if self.base else 0.0


@dataclass(frozen=True)
class ChannelLine:
    channel: str
    sent: int = 0  #: handed to the provider, not confirmed (SENT)
    delivered: int = 0  #: confirmed by the provider (DELIVERED)
    printed: int = 0  #: a letter printed (DELIVERED on the letter channel): handed over, not known delivered
    failed_transient: int = 0
    failed_permanent: int = 0
    pending: int = 0  #: planned, held, due or being sent
    cancelled: int = 0  #: no longer needed (acknowledged first)
    first_reached: int = 0  #: notices this channel reached first
    cost: Decimal = Decimal(0)

    @property
    def total(self) -> int:
        return self.sent + self.delivered + self.printed + self.failed_transient + self.failed_permanent + self.pending


@dataclass(frozen=True)
class Failure:
    channel: str
    error: str
    count: int


@dataclass(frozen=True)
class ClassLine:
    group_id: int
    code: str
    guardians: int  #: notices naming a pupil of the class (one per guardian)
    reached: int
    read: int
    acknowledged: int
    ack_base: int
    answered: int
    answer_base: int


@dataclass(frozen=True)
class MonthSpend:
    month: date  #: the first day of the local month
    messages: int
    segments: int
    cost: Decimal


@dataclass(frozen=True)
class Unreached:
    notice_id: int
    message_id: int
    subject: str
    guardian_name: str
    pupils: tuple[str, ...]
    #: letter_waiting, failed_everywhere, not_planned (see :data:`UNREACHABLE`)
    reason: str


#: Why a notice reached nobody yet (the order decides: the first that applies). See the module's note.
WAITING_REASONS = ("letter_waiting", "sending", "held", "failed_everywhere", "not_planned")
#: The reasons someone has to act on: these families are listed, the held and the sending are only counted.
UNREACHABLE = ("letter_waiting", "failed_everywhere", "not_planned")


@dataclass(frozen=True)
class HeldMessage:
    """One message's families held until their time: when the first and the last of them go out."""

    message_id: int
    subject: str
    families: int
    first_release: datetime
    last_release: datetime


@dataclass(frozen=True)
class NotReached:
    """The notices no channel reached yet, in families, by why (:data:`WAITING_REASONS`)."""

    held: int = 0
    sending: int = 0
    letter_waiting: int = 0
    failed_everywhere: int = 0
    not_planned: int = 0
    #: The release time of the first held delivery (None when nothing is held).
    held_until: datetime | None = None

    @property
    def unreachable(self) -> int:
        return self.letter_waiting + self.failed_everywhere + self.not_planned

    @property
    def total(self) -> int:
        return self.held + self.sending + self.unreachable

    def as_json(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "held_until": self.held_until.isoformat() if self.held_until else None,
            "sending": self.sending,
            "unreachable": self.unreachable,
            "letter_waiting": self.letter_waiting,
            "failed_everywhere": self.failed_everywhere,
            "not_planned": self.not_planned,
        }


@dataclass(frozen=True)
class Report:
    period: Period
    message_id: int | None
    messages: int  #: messages published in the period (and matching the filter)
    funnel: list[Stage]
    channels: list[ChannelLine]
    #: Notices first reached on the portal only: read there with no other channel having sent them yet.
    portal_first: int
    failures: list[Failure]
    classes: list[ClassLine]
    sms: list[MonthSpend]
    #: The notices not reached yet by why, the held ones per message, and one page of those that cannot be
    #: reached without someone acting (``unreached``, from ``unreached_offset``, ``not_reached.unreachable`` in all).
    not_reached: NotReached
    held_messages: list[HeldMessage]
    unreached: list[Unreached]
    unreached_offset: int
    #: Notices whose personal link was fetched with no sign of a person reading (no page signal, no action): not
    #: in the funnel's "read", since a mail provider's link scanner fetches every link.
    opened_not_read: int = 0

    @property
    def unreached_total(self) -> int:
        """Every notice not reached yet (held, sending and unreachable)."""
        return self.not_reached.total

    @property
    def sms_cost(self) -> Decimal:
        return sum((m.cost for m in self.sms), Decimal(0))

    def as_json(self) -> dict[str, Any]:
        """The same figures for ``/staff/report.json``: plain numbers and strings (money as a decimal string)."""
        return {
            "period": {"from": self.period.first.isoformat(), "to": self.period.last.isoformat(), "tz": self.period.tz},
            "message_id": self.message_id,
            "messages": self.messages,
            "funnel": funnel_json(self.funnel),
            "channels": [
                {
                    "channel": c.channel,
                    "sent": c.sent,
                    "delivered": c.delivered,
                    "printed": c.printed,
                    "failed_transient": c.failed_transient,
                    "failed_permanent": c.failed_permanent,
                    "pending": c.pending,
                    "cancelled": c.cancelled,
                    "first_reached": c.first_reached,
                    "cost": str(c.cost),
                }
                for c in self.channels
            ],
            "portal_first": self.portal_first,
            "opened_not_read": self.opened_not_read,
            "failures": [{"channel": f.channel, "error": f.error, "count": f.count} for f in self.failures],
            "classes": [
                {
                    "class": c.code,
                    "guardians": c.guardians,
                    "reached": c.reached,
                    "read": c.read,
                    "acknowledged": c.acknowledged,
                    "acknowledgement_asked": c.ack_base,
                    "answered": c.answered,
                    "slip_asked": c.answer_base,
                }
                for c in self.classes
            ],
            "sms": [
                {"month": f"{m.month:%Y-%m}", "messages": m.messages, "segments": m.segments, "cost": str(m.cost)}
                for m in self.sms
            ],
            "not_reached": self.unreached_total,
            "not_reached_by_reason": self.not_reached.as_json(),
            "held_messages": [
                {
                    "message_id": h.message_id,
                    "subject": h.subject,
                    "families": h.families,
                    "first_release": h.first_release.isoformat(),
                    "last_release": h.last_release.isoformat(),
                }
                for h in self.held_messages
            ],
        }


def funnel_json(funnel: Sequence[Stage]) -> list[dict[str, Any]]:
    return [{"stage": s.key, "count": s.count, "of": s.base} for s in funnel]


# --------------------------------------------------------------------------------------------------- period


def _midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def school_year_start(today: date) -> date:
    """1 September of the school year ``today`` is in (January to August belong to last September's year)."""
    return date(today.year if today.month >= 9 else today.year - 1, 9, 1)


def period_of(first: str, last: str, *, now: datetime, tz: str) -> Period:
    """The period a form asks for (ISO dates, both included), by default from 1 September to today (local).

    Raises ReportError for a date that is not one (or outside the years 1900..2999, where the period's bounds
    moved to UTC would overflow), a period that ends before it starts or is too long."""
    today = now.astimezone(ZoneInfo(tz)).date()
    start = parse_date(first) if first.strip() else school_year_start(today)
    if start is None:
        raise ReportError("from", f"the first day is not a date (YYYY-MM-DD): {first[:40]!r}")
    end = parse_date(last) if last.strip() else today
    if end is None:
        raise ReportError("to", f"the last day is not a date (YYYY-MM-DD): {last[:40]!r}")
    if end < start:
        raise ReportError("order", f"the period ends ({end}) before it starts ({start})")
    if (end - start).days >= MAX_DAYS:
        raise ReportError("long", f"a report covers at most {MAX_DAYS} days")
    return Period(start, end, tz)


# ---------------------------------------------------------------------------------------------- the queries


class _Sql:
    """Named parameters (``:name``) for SQL written once for both databases: ``?`` on SQLite, ``$n`` on
    PostgreSQL, and times as SQLite stores them (ISO text in UTC, which sorts like time)."""

    _NAME = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

    def __init__(self) -> None:
        self.connection = Tortoise.get_connection("default")
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


_OK = "('sent', 'delivered')"

#: The notices of the report: the school's messages published in the period, maybe one message.
_SCOPE = """
scope AS (
    SELECT n.id, n.first_read_at, n.opened_at, m.needs_acknowledgement AS needs_ack, s.id AS slip_id, s.answer_mode,
        m.scheduled_at
    FROM notice n
    JOIN message m ON m.id = n.message_id
    LEFT JOIN reply_slip s ON s.message_id = m.id
    WHERE m.school_id = :school AND m.published_at >= :start AND m.published_at < :end
      AND (:message = 0 OR m.id = :message)
)"""

#: One row of 0/1 facts per notice of the scope (computed by the database, never sent back as is). Each fact is
#: a join on a set computed once (hash joins, linear in the notices), not a sub-query run per notice.
_FLAGS = f"""
WITH {_SCOPE},
reached AS (
    SELECT d.notice_id,
        MAX(CASE WHEN d.state = 'delivered' AND d.channel <> 'letter' THEN 1 ELSE 0 END) AS confirmed
    FROM delivery d
    JOIN scope sc ON sc.id = d.notice_id
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
    SELECT sc.id,
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

_FUNNEL = f"""{_FLAGS}
SELECT COUNT(*) AS planned, SUM(is_sent) AS sent, SUM(is_delivered) AS delivered, SUM(is_read) AS is_read,
    SUM(ack_asked) AS ack_asked, SUM(ack_asked * acked) AS acked,
    SUM(slip_asked) AS slip_asked, SUM(slip_asked * answered) AS answered,
    SUM(CASE WHEN alerted = 0 AND is_read = 1 THEN 1 ELSE 0 END) AS portal_first, SUM(opened_only) AS opened_only
FROM flags"""

_CLASSES = f"""{_FLAGS},
in_class AS (
    SELECT DISTINCT np.notice_id, ms.group_id
    FROM notice_pupil np
    JOIN membership ms ON ms.pupil_id = np.pupil_id
    JOIN pupil_group g ON g.id = ms.group_id AND g.kind = 'class'
    JOIN scope sc ON sc.id = np.notice_id
)
SELECT g.id AS group_id, g.code, COUNT(*) AS guardians, SUM(f.is_sent) AS reached, SUM(f.is_read) AS is_read,
    SUM(f.ack_asked) AS ack_asked, SUM(f.ack_asked * f.acked) AS acked,
    SUM(f.slip_asked) AS slip_asked, SUM(f.slip_asked * f.answered) AS answered
FROM in_class ic
JOIN flags f ON f.id = ic.notice_id
JOIN pupil_group g ON g.id = ic.group_id
GROUP BY g.id, g.code
ORDER BY g.code"""

#: Per notice not reached yet (``is_sent = 0``), why, from its deliveries other than the inbox and the reminders:
#: the first of a letter in the print queue (the rule of ``hub.messaging.paper.printable``: due, or held by the quiet
#: hours,
#: since printing is the office's to do whenever it works, unless the sender scheduled the message for later; a
#: planned step once its time came), a delivery due now, a delivery waiting for its time (``release_at``: the
#: first of them), else failed everywhere (steps, none left) or not planned (no step). A held row whose time has
#: come is due: the next worker pass takes it.
_STANDING = f"""{_FLAGS},
steps AS (
    SELECT d.notice_id,
        MAX(CASE WHEN d.channel = 'letter' AND (d.state IN ('due', 'claimed')
            OR (d.state = 'held' AND (sc.scheduled_at IS NULL OR sc.scheduled_at <= :now))
            OR (d.state IN ('held', 'planned') AND d.due_at <= :now)) THEN 1 ELSE 0 END) AS letter_now,
        MAX(CASE WHEN d.state IN ('due', 'claimed')
            OR (d.state IN ('held', 'planned') AND d.due_at <= :now) THEN 1 ELSE 0 END) AS due_now,
        MIN(CASE WHEN d.state IN ('held', 'planned') AND d.due_at > :now THEN d.due_at END) AS release_at
    FROM delivery d
    JOIN scope sc ON sc.id = d.notice_id
    JOIN flags f ON f.id = d.notice_id AND f.is_sent = 0
    WHERE d.channel <> 'portal' AND d.purpose <> 'reminder'
    GROUP BY d.notice_id
),
standing AS (
    SELECT f.id,
        CASE
            WHEN st.notice_id IS NULL THEN 'not_planned'
            WHEN st.letter_now = 1 THEN 'letter_waiting'
            WHEN st.due_now = 1 THEN 'sending'
            WHEN st.release_at IS NOT NULL THEN 'held'
            ELSE 'failed_everywhere'
        END AS reason,
        st.release_at
    FROM flags f
    LEFT JOIN steps st ON st.notice_id = f.id
    WHERE f.is_sent = 0
)"""

_NOT_REACHED = f"""{_STANDING}
SELECT reason, COUNT(*) AS n, MIN(release_at) AS first_release
FROM standing
GROUP BY reason"""

_HELD_MESSAGES = f"""{_STANDING}
SELECT n.message_id, m.subject, COUNT(*) AS n, MIN(s.release_at) AS first_release,
    MAX(s.release_at) AS last_release
FROM standing s
JOIN notice n ON n.id = s.id
JOIN message m ON m.id = n.message_id
WHERE s.reason = 'held'
GROUP BY n.message_id, m.subject
ORDER BY first_release, n.message_id
LIMIT {HELD_MESSAGES}"""

_UNREACHED = f"""{_STANDING}
SELECT n.id AS notice_id, n.message_id, m.subject, gd.first_name, gd.last_name, s.reason
FROM standing s
JOIN notice n ON n.id = s.id
JOIN message m ON m.id = n.message_id
JOIN guardian gd ON gd.id = n.guardian_id
WHERE s.reason IN ({", ".join(f"'{r}'" for r in UNREACHABLE)})
ORDER BY m.published_at, n.id
LIMIT :limit OFFSET :offset"""

_CHANNELS = f"""WITH {_SCOPE}
SELECT d.channel, d.state, d.error_kind, COUNT(*) AS n, SUM(d.cost) AS cost
FROM delivery d
JOIN scope sc ON sc.id = d.notice_id
WHERE d.channel <> 'portal'
GROUP BY d.channel, d.state, d.error_kind"""

#: The channel of each notice's earliest successful delivery (ties: the first created).
_FIRST_REACHED = f"""WITH {_SCOPE}
SELECT firsts.channel, COUNT(*) AS n
FROM (
    SELECT d.channel, ROW_NUMBER() OVER (PARTITION BY d.notice_id ORDER BY d.sent_at, d.id) AS rank
    FROM delivery d
    JOIN scope sc ON sc.id = d.notice_id
    WHERE d.channel <> 'portal' AND d.state IN {_OK}
) firsts
WHERE firsts.rank = 1
GROUP BY firsts.channel"""

_FAILURES = f"""WITH {_SCOPE}
SELECT d.channel, SUBSTR(d.error, 1, {ERROR_PREFIX}) AS reason, COUNT(*) AS n
FROM delivery d
JOIN scope sc ON sc.id = d.notice_id
WHERE d.state = 'failed'
GROUP BY d.channel, SUBSTR(d.error, 1, {ERROR_PREFIX})
ORDER BY n DESC, d.channel, reason
LIMIT {TOP_FAILURES}"""

_MESSAGES = """
SELECT COUNT(*) AS n FROM message m
WHERE m.school_id = :school AND m.published_at >= :start AND m.published_at < :end
  AND (:message = 0 OR m.id = :message)"""


def _sms_query(months: Sequence[date]) -> str:
    """SMS handed over in the period, per local month: the month of each ``sent_at`` is found by comparing it
    with the months' starts in UTC (so 23:30 UTC on 31 October is November in Brussels)."""
    cases = " ".join(f"WHEN d.sent_at < :month_{i + 1} THEN {i}" for i in range(len(months) - 1))
    month = f"CASE {cases} ELSE {len(months) - 1} END" if cases else "0"
    return f"""
SELECT {month} AS month_index, COUNT(*) AS n, SUM(d.segments) AS segments, SUM(d.cost) AS cost
FROM delivery d
JOIN notice n ON n.id = d.notice_id
JOIN message m ON m.id = n.message_id
WHERE m.school_id = :school AND (:message = 0 OR m.id = :message)
  AND d.channel = 'sms' AND d.sent_at IS NOT NULL AND d.sent_at >= :start AND d.sent_at < :end
GROUP BY month_index
ORDER BY month_index"""


def _money(value: Any) -> Decimal:
    """A SUM of costs: exact on PostgreSQL, a float over the stored text on SQLite (rounded back to 1/100 cent)."""
    return Decimal(str(value or 0)).quantize(_CENT)


def _int(value: Any) -> int:
    return int(value or 0)


# ------------------------------------------------------------------------------------------------ the report


async def delivery_report(
    school_id: int,
    period: Period,
    *,
    now: datetime,
    message_id: int | None = None,
    offset: int = 0,
    limit: int = UNREACHED_PAGE,
) -> Report:
    """Every figure of the report for one school over ``period`` (optionally one message), in eleven queries at most."""
    sql = _Sql()
    params = _params(school_id, period, message_id, now=now, offset=offset, limit=limit)
    (messages,) = await sql.rows(_MESSAGES, params)
    (totals,) = await sql.rows(_FUNNEL, params)
    funnel = _funnel(totals)
    channels = await _channels(sql, params)
    failures = [
        Failure(str(r["channel"]), str(r["reason"] or ""), _int(r["n"])) for r in await sql.rows(_FAILURES, params)
    ]
    classes = [
        ClassLine(
            group_id=r["group_id"],
            code=r["code"],
            guardians=_int(r["guardians"]),
            reached=_int(r["reached"]),
            read=_int(r["is_read"]),
            acknowledged=_int(r["acked"]),
            ack_base=_int(r["ack_asked"]),
            answered=_int(r["answered"]),
            answer_base=_int(r["slip_asked"]),
        )
        for r in await sql.rows(_CLASSES, params)
    ]
    sms = await _sms(sql, params, period)
    not_reached, held_messages, unreached = NotReached(), [], []
    if funnel[0].count > funnel[1].count:
        not_reached = await _not_reached(sql, params)
        if not_reached.held:
            held_messages = await _held_messages(sql, params)
        if not_reached.unreachable:
            unreached = await _unreached(sql, params)
    return Report(
        period=period,
        message_id=message_id,
        messages=_int(messages["n"]),
        funnel=funnel,
        channels=channels,
        portal_first=_int(totals["portal_first"]),
        failures=failures,
        classes=classes,
        sms=sms,
        not_reached=not_reached,
        held_messages=held_messages,
        unreached=unreached,
        unreached_offset=params["offset"],
        opened_not_read=_int(totals["opened_only"]),
    )


async def delivery_funnel(school_id: int, period: Period, *, message_id: int | None = None) -> list[Stage]:
    """The funnel alone, in one query: what the report page refreshes while it is open."""
    (totals,) = await _Sql().rows(_FUNNEL, _params(school_id, period, message_id, now=None))
    return _funnel(totals)


def _params(
    school_id: int,
    period: Period,
    message_id: int | None,
    *,
    now: datetime | None,
    offset: int = 0,
    limit: int = UNREACHED_PAGE,
) -> dict[str, Any]:
    params = {
        "school": school_id,
        "start": period.start,
        "end": period.end,
        "message": message_id or 0,
        "limit": limit,
        "offset": max(0, offset),
    }
    if now is not None:
        params["now"] = now
    return params


def _funnel(row: Mapping[str, Any]) -> list[Stage]:
    planned = _int(row["planned"])
    return [
        Stage("planned", planned, planned),
        Stage("sent", _int(row["sent"]), planned),
        Stage("delivered", _int(row["delivered"]), planned),
        Stage("read", _int(row["is_read"]), planned),
        Stage("acknowledged", _int(row["acked"]), _int(row["ack_asked"])),
        Stage("answered", _int(row["answered"]), _int(row["slip_asked"])),
    ]


_PENDING_STATES = {DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE, DeliveryState.CLAIMED}


async def _channels(sql: _Sql, params: Mapping[str, Any]) -> list[ChannelLine]:
    counts: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for r in await sql.rows(_CHANNELS, params):
        line, state, n = counts[str(r["channel"])], DeliveryState(r["state"]), _int(r["n"])
        line["cost"] = line["cost"] + _money(r["cost"])
        if state is DeliveryState.FAILED:
            permanent = r["error_kind"] == ErrorKind.PERMANENT
            line["failed_permanent" if permanent else "failed_transient"] += n
        elif state in _PENDING_STATES:
            line["pending"] += n
        elif state is DeliveryState.DELIVERED and r["channel"] == Channel.LETTER:
            line["printed"] += n
        else:  # sent, delivered, cancelled
            line[state.value] += n
    for r in await sql.rows(_FIRST_REACHED, params):
        counts[str(r["channel"])]["first_reached"] += _int(r["n"])
    return [ChannelLine(channel=c.value, **counts[c.value]) for c in ALERTING if c.value in counts]


async def _sms(sql: _Sql, params: Mapping[str, Any], period: Period) -> list[MonthSpend]:
    months = period.months()
    bounds = {f"month_{i}": _midnight(m, period.tz) for i, m in enumerate(months) if i}
    spend = {_int(r["month_index"]): r for r in await sql.rows(_sms_query(months), {**params, **bounds})}
    return [
        MonthSpend(
            month=month,
            messages=_int(spend[i]["n"]) if i in spend else 0,
            segments=_int(spend[i]["segments"]) if i in spend else 0,
            cost=_money(spend[i]["cost"]) if i in spend else Decimal(0).quantize(_CENT),
        )
        for i, month in enumerate(months)
    ]


def _instant(value: Any) -> datetime | None:
    """A time the SQL returns: a datetime on PostgreSQL, the stored ISO text on SQLite (UTC either way)."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if value is not None else None
    found = datetime.fromisoformat(str(value))
    return (found if found.tzinfo else found.replace(tzinfo=UTC)).astimezone(UTC)


async def _not_reached(sql: _Sql, params: Mapping[str, Any]) -> NotReached:
    rows = {str(r["reason"]): r for r in await sql.rows(_NOT_REACHED, params)}
    held = rows.get("held")
    count = {reason: _int(rows[reason]["n"]) if reason in rows else 0 for reason in WAITING_REASONS}
    return NotReached(
        held=count["held"],
        sending=count["sending"],
        letter_waiting=count["letter_waiting"],
        failed_everywhere=count["failed_everywhere"],
        not_planned=count["not_planned"],
        held_until=_instant(held["first_release"]) if held else None,
    )


async def _held_messages(sql: _Sql, params: Mapping[str, Any]) -> list[HeldMessage]:
    found = []
    for r in await sql.rows(_HELD_MESSAGES, params):
        first, last = _instant(r["first_release"]), _instant(r["last_release"])
        assert first is not None and last is not None  # held rows have a release time
        found.append(HeldMessage(int(r["message_id"]), str(r["subject"]), _int(r["n"]), first, last))
    return found


async def _unreached(sql: _Sql, params: Mapping[str, Any]) -> list[Unreached]:
    """One page of the notices that cannot be reached without someone acting, each with why."""
    rows = await sql.rows(_UNREACHED, params)
    ids = [r["notice_id"] for r in rows]
    pupils: dict[int, list[str]] = defaultdict(list)
    for notice_id, first, last in (
        await NoticePupil.filter(notice_id__in=ids)
        .order_by("pupil__first_name", "pupil__last_name")
        .values_list("notice_id", "pupil__first_name", "pupil__last_name")
    ):
        pupils[notice_id].append(f"{first} {last}")
    return [
        Unreached(
            notice_id=r["notice_id"],
            message_id=r["message_id"],
            subject=r["subject"],
            guardian_name=f"{r['first_name']} {r['last_name']}",
            pupils=tuple(pupils[r["notice_id"]]),
            reason=str(r["reason"]),
        )
        for r in rows
    ]


async def published_messages(school_id: int, period: Period, limit: int = 200) -> list[tuple[int, str]]:
    """The messages a report may be narrowed to: ``(id, subject)``, latest first."""
    rows = (
        await Message.filter(school_id=school_id, published_at__gte=period.start, published_at__lt=period.end)
        .order_by("-published_at", "-id")
        .limit(limit)
        .values_list("id", "subject")
    )
    return [(int(i), str(s)) for i, s in rows]
