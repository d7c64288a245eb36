"""The publish's reads and writes at the size of a school, in chunks of guardians: memory and the size of every
statement stay the same whatever the audience (``planning.publish`` decides, this module loads and stores).

The audience is a subquery (the message's terms: the whole school, groups with their sub-groups, named pupils),
never a list of pupil ids; the guardians are taken in order of id and each chunk is read with ``BETWEEN`` bounds
and that subquery, so a statement's arguments are fixed. Rows are written with ``executemany`` through the driver
(``hub.store.sql.insert_many``): their values are built here from checked values (enums, ids read from the
database, the rules' results), so the ORM's validation of every field of every row is not needed.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
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
from hub.people.optouts import Stop, stop_of
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


async def load_chunk(audience: Audience, guardian_ids: Sequence[int]) -> Chunk:
    """The links, contacts, consents and preferences of a chunk of the audience's guardians: five statements,
    each taking the chunk's ids as one argument (an array; a JSON list on SQLite)."""

    def scoped(column: str, *, probe: bool = True) -> tuple[str, _Params]:
        p = _Params()
        return sql.in_ids(column, p(sql.ids_argument(guardian_ids)), probe=probe), p

    where, p = scoped("gs.guardian_id", probe=False)
    rows = await sql.query(
        "SELECT gs.pupil_id, gs.guardian_id, gs.household_id, gs.receives, gs.may_answer, gs.barred, gs.sees_records "
        f"FROM guardianship gs JOIN pupil p ON p.id = gs.pupil_id WHERE {where} AND {audience.named(p)}",
        p.values,
    )
    links = [
        routing.GuardianLink(
            pupil_id=r["pupil_id"],
            guardian_id=r["guardian_id"],
            household_id=r["household_id"],
            receives=bool(r["receives"]),
            may_answer=bool(r["may_answer"]),
            barred=bool(r["barred"]),
            sees_records=bool(r["sees_records"]),
        )
        for r in rows
    ]
    if audience.records_only:  # a message about records reaches only guardians with the records right
        links = routing.records_only(links)
    notices_for = routing.resolve_notices({link.pupil_id for link in links}, links)

    where, p = scoped("g.id")
    guardians = await sql.query(
        f"SELECT g.id, g.language, g.quiet_from, g.quiet_until FROM guardian g WHERE {where} AND g.erased_at IS NULL",
        p.values,
    )
    where, p = scoped("c.guardian_id")
    contacts = await sql.query(
        f"SELECT c.id, c.guardian_id, c.kind, c.value, c.verified, c.dead_at FROM contact c WHERE {where} "
        "ORDER BY c.guardian_id, c.id",
        p.values,
    )
    where, p = scoped("cs.guardian_id")
    consents: dict[int, set[ConsentPurpose]] = defaultdict(set)
    for row in await sql.query(
        f"SELECT cs.guardian_id, cs.purpose FROM consent cs WHERE {where} AND cs.withdrawn_at IS NULL", p.values
    ):
        consents[row["guardian_id"]].add(ConsentPurpose(row["purpose"]))
    where, p = scoped("cp.guardian_id")
    preferences: dict[int, list[Channel]] = defaultdict(list)
    for row in await sql.query(
        f"SELECT cp.guardian_id, cp.channel FROM channel_preference cp WHERE {where} AND cp.enabled = {p(True)} "
        "ORDER BY cp.guardian_id, cp.rank, cp.id",
        p.values,
    ):
        preferences[row["guardian_id"]].append(Channel(row["channel"]))

    where, p = scoped("o.guardian_id")
    stopped: dict[int, set[Stop]] = defaultdict(set)  # the topics each guardian stopped, per channel or all
    for row in await sql.query(f"SELECT o.guardian_id, o.topic, o.channel FROM opt_out o WHERE {where}", p.values):
        stopped[row["guardian_id"]].add(stop_of(row["topic"], row["channel"]))
    opt_outs = {guardian: frozenset(stops) for guardian, stops in stopped.items()}
    infos = contact_infos(contacts)
    chunk = Chunk()
    for row in guardians:
        guardian = row["id"]
        if guardian not in notices_for:
            continue
        chunk.notices_for[guardian] = notices_for[guardian]
        chunk.profiles[guardian] = routing.GuardianProfile(
            guardian_id=guardian,
            language=Language(row["language"]),
            contacts=infos.get(guardian, ()),
            consents=frozenset(consents[guardian]),
            preferences=tuple(preferences[guardian]),
            quiet=quiet_of(_time_of(row["quiet_from"]), _time_of(row["quiet_until"])),
            opt_outs=opt_outs.get(guardian, frozenset()),
        )
    return chunk


async def insert_notices(
    message_id: int,
    plans: Mapping[int, Sequence[Channel]],
    notices_for: Mapping[int, frozenset[int]],
    *,
    now: datetime,
) -> dict[int, int]:
    """The notices of a chunk and the pupils they name; ``{guardian: notice id}``. Three statements."""
    guardians = sorted(plans)
    await sql.insert_many(
        "notice",
        ("message_id", "guardian_id", "token", "plan", "created_at"),
        ((message_id, g, secrets.token_urlsafe(24), json.dumps([c.value for c in plans[g]]), now) for g in guardians),
    )
    p = _Params()
    rows = await sql.query(
        f"SELECT id, guardian_id FROM notice WHERE message_id = {p(message_id)} "
        f"AND {sql.in_ids('guardian_id', p(sql.ids_argument(guardians)))}",
        p.values,
    )
    ids = {row["guardian_id"]: row["id"] for row in rows}
    await sql.insert_many(
        "notice_pupil",
        ("notice_id", "pupil_id"),
        ((ids[g], pupil) for g in guardians for pupil in sorted(notices_for[g])),
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


async def insert_deliveries(rows: Iterable[DeliveryRow], *, now: datetime) -> None:
    """One statement for the rows (``executemany``)."""
    await sql.insert_many(
        "delivery",
        ("notice_id", "channel", "step", "purpose", "state", "contact_id", "due_at", "attempts", "claimed_by",
         "sent_at", "delivered_at", "provider_id", "cost", "segments", "error", "digest_key", "created_at",
         "updated_at"),
        ((r.notice_id, r.channel.value, r.step, r.purpose.value, r.state.value, r.contact_id, r.due_at, 0, "",
          r.sent_at, r.delivered_at, "", Decimal(0), 0, "", r.digest_key, now, now) for r in rows),
    )  # fmt: skip
