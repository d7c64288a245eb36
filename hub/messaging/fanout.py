"""The publish's reads and writes at the size of a school, in chunks of guardians: memory and the size of every
statement stay the same whatever the audience (``planning.publish`` decides, this module loads and stores).

The audience is a subquery (the message's terms: the whole school, groups with their sub-groups, named pupils),
never a list of pupil ids; the guardians are taken in order of id and each chunk is read with ``BETWEEN`` bounds
and that subquery, so a statement's arguments are fixed. A chunk is read in two statements (the links; the
guardians with their contacts, consents, preferences and stops aggregated per guardian) and written in three (the
notices, returning their ids, so nothing is read back; their pupils; the deliveries), plus the day's load for a
normal message. Rows are written column-wise, one argument per column whatever the number of rows (``unnest`` of
arrays on PostgreSQL, ``json_each`` of one JSON document on SQLite): their values are built here from checked values
(enums, ids read from the database, the rules' results), so the ORM's validation of every field of every row is not
needed, and the driver binds a few arguments instead of every field of every row.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from charter import Charter
from hub.enums import (
    AudienceKind,
    Channel,
    ConsentPurpose,
    ContactKind,
    DeliveryPurpose,
    DeliveryState,
    GroupKind,
    Language,
    Urgency,
)
from hub.messaging import routing
from hub.messaging.models import Message, MessageAudience
from hub.people.models import Group
from hub.people.optouts import stop_of
from hub.people.preferences import QuietHours
from hub.store import sql

__all__ = ["CHUNK", "Audience", "Chunk", "DeliveryRow", "audience_of", "insert_deliveries", "load_chunk"]

#: Guardians read and written at a time: large enough that a statement's round trip is paid for thousands of rows,
#: small enough that a chunk's rows (a few kilobytes per guardian) stay a few megabytes.
CHUNK = 2000


class _Params:
    """Numbers the placeholders of a statement as its arguments are added (``$1``, ``$2``...)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


#: The PostgreSQL array type of each kind of column :func:`_insert_rows` writes.
_PG_ARRAYS = {
    "int": "int8[]",
    "text": "text[]",
    "time": "timestamptz[]",
    "json": "jsonb[]",
    "bool": "bool[]",
    "num": "numeric[]",
}


def _sqlite_time(value: datetime | None) -> str | None:
    """A datetime as the ORM stores it on SQLite (UTC, ISO with a space), so that text comparisons hold."""
    return None if value is None else value.astimezone(UTC).isoformat(" ")


async def _insert_rows(
    table: str,
    columns: Sequence[tuple[str, str]],
    values: Sequence[Sequence[Any]],
    constants: Mapping[str, tuple[str, Any]] = {},
    *,
    returning: str = "",
) -> list[dict[str, Any]]:
    """One ``INSERT ... SELECT`` of many rows given column-wise: ``values[i]`` holds column ``columns[i]`` (name,
    kind: int, text, time, json, bool) of every row; ``constants`` are columns with one value for every row. The
    statement's arguments are one per column, whatever the number of rows: arrays ``unnest``-ed on PostgreSQL, one
    JSON document of the rows read with ``json_each`` on SQLite (the values go as JSON text: times in the ORM's
    spelling). Returns the ``returning`` columns of the rows inserted (none when not asked)."""
    if not values or not values[0]:
        return []
    names = [name for name, _kind in columns] + list(constants)
    p = _Params()
    tail = f" RETURNING {returning}" if returning else ""
    if sql.is_postgres():
        arrays = ", ".join(
            f"{p(list(col))}::{_PG_ARRAYS[kind]}" for (_n, kind), col in zip(columns, values, strict=True)
        )
        fixed = [f"{p(value)}::{_PG_ARRAYS[kind][:-2]}" for kind, value in constants.values()]
        picked = [f"x.c{i}" for i in range(len(columns))] + fixed
        aliases = ", ".join(f"c{i}" for i in range(len(columns)))
        statement = (
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(picked)} "
            f"FROM unnest({arrays}) AS x({aliases}){tail}"
        )
    else:
        spelled = [
            [_sqlite_time(v) for v in col] if kind == "time" else list(col)
            for (_n, kind), col in zip(columns, values, strict=True)
        ]
        document = p(json.dumps(list(zip(*spelled, strict=True)), separators=(",", ":")))
        fixed = [p(_sqlite_time(value) if kind == "time" else value) for kind, value in constants.values()]
        picked = [f"j.value ->> {i}" for i in range(len(columns))] + fixed
        statement = (
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(picked)} FROM json_each({document}) j{tail}"
        )
    if returning:
        return await sql.query(statement, p.values)
    await sql.execute(statement, p.values)
    return []


@dataclass(frozen=True)
class Audience:
    """The message's audience as SQL: ``pupils(p)`` is a subquery of the active pupils it names."""

    school_id: int
    message_id: int
    whole_school: bool
    #: The groups named, with their sub-groups (a school's groups: dozens, never thousands).
    group_ids: frozenset[int]
    named_pupils: bool
    #: A message about records (absences, grades, report cards, the journal): only guardians with the records
    #: right (``Guardianship.sees_records``, as :mod:`hub.records.visibility` rules) get a notice.
    records_only: bool = False

    @property
    def empty(self) -> bool:
        return not (self.whole_school or self.group_ids or self.named_pupils)

    def named(self, p: _Params, pupil: str = "p") -> str:
        """The condition on the pupil table (aliased ``pupil``) that its row is named by the audience."""
        where = f"{pupil}.school_id = {p(self.school_id)} AND {pupil}.active = {p(True)}"
        if self.whole_school:
            return where
        either = []
        if self.named_pupils:
            either.append(
                f"{pupil}.id IN (SELECT ma.pupil_id FROM message_audience ma "
                f"WHERE ma.message_id = {p(self.message_id)} AND ma.kind = {p(AudienceKind.PUPIL.value)})"
            )
        if self.group_ids:
            groups = ", ".join(str(int(g)) for g in sorted(self.group_ids))  # ids read from the database
            either.append(f"{pupil}.id IN (SELECT mb.pupil_id FROM membership mb WHERE mb.group_id IN ({groups}))")
        return f"{where} AND ({' OR '.join(either)})"

    def pupils(self, p: _Params) -> str:
        return f"SELECT p.id FROM pupil p WHERE {self.named(p)}"

    def guardians(self, p: _Params) -> str:
        """The guardians who receive for at least one audience pupil and are not erased."""
        return (
            "SELECT gs.guardian_id FROM guardianship gs JOIN guardian g ON g.id = gs.guardian_id "
            f"JOIN pupil p ON p.id = gs.pupil_id WHERE {self.named(p)} "
            f"AND gs.receives = {p(True)} AND gs.barred = {p(False)} AND g.erased_at IS NULL"
            + (f" AND gs.sees_records = {p(True)}" if self.records_only else "")
        )


async def audience_of(message: Message) -> Audience:
    """The message's terms, read once: a group term takes its sub-groups (a level holds its classes); a school-kind
    group, like a school term, means every active pupil of the school."""
    terms = await MessageAudience.filter(message_id=message.id).values("kind", "pupil_id", "group_id")
    whole = any(AudienceKind(t["kind"]) is AudienceKind.SCHOOL for t in terms)
    named = any(AudienceKind(t["kind"]) is AudienceKind.PUPIL and t["pupil_id"] is not None for t in terms)
    wanted = {t["group_id"] for t in terms if AudienceKind(t["kind"]) is AudienceKind.GROUP and t["group_id"]}
    selected: set[int] = set()
    if wanted and not whole:
        groups = await Group.filter(school_id=message.school_id).values("id", "parent_id", "kind")
        kinds = {row["id"]: GroupKind(row["kind"]) for row in groups}
        children: dict[int, list[int]] = defaultdict(list)
        for row in groups:
            if row["parent_id"] is not None:
                children[row["parent_id"]].append(row["id"])
        selected = {g for g in wanted if g in kinds}  # a group of another school names nobody
        if any(kinds[g] is GroupKind.SCHOOL for g in selected):
            whole, selected = True, set()
        todo = list(selected)
        while todo:
            for child in children[todo.pop()]:
                if child not in selected:
                    selected.add(child)
                    todo.append(child)
    return Audience(message.school_id, message.id, whole, frozenset(selected), named)


async def audience_pupils(audience: Audience) -> set[int]:
    """The ids of the active pupils the audience names (one statement)."""
    if audience.empty:
        return set()
    p = _Params()
    return {int(row["id"]) for row in await sql.query(audience.pupils(p), p.values)}


async def audience_guardians(audience: Audience) -> list[int]:
    """The ids of the guardians who get a notice, in order (a list of integers: the one thing held for all)."""
    if audience.empty:
        return []
    p = _Params()
    rows = await sql.query(f"SELECT DISTINCT x.guardian_id FROM ({audience.guardians(p)}) x ORDER BY 1", p.values)
    return [row["guardian_id"] for row in rows]


@dataclass
class Chunk:
    """What the rules need about a chunk of guardians: ``{guardian: pupils named}`` and their profiles."""

    notices_for: dict[int, frozenset[int]] = field(default_factory=dict)
    profiles: dict[int, routing.GuardianProfile] = field(default_factory=dict)


def contact_infos(rows: Iterable[Mapping[str, Any]]) -> dict[int, tuple[routing.ContactInfo, ...]]:
    """Contact rows (ordered by guardian and id) as the rules read them, per guardian."""
    found: dict[int, list[routing.ContactInfo]] = defaultdict(list)
    for row in rows:
        found[row["guardian_id"]].append(
            routing.ContactInfo(
                kind=ContactKind(row["kind"]),
                value=row["value"],
                verified=bool(row["verified"]),
                dead=row["dead_at"] is not None,
                contact_id=row["id"],
            )
        )
    return {guardian: tuple(contacts) for guardian, contacts in found.items()}


def quiet_of(start: time | None, end: time | None) -> QuietHours | None:
    """A guardian's stored quiet hours as the rules read them (wall-clock times: any tzinfo the driver adds is
    dropped), None unless both ends are set and differ."""
    if start is None or end is None or start.replace(tzinfo=None) == end.replace(tzinfo=None):
        return None
    return QuietHours(start.replace(tzinfo=None), end.replace(tzinfo=None))


def _time_of(value: Any) -> time | None:
    return time.fromisoformat(value) if isinstance(value, str) else value


def _rows_json(columns: str, rows: str) -> str:
    """A query of ``rows`` (``FROM ... WHERE ...``) as ONE JSON array of arrays of ``columns``: a chunk comes back as
    one document the JSON parser reads at once, instead of thousands of rows made into dicts one at a time. Used
    as a correlated subquery too (nested in the outer row's array)."""
    if sql.is_postgres():
        return f"(SELECT json_agg(json_build_array({columns})) {rows})"
    return f"json((SELECT json_group_array(json_array({columns})) {rows}))"


async def _read_json(columns: str, rows: str, params: Sequence[Any]) -> list[list[Any]]:
    found = await sql.query(f"SELECT {_rows_json(columns, rows)} AS doc", params)
    return sql.as_json(found[0]["doc"]) or [] if found else []


#: Enum members by stored value: a dict lookup per row instead of the enum's call.
_KINDS = {k.value: k for k in ContactKind}
_PURPOSES = {k.value: k for k in ConsentPurpose}
_CHANNELS = {k.value: k for k in Channel}
_LANGUAGES = {k.value: k for k in Language}


async def load_chunk(audience: Audience, guardian_ids: Sequence[int]) -> Chunk:
    """The links, contacts, consents, preferences and stops of a chunk of the audience's guardians: three
    statements, each taking the chunk's ids as one argument (an array; a JSON list on SQLite) and answering one
    JSON document: the links; the guardians with their contacts, enabled preferences and stops nested (each found
    through its table's unique index that starts with the guardian); the consents (a table with no index on the
    guardian: one pass over it per chunk rather than one per guardian)."""
    ids = sql.ids_argument(guardian_ids)
    p = _Params()
    links = [
        routing.GuardianLink(
            pupil_id=pupil,
            guardian_id=guardian,
            household_id=household,
            receives=bool(receives),
            may_answer=bool(may_answer),
            barred=bool(barred),
            sees_records=bool(sees_records),
        )
        for pupil, guardian, household, receives, may_answer, barred, sees_records in await _read_json(
            "gs.pupil_id, gs.guardian_id, gs.household_id, gs.receives, gs.may_answer, gs.barred, gs.sees_records",
            f"FROM guardianship gs JOIN pupil p ON p.id = gs.pupil_id "
            f"WHERE {sql.in_ids('gs.guardian_id', p(ids), probe=False)} AND {audience.named(p)}",
            p.values,
        )
    ]
    if audience.records_only:  # a message about records reaches only guardians with the records right
        links = routing.records_only(links)
    notices_for = routing.resolve_notices({link.pupil_id for link in links}, links)

    p = _Params()
    contacts = _rows_json(
        "c.id, c.kind, c.value, c.verified, c.dead_at IS NOT NULL", "FROM contact c WHERE c.guardian_id = g.id"
    )
    preferences = _rows_json(
        "cp.rank, cp.id, cp.channel",
        f"FROM channel_preference cp WHERE cp.guardian_id = g.id AND cp.enabled = {p(True)}",
    )
    stops = _rows_json("o.topic, o.channel", "FROM opt_out o WHERE o.guardian_id = g.id")
    guardians = await _read_json(
        f"g.id, g.language, g.quiet_from, g.quiet_until, {contacts}, {preferences}, {stops}",
        f"FROM guardian g WHERE {sql.in_ids('g.id', p(ids))} AND g.erased_at IS NULL",
        p.values,
    )
    p = _Params()
    consents: dict[int, set[ConsentPurpose]] = defaultdict(set)
    for guardian, purpose in await _read_json(
        "cs.guardian_id, cs.purpose",
        f"FROM consent cs WHERE {sql.in_ids('cs.guardian_id', p(ids))} AND cs.withdrawn_at IS NULL",
        p.values,
    ):
        consents[guardian].add(_PURPOSES[purpose])
    chunk = Chunk()
    for guardian, language, quiet_from, quiet_until, contact_rows, preference_rows, stop_rows in guardians:
        if guardian not in notices_for:
            continue
        chunk.notices_for[guardian] = notices_for[guardian]
        chunk.profiles[guardian] = routing.GuardianProfile(
            guardian_id=guardian,
            language=_LANGUAGES[language],
            contacts=tuple(
                routing.ContactInfo(
                    kind=_KINDS[kind], value=value, verified=bool(verified), dead=bool(dead), contact_id=contact
                )
                for contact, kind, value, verified, dead in sorted(contact_rows or ())
            ),
            consents=frozenset(consents[guardian]),
            preferences=tuple(_CHANNELS[c] for _rank, _id, c in sorted(preference_rows or ())),
            quiet=quiet_of(_time_of(quiet_from), _time_of(quiet_until)),
            opt_outs=frozenset(stop_of(topic, channel) for topic, channel in stop_rows or ()),
        )
    return chunk


def plans_of(
    chunk: Chunk,
    *,
    available_channels: frozenset[Channel],
    urgency: Urgency,
    category: Any,
) -> dict[int, tuple[Channel, ...]]:
    """``routing.channel_plan`` for each guardian of the chunk, computed once per distinct profile shape: the plan
    reads only the preferences, consents, stops and the kinds of usable contacts (most families share a few)."""
    plans: dict[int, tuple[Channel, ...]] = {}
    seen: dict[Any, tuple[Channel, ...]] = {}
    for g in sorted(chunk.profiles):
        profile = chunk.profiles[g]
        shape = (
            profile.preferences,
            profile.consents,
            profile.opt_outs,
            frozenset(c.kind for c in profile.contacts if c.usable),
        )
        plan = seen.get(shape)
        if plan is None:
            plan = seen[shape] = routing.channel_plan(
                profile, available_channels=available_channels, urgency=urgency, category=category
            )
        plans[g] = plan
    return plans


async def insert_notices(
    message_id: int,
    plans: Mapping[int, Sequence[Channel]],
    notices_for: Mapping[int, frozenset[int]],
    *,
    now: datetime,
) -> dict[int, int]:
    """The notices of a chunk and the pupils they name; ``{guardian: notice id}``. Two statements: the notices'
    insert returns their ids (nothing is read back)."""
    guardians = sorted(plans)
    texts: dict[tuple[Channel, ...], str] = {}  # a school's plans are a handful: each spelled once
    plan_texts = []
    for g in guardians:
        plan = tuple(plans[g])
        if plan not in texts:
            texts[plan] = json.dumps([c.value for c in plan])
        plan_texts.append(texts[plan])
    rows = await _insert_rows(
        "notice",
        (("guardian_id", "int"), ("token", "text"), ("plan", "json")),
        (guardians, [secrets.token_urlsafe(24) for _ in guardians], plan_texts),
        {"message_id": ("int", message_id), "created_at": ("time", now)},
        returning="id, guardian_id",
    )
    ids = {row["guardian_id"]: row["id"] for row in rows}
    pairs = [(ids[g], pupil) for g in guardians for pupil in sorted(notices_for[g])]
    await _insert_rows(
        "notice_pupil",
        (("notice_id", "int"), ("pupil_id", "int")),
        ([n for n, _p in pairs], [pupil for _n, pupil in pairs]),
    )
    return ids


async def daily_load(
    charter: Charter, guardian_ids: Sequence[int], since: datetime
) -> tuple[dict[int, dict[date, int]], dict[tuple[int, str], set[date]]]:
    """Per guardian of ``guardian_ids``, the non-urgent notices per local day whose first active step
    is due at or after ``since`` (a digest counts once: it goes as one message), and the days already holding a
    digest per ``(guardian, channel)``. One statement."""
    p = _Params()
    rows = await sql.query(
        "SELECT d.notice_id, n.guardian_id, d.channel, d.due_at, d.digest_key FROM delivery d "
        "JOIN notice n ON n.id = d.notice_id JOIN message m ON m.id = n.message_id "
        f"WHERE {sql.in_ids('n.guardian_id', p(sql.ids_argument(guardian_ids)))} "
        f"AND m.urgency = {p(Urgency.NORMAL.value)} "
        f"AND d.purpose = {p(DeliveryPurpose.INITIAL.value)} AND d.due_at >= {p(since)} "
        f"AND d.channel <> {p(Channel.PORTAL.value)}",
        p.values,
    )
    seen: dict[int, dict[date, set[Any]]] = defaultdict(lambda: defaultdict(set))
    digests: dict[tuple[int, str], set[date]] = defaultdict(set)
    for row in rows:
        guardian = row["guardian_id"]
        day = routing.local_day(charter, sql.as_datetime(row["due_at"]))  # type: ignore[arg-type]
        if row["digest_key"]:
            seen[guardian][day].add(row["digest_key"])
            digests[(guardian, str(row["channel"]))].add(day)
        else:
            seen[guardian][day].add(row["notice_id"])  # a retry row names the same notice: counted once
    load = {guardian: {day: len(items) for day, items in days.items()} for guardian, days in seen.items()}
    return load, digests


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery the publish creates, as plain values (written with ``executemany``)."""

    notice_id: int
    channel: Channel
    step: int
    state: DeliveryState
    due_at: datetime
    contact_id: int | None = None
    digest_key: str = ""
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    purpose: DeliveryPurpose = DeliveryPurpose.INITIAL


async def insert_deliveries(rows: Sequence[DeliveryRow], *, now: datetime) -> None:
    """One statement for the rows, given column-wise (:func:`_insert_rows`)."""
    await _insert_rows(
        "delivery",
        (("notice_id", "int"), ("channel", "text"), ("step", "int"), ("purpose", "text"), ("state", "text"),
         ("contact_id", "int"), ("due_at", "time"), ("sent_at", "time"), ("delivered_at", "time"),
         ("digest_key", "text")),
        ([r.notice_id for r in rows], [r.channel.value for r in rows], [r.step for r in rows],
         [r.purpose.value for r in rows], [r.state.value for r in rows], [r.contact_id for r in rows],
         [r.due_at for r in rows], [r.sent_at for r in rows], [r.delivered_at for r in rows],
         [r.digest_key for r in rows]),
        {"attempts": ("int", 0), "claimed_by": ("text", ""), "provider_id": ("text", ""), "cost": ("num", Decimal(0)),
         "segments": ("int", 0), "error": ("text", ""), "created_at": ("time", now), "updated_at": ("time", now)},
    )  # fmt: skip
