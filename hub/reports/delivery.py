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

The figures are read from per-message tallies (:mod:`hub.reports.models`), sums of each notice's lines: the
database's triggers mark a notice out of date as its deliveries move, and :mod:`hub.reports.tally` recomputes, with
these same rules, the lines of the notices that changed since the last report and moves the tallies by the
difference; only what depends on the time (held or due now) is decided when reading, from one row per notice not
reached yet. So a report costs the notices that changed plus a fixed number of queries that
return a handful of rows (one per stage, channel, class, month, pile, held message), never one per notice, and
whatever the number of deliveries. Only the page of families that cannot be reached returns notices, capped, by
keyset (the page after or before a notice) so that the 40th page costs what the first does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from charter import Charter, default_charter, rules
from hub.enums import Channel, DeliveryState, ErrorKind
from hub.inputs import parse_date
from hub.messaging.models import Message
from hub.reports import tally
from hub.reports.tally import QUARTER, Sql

#: Families listed per page of "cannot be reached" (the total is always given).
UNREACHED_PAGE = 50
#: Messages listed with their held families (the latest published are the ones held).
HELD_MESSAGES = 20
#: Failure reasons shown (the most frequent first) and how much of an error text makes its group.
TOP_FAILURES = 5
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


def period_of(first: str, last: str, *, now: datetime, tz: str, charter: Charter | None = None) -> Period:
    """The period a form asks for (ISO dates, both included), by default from the school year's first day (the
    charter's calendar: :func:`charter.rules.school_year_start`) to today (local).

    Raises ReportError for a date that is not one (or outside the years 1900..2999, where the period's bounds
    moved to UTC would overflow), a period that ends before it starts or is too long."""
    today = now.astimezone(ZoneInfo(tz)).date()
    start = parse_date(first) if first.strip() else rules.school_year_start(charter or default_charter(), today)
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


_REASON = """CASE
    WHEN p.steps = 0 THEN 'not_planned'
    WHEN p.letter_always OR p.letter_at <= :now THEN 'letter_waiting'
    WHEN p.due_always OR p.due_at <= :now THEN 'sending'
    WHEN p.due_at IS NOT NULL THEN 'held'
    ELSE 'failed_everywhere'
END"""
"""Why a notice not reached yet is not, at ``:now``, from its ``report_pending`` row (see ``steps`` in ``_FACTS`` of
:mod:`hub.reports.tally`): the first of a letter for the print queue, a delivery due now, one waiting for its time
(the first of them is ``due_at``), else failed everywhere (steps, none left) or not planned (no step)."""

#: The messages of the report: the school's, published in the period, maybe one.
_IN_SCOPE = """m.school_id = :school AND (:message = 0 OR m.id = :message)
    AND m.published_at >= :start AND m.published_at < :end"""

_FIGURES_COLUMNS = (
    "n, sent, delivered, is_read, ack_asked, acked, slip_asked, answered, portal_first, opened_only, segments, cost"
)
_SUMS = ", ".join(f"SUM(t.{c}) AS {c}" for c in _FIGURES_COLUMNS.split(", "))
_NONE = "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0"


def _figures_query(months: int, *, funnel_only: bool = False) -> str:
    """Every figure but the pages of families, in one statement of a few hundred rows at most: the tallies of
    the messages in scope summed by line (the SMS by local month: ``:month_i`` is the quarter its ``i``-th month
    starts), the messages published, the families not reached by why, the most frequent failures. Sorted by part,
    then class code, then the failures' count (the most frequent first)."""
    cases = " ".join(f"WHEN t.bucket < :month_{i} THEN {i - 1}" for i in range(1, months))
    month = f"CASE WHEN t.part = 'sms' THEN {f'CASE {cases} ELSE {months - 1} END' if cases else '0'} END"
    if funnel_only:
        return f"""
SELECT t.part, {_SUMS}
FROM report_tally t
JOIN message m ON m.id = t.message_id
WHERE t.part = 'notices' AND {_IN_SCOPE}
GROUP BY t.part"""
    return f"""
SELECT t.part, t.channel, t.state, t.label, t.group_id, g.code, {month} AS month_index, {_SUMS},
    CAST(NULL AS TIMESTAMPTZ) AS at
FROM report_tally t
JOIN message m ON m.id = t.message_id
LEFT JOIN pupil_group g ON g.id = t.group_id
WHERE m.school_id = :school AND (:message = 0 OR m.id = :message) AND t.part <> 'failure'
  AND ((t.part = 'sms' AND t.bucket >= :quarter_start AND t.bucket < :quarter_end)
    OR (t.part <> 'sms' AND m.published_at >= :start AND m.published_at < :end
        AND (t.part <> 'class' OR g.kind = 'class')))
GROUP BY 1, 2, 3, 4, 5, 6, 7
UNION ALL
SELECT 'messages', '', '', '', NULL, NULL, NULL, COUNT(*), {_NONE}, NULL
FROM message m
WHERE {_IN_SCOPE}
UNION ALL
SELECT 'reason', '', '', reason, NULL, NULL, NULL, COUNT(*), {_NONE}, MIN(CASE WHEN reason = 'held' THEN due_at END)
FROM (
    SELECT {_REASON} AS reason, p.due_at
    FROM report_pending p
    JOIN message m ON m.id = p.message_id
    WHERE {_IN_SCOPE}
) standing
GROUP BY reason
UNION ALL
SELECT * FROM (
    SELECT 'failure', t.channel, '', t.label, CAST(NULL AS INTEGER), '', CAST(NULL AS INTEGER), SUM(t.n) AS n,
        {_NONE}, CAST(NULL AS TIMESTAMPTZ)
    FROM report_tally t
    JOIN message m ON m.id = t.message_id
    WHERE t.part = 'failure' AND {_IN_SCOPE}
    GROUP BY t.channel, t.label
    ORDER BY n DESC, t.channel, t.label
    LIMIT {TOP_FAILURES}
) top_failures
ORDER BY 1, 6, 8 DESC, 2, 4"""


_HELD_MESSAGES = f"""
SELECT p.message_id, m.subject, COUNT(*) AS n, MIN(p.due_at) AS first_release, MAX(p.due_at) AS last_release
FROM report_pending p
JOIN message m ON m.id = p.message_id
WHERE {_IN_SCOPE} AND {_REASON} = 'held'
GROUP BY p.message_id, m.subject
ORDER BY first_release, p.message_id
LIMIT {HELD_MESSAGES}"""


def _unreached_query(direction: str) -> str:
    """One page of the families that cannot be reached without someone acting, in the order the messages were
    published (then the notices'), from an index of ``report_pending``. ``after`` / ``before``: the page after or
    before a notice (keyset: the same cost for the 40th page as for the first); ``offset``: a page by its
    position (a typed address: the database counts the families before it)."""
    # A range of the index, read from the key: the key's time as a sub-query the database runs once, first.
    key = (
        "(p.published_at, p.notice_id) {op} ((SELECT km.published_at FROM notice kn "
        "JOIN message km ON km.id = kn.message_id WHERE kn.id = :key), :key)"
    )
    keyset = {
        "after": (f"AND {key.format(op='>')}", "ASC", ""),
        "before": (f"AND {key.format(op='<')}", "DESC", ""),
        "offset": ("", "ASC", " OFFSET :offset"),
    }
    where, order, offset = keyset[direction]
    return f"""
SELECT p.notice_id, p.message_id, m.subject, gd.first_name, gd.last_name, {_REASON} AS reason
FROM report_pending p
JOIN message m ON m.id = p.message_id
JOIN notice n ON n.id = p.notice_id
JOIN guardian gd ON gd.id = n.guardian_id
WHERE {_IN_SCOPE} AND {_REASON} IN ({", ".join(f"'{r}'" for r in UNREACHABLE)}) {where}
ORDER BY p.published_at {order}, p.notice_id {order}
LIMIT :limit{offset}"""


def _money(value: Any) -> Decimal:
    """A SUM of costs: exact on PostgreSQL, a float over the stored text on SQLite (rounded back to 1/100 cent)."""
    return Decimal(str(value or 0)).quantize(_CENT)


def _int(value: Any) -> int:
    return int(value or 0)


def _quarter(at: datetime) -> int:
    """The first quarter of an hour (since 1970, UTC) at or after ``at``: an SMS line is in a period from ``at``
    when its quarter is this one or later (exact, since a period starts at a midnight, which is a quarter)."""
    return -(-int(at.timestamp()) // QUARTER)


# ------------------------------------------------------------------------------------------------ the report


async def delivery_report(
    school_id: int,
    period: Period,
    *,
    now: datetime,
    message_id: int | None = None,
    offset: int = 0,
    limit: int = UNREACHED_PAGE,
    after: int | None = None,
    before: int | None = None,
) -> Report:
    """Every figure of the report for one school over ``period`` (optionally one message).

    The page of families that cannot be reached is the one after the notice ``after`` or before the notice
    ``before`` (the page's links: the same queries whatever the page), else the one at ``offset`` (an address
    typed by hand); ``offset`` numbers the page either way. The tallies are first brought up to date with the
    notices that changed since the last report (:func:`hub.reports.tally.refresh`); then a fixed number of queries."""
    await tally.refresh(school_id)
    sql = Sql()
    params = _params(school_id, period, message_id, now=now, offset=offset, limit=limit)
    months = period.months()
    params.update({f"month_{i}": _quarter(_midnight(m, period.tz)) for i, m in enumerate(months) if i})
    params.update(quarter_start=_quarter(period.start), quarter_end=_quarter(period.end))
    lines = await sql.rows(_figures_query(len(months)), params)
    by_part: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_part[str(line["part"])].append(line)
    totals = by_part["notices"][0] if by_part["notices"] else {}
    funnel = _funnel(totals)
    classes = [
        ClassLine(
            group_id=r["group_id"],
            code=r["code"],
            guardians=_int(r["n"]),
            reached=_int(r["sent"]),
            read=_int(r["is_read"]),
            acknowledged=_int(r["acked"]),
            ack_base=_int(r["ack_asked"]),
            answered=_int(r["answered"]),
            answer_base=_int(r["slip_asked"]),
        )
        for r in by_part["class"]  # in the order of their codes (the database's collation)
    ]
    failures = [
        Failure(str(r["channel"]), str(r["label"] or ""), _int(r["n"]))
        for r in by_part["failure"]  # the most frequent first
    ]
    not_reached, held_messages, unreached = _not_reached(by_part["reason"]), [], []
    if not_reached.held:
        held_messages = await _held_messages(sql, params)
    if not_reached.unreachable:
        unreached = await _unreached(sql, params, after=after, before=before)
    return Report(
        period=period,
        message_id=message_id,
        messages=_int(by_part["messages"][0]["n"]),
        funnel=funnel,
        channels=_channels(by_part["channel"], by_part["first"]),
        portal_first=_int(totals.get("portal_first")),
        failures=failures,
        classes=classes,
        sms=_sms(by_part["sms"], months),
        not_reached=not_reached,
        held_messages=held_messages,
        unreached=unreached,
        unreached_offset=params["offset"],
        opened_not_read=_int(totals.get("opened_only")),
    )


async def delivery_funnel(school_id: int, period: Period, *, message_id: int | None = None) -> list[Stage]:
    """The funnel alone: what the report page refreshes while it is open."""
    await tally.refresh(school_id)
    rows = await Sql().rows(_figures_query(1, funnel_only=True), _params(school_id, period, message_id, now=None))
    return _funnel(rows[0] if rows else {})


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
    planned = _int(row.get("n"))
    return [
        Stage("planned", planned, planned),
        Stage("sent", _int(row.get("sent")), planned),
        Stage("delivered", _int(row.get("delivered")), planned),
        Stage("read", _int(row.get("is_read")), planned),
        Stage("acknowledged", _int(row.get("acked")), _int(row.get("ack_asked"))),
        Stage("answered", _int(row.get("answered")), _int(row.get("slip_asked"))),
    ]


_PENDING_STATES = {DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE, DeliveryState.CLAIMED}


def _channels(states: Sequence[Mapping[str, Any]], firsts: Sequence[Mapping[str, Any]]) -> list[ChannelLine]:
    counts: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for r in states:
        line, state, n = counts[str(r["channel"])], DeliveryState(r["state"]), _int(r["n"])
        line["cost"] = line["cost"] + _money(r["cost"])
        if state is DeliveryState.FAILED:
            permanent = r["label"] == ErrorKind.PERMANENT
            line["failed_permanent" if permanent else "failed_transient"] += n
        elif state in _PENDING_STATES:
            line["pending"] += n
        elif state is DeliveryState.DELIVERED and r["channel"] == Channel.LETTER:
            line["printed"] += n
        else:  # sent, delivered, cancelled
            line[state.value] += n
    for r in firsts:
        counts[str(r["channel"])]["first_reached"] += _int(r["n"])
    return [ChannelLine(channel=c.value, **counts[c.value]) for c in ALERTING if c.value in counts]


def _sms(rows: Sequence[Mapping[str, Any]], months: Sequence[date]) -> list[MonthSpend]:
    spend = {_int(r["month_index"]): r for r in rows}
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


def _not_reached(lines: Sequence[Mapping[str, Any]]) -> NotReached:
    rows = {str(r["label"]): r for r in lines}
    held = rows.get("held")
    count = {reason: _int(rows[reason]["n"]) if reason in rows else 0 for reason in WAITING_REASONS}
    return NotReached(
        held=count["held"],
        sending=count["sending"],
        letter_waiting=count["letter_waiting"],
        failed_everywhere=count["failed_everywhere"],
        not_planned=count["not_planned"],
        held_until=_instant(held["at"]) if held else None,
    )


async def _held_messages(sql: Sql, params: Mapping[str, Any]) -> list[HeldMessage]:
    found = []
    for r in await sql.rows(_HELD_MESSAGES, params):
        first, last = _instant(r["first_release"]), _instant(r["last_release"])
        assert first is not None and last is not None  # held rows have a release time
        found.append(HeldMessage(int(r["message_id"]), str(r["subject"]), _int(r["n"]), first, last))
    return found


async def _unreached(sql: Sql, params: Mapping[str, Any], *, after: int | None, before: int | None) -> list[Unreached]:
    """One page of the notices that cannot be reached without someone acting, each with why."""
    if after is not None:
        rows = await sql.rows(_unreached_query("after"), {**params, "key": after})
    elif before is not None:
        rows = list(reversed(await sql.rows(_unreached_query("before"), {**params, "key": before})))
    else:
        rows = await sql.rows(_unreached_query("offset"), params)
    pupils: dict[int, list[str]] = defaultdict(list)
    if rows:
        found = await sql.rows(
            f"""SELECT np.notice_id, p.first_name, p.last_name
            FROM notice_pupil np JOIN pupil p ON p.id = np.pupil_id
            WHERE {sql.ids_in("np.notice_id", "ids")}
            ORDER BY p.first_name, p.last_name""",
            {"ids": sql.ids([r["notice_id"] for r in rows])},
        )
        for r in found:
            pupils[r["notice_id"]].append(f"{r['first_name']} {r['last_name']}")
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
