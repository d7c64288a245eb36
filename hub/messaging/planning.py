"""Publishing a message and moving its deliveries along: the library API over the database.

The rules live in ``hub.messaging.routing`` (pure); this module loads rows in a few queries (never one per guardian),
asks the rules, and stores the result. Every function takes the clock as ``now`` and a charter (the default
charter when None).

Deliveries are the queue. Publishing creates, per notice, the portal step (the inbox: DELIVERED at once, see
``hub.messaging.routing``) and the first *active* step, DUE now or HELD until the charter allows it (spread over the
charter's release minutes). Later steps are created only when needed: a permanent failure creates the next step
(FALLBACK), an unacknowledged step creates the next one after a wait (ESCALATION, :func:`due_escalations`), an
unanswered reply slip creates REMINDER rows (:func:`schedule_reminders`). A state changes only if
``routing.can_move`` allows it, through a compare-and-set update, so a late or repeated callback, or two workers
racing, never move a delivery back.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from tortoise.transactions import in_transaction

from charter import Charter, may_send, next_allowed, school_charter
from hub.enums import (
    CHANNEL_CONTACT,
    ActorKind,
    AnswerMode,
    Category,
    Channel,
    ConsentPurpose,
    DeliveryPurpose,
    DeliveryState,
    ErrorKind,
    Language,
    MessageState,
    Urgency,
)
from hub.messaging import fanout, routing
from hub.messaging.fanout import contact_infos as _contact_infos
from hub.messaging.fanout import quiet_of as _quiet_of
from hub.messaging.models import (
    Acknowledgement,
    Delivery,
    Message,
    Notice,
    NoticePupil,
    ReplySlip,
    SlipResponse,
)
from hub.people.models import (
    ChannelPreference,
    Consent,
    Contact,
    Guardian,
    Guardianship,
    Pupil,
    Staff,
    StaffRoleGrant,
)
from hub.people.optouts import stops_of
from hub.people.preferences import QuietHours
from hub.store import sql
from hub.store.audit import AuditEntry
from hub.store.db import ids_of

__all__ = [
    "DEFAULT_ESCALATION_WAIT",
    "ELECTRONIC_CHANNELS",
    "ESCALATION_WAITS",
    "MAX_ATTEMPTS",
    "RECORD_CATEGORIES",
    "AlreadyAnswered",
    "PlanningError",
    "PublishResult",
    "digest_groups",
    "due_deliveries",
    "due_escalations",
    "on_answer",
    "publish",
    "publish_scheduled",
    "record_acknowledgement",
    "record_answer",
    "record_outcome",
    "schedule_reminders",
]

#: Every channel but the letter, which is not configured: it ends every plan.
ELECTRONIC_CHANNELS: frozenset[Channel] = frozenset(c for c in Channel if c is not Channel.LETTER)

#: How long a notice that asks for an acknowledgement waits on one channel before the next is tried: a day lets
#: a parent who reads email in the evening answer before the school insists (and, at the end of the plan,
#: prints a letter). Urgent matters and emergencies cannot wait that long. A message may set its own wait
#: (``Message.escalation_wait_minutes``); ``due_escalations(wait=...)`` overrides both.
DEFAULT_ESCALATION_WAIT = timedelta(hours=24)
ESCALATION_WAITS: Mapping[Urgency, timedelta] = {
    Urgency.NORMAL: DEFAULT_ESCALATION_WAIT,
    Urgency.URGENT: timedelta(hours=3),
    Urgency.EMERGENCY: timedelta(minutes=30),
}

#: Attempts of one step before a transient failure is treated as permanent (and the next step is tried).
MAX_ATTEMPTS = 5
#: The wait before the first retry of a transient failure, doubled at each attempt, capped at RETRY_MAX.
RETRY_BASE = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)

#: Keeps ``IN (...)`` lists below the parameter limits of SQLite and asyncpg.
_CHUNK = 5000

#: The purposes that walk the plan (a reminder is a side path: it never creates a fallback or escalation).
_PLAN_PURPOSES = (DeliveryPurpose.INITIAL, DeliveryPurpose.FALLBACK, DeliveryPurpose.ESCALATION)
_PENDING = tuple(routing.PENDING_STATES)

#: How long a claim holds before another worker may take the delivery back (a worker that died mid-send,
#: a print batch that failed half-way).
LEASE = timedelta(minutes=5)


class PlanningError(Exception):
    """A request the rules refuse: a sender without the right, an emergency without a reason, an answer from
    a guardian who may not answer, a message already published."""


class AlreadyAnswered(PlanningError):
    """One answer per pupil: another guardian already answered this pupil's slip (``response`` is theirs)."""

    def __init__(self, response: SlipResponse) -> None:
        super().__init__(f"pupil {response.pupil_id} was already answered for by guardian {response.guardian_id}")
        self.response = response


@dataclass(frozen=True)
class PublishResult:
    message_id: int
    notices: int
    #: Deliveries created: portal steps plus first active steps.
    deliveries: int
    #: First active steps going out now, and those held by the charter (or the sender's chosen time).
    due: int
    held: int
    #: When the first held delivery is released, None if none is held.
    held_until: datetime | None
    #: Of the held ones, those held to a later day by the daily limit and gathered into a digest.
    digested: int = 0


#: Messages about a pupil's records: only guardians with the records right (``Guardianship.sees_records``) and
#: not barred get a notice of them (the rule :mod:`hub.records.visibility` states for the portal).
RECORD_CATEGORIES = routing.RECORD_CATEGORIES

#: What a recorded answer also sets in motion (``listener(response, now)``, in the answer's transaction): the
#: records register theirs (an answered absence justification marks the absence justified).
AnswerListener = Callable[[SlipResponse, datetime], Awaitable[None]]
_ANSWER_LISTENERS: list[AnswerListener] = []


def on_answer(listener: AnswerListener) -> AnswerListener:
    """Call ``listener`` after every answer :func:`record_answer` stores, whatever the channel (once per function)."""
    if listener not in _ANSWER_LISTENERS:
        _ANSWER_LISTENERS.append(listener)
    return listener


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(values)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# --------------------------------------------------------------------------------------------- loading values


async def _contacts(guardian_ids: Iterable[int]) -> dict[int, tuple[routing.ContactInfo, ...]]:
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(guardian_ids):
        rows += (
            await Contact.filter(guardian_id__in=chunk)
            .order_by("guardian_id", "id")
            .values("id", "guardian_id", "kind", "value", "verified", "dead_at")
        )
    return _contact_infos(rows)


async def guardian_profiles(guardian_ids: Iterable[int]) -> dict[int, routing.GuardianProfile]:
    """The profiles of the guardians not erased, in four queries per chunk whatever their number."""
    ids = sorted(set(guardian_ids))
    contacts = await _contacts(ids)
    languages: dict[int, Language] = {}
    quiet: dict[int, QuietHours] = {}
    consents: dict[int, set[ConsentPurpose]] = defaultdict(set)
    preferences: dict[int, list[Channel]] = defaultdict(list)
    for chunk in _chunks(ids):
        rows = await Guardian.filter(id__in=chunk, erased_at__isnull=True).values(
            "id", "language", "quiet_from", "quiet_until"
        )
        for row in rows:
            languages[row["id"]] = Language(row["language"])
            hours = _quiet_of(row["quiet_from"], row["quiet_until"])
            if hours is not None:
                quiet[row["id"]] = hours
        for row in await Consent.filter(guardian_id__in=chunk, withdrawn_at__isnull=True).values(
            "guardian_id", "purpose"
        ):
            consents[row["guardian_id"]].add(ConsentPurpose(row["purpose"]))
        rows = (
            await ChannelPreference.filter(guardian_id__in=chunk, enabled=True)
            .order_by("guardian_id", "rank", "id")
            .values("guardian_id", "channel")
        )
        for row in rows:
            preferences[row["guardian_id"]].append(Channel(row["channel"]))
    opt_outs = await stops_of(ids)
    return {
        guardian: routing.GuardianProfile(
            guardian_id=guardian,
            language=language,
            contacts=contacts.get(guardian, ()),
            consents=frozenset(consents[guardian]),
            preferences=tuple(preferences[guardian]),
            quiet=quiet.get(guardian),
            opt_outs=opt_outs.get(guardian, frozenset()),
        )
        for guardian, language in languages.items()
    }


async def _quiet_hours(guardian_ids: Iterable[int]) -> dict[int, QuietHours]:
    """The quiet hours of those guardians who set some."""
    found: dict[int, QuietHours] = {}
    for chunk in _chunks(set(guardian_ids)):
        rows = await Guardian.filter(id__in=chunk, quiet_from__isnull=False, quiet_until__isnull=False).values_list(
            "id", "quiet_from", "quiet_until"
        )
        for guardian_id, start, end in rows:
            hours = _quiet_of(start, end)
            if hours is not None:
                found[guardian_id] = hours
    return found


async def audience_pupil_ids(message: Message) -> set[int]:
    """The active pupils of the message's school named by its audience terms, as the publish reads them
    (:func:`fanout.audience_of`: a group term takes its sub-groups, a school-kind group means the whole school)."""
    return await fanout.audience_pupils(await fanout.audience_of(message))


async def guardian_links(pupil_ids: Iterable[int]) -> list[routing.GuardianLink]:
    links: list[routing.GuardianLink] = []
    for chunk in _chunks(pupil_ids):
        rows = await Guardianship.filter(pupil_id__in=chunk).values(
            "pupil_id", "guardian_id", "household_id", "receives", "may_answer", "barred", "sees_records"
        )
        links.extend(routing.GuardianLink(**row) for row in rows)
    return links


def _first_usable(contacts: Sequence[routing.ContactInfo], channel: Channel) -> routing.ContactInfo | None:
    return routing.contact_for(routing.GuardianProfile(guardian_id=0, contacts=tuple(contacts)), channel)


def reachable_step(
    plan: Sequence[str], step: int | None, contacts: Sequence[routing.ContactInfo]
) -> tuple[int, int | None] | None:
    """From ``step`` on, the first step whose channel still has a usable contact (a contact may have died
    since the plan was made), and that contact's id; the letter always qualifies. None past the plan's end (a
    plan of the portal alone, when the guardian stopped the message's topic)."""
    while step is not None and step < len(plan):
        channel = Channel(plan[step])
        if channel not in CHANNEL_CONTACT:
            return step, None
        contact = _first_usable(contacts, channel)
        if contact is not None:
            return step, contact.contact_id
        step = routing.next_step(plan, step, acknowledged=False)
    return None


def _state_at(due: datetime, now: datetime) -> tuple[DeliveryState, datetime]:
    return (DeliveryState.DUE, now) if due <= now else (DeliveryState.HELD, due)


# --------------------------------------------------------------------------------------------- daily limit


async def _daily_load(
    charter: Charter, guardian_ids: Iterable[int], since: datetime
) -> tuple[dict[int, dict[date, int]], set[tuple[int, str, date]]]:
    """Per guardian, the non-urgent notices per local day whose first active step is due at or after
    ``since`` (a digest counts once: it goes as one message), and the ``(guardian, channel, day)`` digests
    already planned. One query per chunk of guardians, whatever their number."""
    seen: dict[int, dict[date, set[Any]]] = defaultdict(lambda: defaultdict(set))
    digests: set[tuple[int, str, date]] = set()
    for chunk in _chunks(guardian_ids):
        rows = (
            await Delivery.filter(
                notice__guardian_id__in=chunk,
                notice__message__urgency=Urgency.NORMAL,
                purpose=DeliveryPurpose.INITIAL,
                due_at__gte=since,
            )
            .exclude(channel=Channel.PORTAL)
            .values("notice_id", "notice__guardian_id", "channel", "due_at", "digest_key")
        )
        for row in rows:
            guardian = row["notice__guardian_id"]
            day = routing.local_day(charter, row["due_at"])
            if row["digest_key"]:
                seen[guardian][day].add(row["digest_key"])
                digests.add((guardian, str(row["channel"]), day))
            else:
                seen[guardian][day].add(row["notice_id"])  # a retry row names the same notice: counted once
    load = {guardian: {day: len(items) for day, items in days.items()} for guardian, days in seen.items()}
    return load, digests


# --------------------------------------------------------------------------------------------------- publish


async def publish(
    message_id: int,
    *,
    now: datetime,
    charter: Charter | None = None,
    available_channels: frozenset[Channel] = ELECTRONIC_CHANNELS,
    actor_staff_id: int,
    only_guardians: frozenset[int] | None = None,
) -> PublishResult:
    """Turn a draft message into notices (one per guardian, naming their pupils) and their first deliveries.

    A message whose ``scheduled_at`` is still to come becomes SCHEDULED (:func:`publish_scheduled` turns it
    PUBLISHED when its time comes), otherwise PUBLISHED.

    The charter's daily limit: a NORMAL notice whose first active step would be due on a local day on which
    the guardian already gets ``max_non_urgent_per_day`` non-urgent notices is HELD to the first allowed
    window of the next day with room, with a ``digest_key`` (guardian, channel, that day): the worker sends
    the deliveries sharing a key as one message (:func:`digest_groups`).

    A guardian's own quiet hours (``Guardian.quiet_from`` to ``quiet_until``) hold a NORMAL notice's first
    active step until they end, as fallbacks and escalations (:func:`routing.after_quiet_hours`); urgent
    messages and emergencies ignore them. The portal step is never held by them: it rings nobody.

    ``only_guardians`` restricts the notices to these guardians of the audience's pupils (a family's own digest
    must not reach another household linked to one of the pupils).

    Raises PlanningError if the sender's roles may not send this urgency, if an emergency has no reason, or if
    the message is not a draft of the sender's school. Emergencies are written to the audit log.
    """
    charter = charter or school_charter()
    message = await Message.get_or_none(id=message_id)
    if message is None:
        raise PlanningError(f"no message {message_id}")
    urgency = Urgency(message.urgency)
    staff = await Staff.get_or_none(id=actor_staff_id, active=True)
    if staff is None or staff.school_id != message.school_id:
        raise PlanningError(f"staff {actor_staff_id} may not publish for this school")
    roles = await StaffRoleGrant.filter(staff_id=actor_staff_id).values_list("role", flat=True)
    if not may_send(charter, [str(role) for role in roles], urgency):
        raise PlanningError(f"the roles {sorted(map(str, roles))} may not send {urgency} messages")
    if urgency is Urgency.EMERGENCY and not message.urgency_reason.strip():
        raise PlanningError("an emergency message needs a reason (urgency_reason), written to the audit log")

    audience = await fanout.audience_of(message)
    if Category(message.category) in RECORD_CATEGORIES:  # only guardians with the records right hear of records
        audience = dataclasses.replace(audience, records_only=True)
    guardians = await fanout.audience_guardians(audience)  # ids only: the rows are read chunk by chunk
    if only_guardians is not None:  # a message written for some guardians of its pupils (a family's digest)
        guardians = [g for g in guardians if g in only_guardians]
    if not message.to_families:  # addressed to the pupils only: they read it on their page, no guardian hears
        guardians = []

    category = Category(message.category)
    scheduled_at = message.scheduled_at
    visible_at = now if scheduled_at is None else max(now, scheduled_at)
    first_due = routing.initial_due(charter, now, urgency, scheduled_at)
    scheduled = scheduled_at is not None and scheduled_at > now
    new_state = MessageState.SCHEDULED if scheduled else MessageState.PUBLISHED
    day_start = routing.start_of_day(charter, routing.local_day(charter, first_due))

    notices = deliveries = due_count = held_count = digested = 0
    held_until: datetime | None = None
    async with in_transaction():
        # Compare-and-set: two clicks on "publish" create one set of notices.
        claimed = await Message.filter(id=message.id, state=MessageState.DRAFT).update(
            state=new_state, published_at=None if scheduled else now
        )
        if not claimed:
            raise PlanningError(f"message {message_id} is {message.state}, not a draft: it cannot be published")
        # Chunks of guardians in id order: a chunk's reads and writes are a fixed number of statements, and only
        # one chunk's rows are in memory at a time, whatever the size of the audience.
        for start in range(0, len(guardians), fanout.CHUNK):
            chunk = await fanout.load_chunk(audience, guardians[start : start + fanout.CHUNK])
            members = sorted(chunk.profiles)  # erased guardians have no profile: they get nothing
            if not members:
                continue
            plans = fanout.plans_of(chunk, available_channels=available_channels, urgency=urgency, category=category)
            notice_ids = await fanout.insert_notices(message.id, plans, chunk.notices_for, now=now)
            notices += len(members)
            load: dict[int, dict[date, int]] = {}
            # The days already holding a digest, per (guardian, channel): indexed once, not scanned for each
            # guardian (that scan made a publish quadratic in the school's size when the daily limit is in play).
            digest_days: dict[tuple[int, str], set[date]] = {}
            if urgency is Urgency.NORMAL:
                load, digest_days = await fanout.daily_load(charter, members, day_start)
            # Where a notice goes under the daily limit depends on the guardian only through their load, their
            # digest days and their slot: computed once for each of those (the charter's calendar walk took
            # 0.15 ms a guardian, more than the rest of the publish when the limit is in play).
            placements: dict[tuple[Any, ...], tuple[datetime, date] | None] = {}
            rows: list[fanout.DeliveryRow] = []
            for offset, g in enumerate(members):
                index = start + offset
                plan = plans[g]
                notice_id = notice_ids[g]
                if plan[0] is Channel.PORTAL:
                    # The inbox shows the notice at once, quiet hours or not (it rings nobody), but not before the
                    # sender's chosen time: the worker then marks that step delivered like any other.
                    state, due_at = _state_at(visible_at, now)
                    if state is DeliveryState.DUE:
                        state = DeliveryState.DELIVERED
                    shown = now if state is DeliveryState.DELIVERED else None
                    rows.append(
                        fanout.DeliveryRow(
                            notice_id, Channel.PORTAL, 0, state, due_at, sent_at=shown, delivered_at=shown
                        )
                    )
                profile = chunk.profiles[g]
                reachable = reachable_step([c.value for c in plan], routing.first_active_step(plan), profile.contacts)
                if reachable is None:  # the portal alone: the guardian stopped this topic, the inbox holds it
                    continue
                step, contact_id = reachable
                channel = plan[step]
                key = ""
                days = digest_days.get((g, channel.value), set())
                own_load = load.get(g, {})
                situation = (tuple(sorted(own_load.items())), frozenset(days), g % routing.DIGEST_SLOTS)
                if situation not in placements:
                    placements[situation] = routing.digest_placement(charter, first_due, own_load, days, urgency, g)
                placed = placements[situation]
                if placed is not None:
                    state, (due_at, day) = DeliveryState.HELD, placed
                    key = routing.digest_key(g, channel, day)
                    digested += 1
                elif first_due <= now:
                    state, due_at = DeliveryState.DUE, now
                else:
                    state = DeliveryState.HELD
                    due_at = routing.spread_release(charter, first_due, index, len(guardians), urgency)
                quiet_due = routing.after_quiet_hours(charter, due_at, profile.quiet, urgency)
                if quiet_due != due_at:  # the guardian's own quiet hours hold it a little longer
                    state, due_at = DeliveryState.HELD, quiet_due
                if state is DeliveryState.DUE:
                    due_count += 1
                else:
                    held_count += 1
                    held_until = due_at if held_until is None else min(held_until, due_at)
                rows.append(fanout.DeliveryRow(notice_id, channel, step, state, due_at, contact_id, key))
            await fanout.insert_deliveries(rows, now=now)
            deliveries += len(rows)
        if urgency is Urgency.EMERGENCY:
            await AuditEntry.create(
                at=now,
                actor_kind=ActorKind.STAFF,
                actor_id=actor_staff_id,
                action="message.emergency",
                subject_type="message",
                subject_id=str(message.id),
                details={"reason": message.urgency_reason, "notices": notices, "subject": message.subject},
            )
    # A reply slip's reminders are due rows too, created now so the worker only has to send them.
    if await ReplySlip.filter(message_id=message.id).exists():
        await schedule_reminders(message.id, now, charter=charter)
    return PublishResult(
        message_id=message.id,
        notices=notices,
        deliveries=deliveries,
        due=due_count,
        held=held_count,
        held_until=held_until,
        digested=digested,
    )


# ------------------------------------------------------------------------------------------------- the queue


async def publish_scheduled(now: datetime) -> int:
    """Turn the SCHEDULED messages whose ``scheduled_at`` has come into PUBLISHED; returns how many."""
    return await Message.filter(state=MessageState.SCHEDULED, scheduled_at__lte=now).update(
        state=MessageState.PUBLISHED, published_at=now
    )


async def _promote(now: datetime) -> None:
    await publish_scheduled(now)
    await Delivery.filter(state__in=(DeliveryState.HELD, DeliveryState.PLANNED), due_at__lte=now).update(
        state=DeliveryState.DUE
    )


async def due_deliveries(now: datetime, limit: int = 100) -> list[Delivery]:
    """The deliveries a worker may claim now, oldest due first.

    Scheduled messages whose time has come are published, and HELD and PLANNED rows whose time has come are
    promoted to DUE first (compare-and-set updates, so two callers promote each row once). Claiming (DUE to
    CLAIMED under a lease) is the worker's business; deliveries sharing a ``digest_key`` go as one message
    (:func:`digest_groups`).
    """
    await _promote(now)
    return await Delivery.filter(state=DeliveryState.DUE, due_at__lte=now).order_by("due_at", "id").limit(limit)


async def digest_groups(now: datetime) -> dict[str, list[int]]:
    """The due deliveries gathered into digests, ``{digest_key: [delivery ids]}``: each group goes to its
    guardian as one message. Promotes like :func:`due_deliveries`."""
    await _promote(now)
    rows = (
        await Delivery.filter(state=DeliveryState.DUE, due_at__lte=now)
        .exclude(digest_key="")
        .order_by("digest_key", "id")
        .values_list("digest_key", "id")
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for key, delivery_id in rows:
        groups[key].append(delivery_id)
    return dict(groups)


async def _move(delivery: Delivery, new: DeliveryState, **changes: Any) -> bool:
    """Move ``delivery`` to ``new`` if the rules allow it and nobody moved it meanwhile."""
    old = DeliveryState(delivery.state)
    if not routing.can_move(old, new):
        return False
    moved = await Delivery.filter(id=delivery.id, state=old).update(state=new, **changes)
    if moved:
        delivery.state = new
        for name, value in changes.items():
            setattr(delivery, name, value)
    return bool(moved)


async def _is_acknowledged(notice_id: int) -> bool:
    return await Acknowledgement.filter(notice_id=notice_id).exists()


def _due_state(
    charter: Charter, now: datetime, urgency: Urgency, quiet: QuietHours | None = None
) -> tuple[DeliveryState, datetime]:
    """A new step goes now, or when the charter and the guardian's own quiet hours allow it."""
    due = routing.after_quiet_hours(charter, routing.initial_due(charter, now, urgency), quiet, urgency)
    return _state_at(due, now)


async def record_outcome(
    delivery_id: int,
    *,
    now: datetime,
    ok: bool,
    provider_id: str = "",
    cost: Decimal = Decimal(0),
    segments: int = 0,
    error: str = "",
    error_kind: ErrorKind | None = None,
    delivered: bool = False,
    dead_contact: bool = False,
    charter: Charter | None = None,
    retry_after: float | None = None,
) -> Delivery:
    """Record what a channel or a provider callback says about a delivery; returns the delivery as stored.

    ``ok`` moves it to SENT (DELIVERED if ``delivered``); a failure moves it to FAILED. A move the rules refuse
    (a late SENT after DELIVERED, a repeated callback) is ignored. A transient failure (the default when
    ``error_kind`` is None) creates a retry of the same step after a growing wait; a permanent one, or the
    MAX_ATTEMPTS-th transient one, creates the next reachable step of the plan
    (FALLBACK) unless the notice was acknowledged. Reminders are not retried on another channel.
    ``dead_contact`` (the provider says the address can never work: a bounce, an unknown number, 410 Gone)
    marks the contact dead so no later plan uses it; a permanent failure alone does not (a refused route or a
    configuration error says nothing against the guardian's address). ``retry_after`` (seconds, the provider's
    429 ``Retry-After``) is a floor on a transient failure's retry wait: the retry waits at least that long.
    """
    charter = charter or school_charter()
    async with in_transaction():
        delivery = await Delivery.get(id=delivery_id)
        old = DeliveryState(delivery.state)
        counts_attempt = old in (DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE, DeliveryState.CLAIMED)
        attempts = delivery.attempts + 1 if counts_attempt else delivery.attempts
        changes: dict[str, Any] = {"attempts": attempts, "updated_at": now}
        if provider_id:
            changes["provider_id"] = provider_id
        if cost:
            changes["cost"] = cost
        if segments:
            changes["segments"] = segments
        if ok:
            new = DeliveryState.DELIVERED if delivered else DeliveryState.SENT
            changes["sent_at"] = delivery.sent_at or now
            if delivered:
                changes["delivered_at"] = now
            await _move(delivery, new, **changes)
            return delivery

        kind = ErrorKind(error_kind) if error_kind is not None else ErrorKind.TRANSIENT
        changes.update(error=error, error_kind=kind)
        if not await _move(delivery, DeliveryState.FAILED, **changes):
            return delivery
        if kind is ErrorKind.TRANSIENT and attempts < MAX_ATTEMPTS:
            notice = await Notice.get(id=delivery.notice_id).prefetch_related("message")
            # Full backoff with jitter: after a provider outage, thousands of retries must not all come back in
            # the same second (the thundering herd that would trip its rate limit again).
            wait = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX) * random.uniform(0.75, 1.0)
            if retry_after is not None and retry_after > 0:  # the provider said when: never come back sooner
                wait = max(wait, timedelta(seconds=retry_after))
            await Delivery.create(
                notice_id=delivery.notice_id,
                channel=delivery.channel,
                step=delivery.step,
                purpose=delivery.purpose,
                state=DeliveryState.PLANNED,
                contact_id=delivery.contact_id,
                due_at=next_allowed(charter, now + wait, notice.message.urgency),
                attempts=attempts,
                digest_key=delivery.digest_key,
            )
            return delivery
        if dead_contact and delivery.contact_id is not None:
            await Contact.filter(id=delivery.contact_id, dead_at__isnull=True).update(
                dead_at=now, dead_reason=(error or "permanent failure")[:500]
            )
        if DeliveryPurpose(delivery.purpose) is DeliveryPurpose.REMINDER:
            return delivery
        await _create_next_step(delivery, now=now, charter=charter, purpose=DeliveryPurpose.FALLBACK)
    return delivery


async def _create_next_step(
    delivery: Delivery, *, now: datetime, charter: Charter, purpose: DeliveryPurpose
) -> Delivery | None:
    """The next reachable step after ``delivery``'s, unless acknowledged or already under way."""
    notice_id: int = delivery.notice_id
    if await _is_acknowledged(notice_id):
        return None
    notice = await Notice.get(id=notice_id).prefetch_related("message")
    later = await Delivery.filter(notice_id=notice_id, purpose__in=_PLAN_PURPOSES, step__gt=delivery.step).exists()
    if later:
        return None
    plan = list(notice.plan)
    contacts = (await _contacts([notice.guardian_id])).get(notice.guardian_id, ())
    reachable = reachable_step(plan, routing.next_step(plan, delivery.step, acknowledged=False), contacts)
    if reachable is None:
        return None
    step, contact_id = reachable
    quiet = (await _quiet_hours([notice.guardian_id])).get(notice.guardian_id)
    state, due_at = _due_state(charter, now, Urgency(notice.message.urgency), quiet)
    return await Delivery.create(
        notice_id=notice_id,
        channel=Channel(plan[step]),
        step=step,
        purpose=purpose,
        state=state,
        due_at=due_at,
        contact_id=contact_id,
    )


# ------------------------------------------------------------------------------------ acknowledgement, answer


async def _acknowledge(notice: Notice, channel: Channel, now: datetime) -> bool:
    _ack, created = await Acknowledgement.get_or_create(notice_id=notice.id, defaults={"at": now, "channel": channel})
    if notice.first_read_at is None:
        await Notice.filter(id=notice.id, first_read_at__isnull=True).update(first_read_at=now)
    # The steps not yet handed to a provider are no longer needed; reminders are about answering, they stay.
    await Delivery.filter(notice_id=notice.id, state__in=_PENDING, purpose__in=_PLAN_PURPOSES).update(
        state=DeliveryState.CANCELLED, updated_at=now
    )
    return created


async def record_acknowledgement(notice_id: int, *, channel: Channel, now: datetime) -> bool:
    """The guardian says "I have read". Idempotent: True the first time only. Cancels the notice's pending
    plan steps (PLANNED, HELD or DUE escalations and fallbacks, a held first step)."""
    async with in_transaction():
        notice = await Notice.get_or_none(id=notice_id)
        if notice is None:
            raise PlanningError(f"no notice {notice_id}")
        return await _acknowledge(notice, Channel(channel), now)


async def _answerable(notice_ids: Iterable[int]) -> dict[int, tuple[int, frozenset[int]]]:
    """``{notice_id: (guardian_id, the notice's pupils this guardian may answer for)}``."""
    ids = list(notice_ids)
    if not ids:
        return {}
    rows = await NoticePupil.filter(notice_id__in=ids).values("notice_id", "pupil_id", "notice__guardian_id")
    pupils = {row["pupil_id"] for row in rows}
    guardians = {row["notice__guardian_id"] for row in rows}
    allowed = set(
        await Guardianship.filter(
            pupil_id__in=list(pupils), guardian_id__in=list(guardians), may_answer=True, barred=False
        ).values_list("guardian_id", "pupil_id")
    )
    found: dict[int, tuple[int, set[int]]] = {}
    for row in rows:
        entry = found.setdefault(row["notice_id"], (row["notice__guardian_id"], set()))
        if (row["notice__guardian_id"], row["pupil_id"]) in allowed:
            entry[1].add(row["pupil_id"])
    return {notice: (guardian, frozenset(p)) for notice, (guardian, p) in found.items()}


async def _needing_reminder(slip: ReplySlip, notice_ids: Iterable[int]) -> dict[int, bool]:
    answered = await SlipResponse.filter(slip_id=slip.id).values_list("pupil_id", "guardian_id")
    pupils_answered = {pupil for pupil, _g in answered}
    guardians_answered = {guardian for _p, guardian in answered}
    return {
        notice: bool(pupils)
        and routing.needs_reminder(AnswerMode(slip.answer_mode), pupils_answered, guardians_answered, pupils, guardian)
        for notice, (guardian, pupils) in (await _answerable(notice_ids)).items()
    }


async def record_answer(
    notice_id: int,
    pupil_id: int,
    answers: Mapping[str, Any],
    *,
    channel: Channel,
    now: datetime,
    signed_name: str = "",
    recorded_by_staff_id: int | None = None,
    late_ok: bool = False,
    charter: Charter | None = None,
) -> SlipResponse:
    """Store a guardian's answers to a reply slip for one pupil of their notice (a second answer replaces the
    first), then cancel the reminders no longer needed, for this guardian and, one answer per pupil, for the
    other guardians of the pupil. Answering proves reading: it also acknowledges the notice.

    Raises PlanningError if the message has no slip, the slip's deadline has passed (unless ``late_ok``: a
    secretary recording a paper slip that came back late), the pupil is not named by the notice, or the
    guardian may not answer for the pupil (no right to answer, or barred); :class:`AlreadyAnswered` when the
    slip takes one answer per pupil and another guardian gave it (a guardian may change their own).
    """
    async with in_transaction():
        notice = await Notice.get_or_none(id=notice_id)
        if notice is None:
            raise PlanningError(f"no notice {notice_id}")
        guardian_id: int = notice.guardian_id
        slip = await ReplySlip.get_or_none(message_id=notice.message_id)
        if slip is None:
            raise PlanningError(f"the message of notice {notice_id} has no reply slip")
        if now > slip.deadline and not late_ok:
            tz = (charter or school_charter()).tz
            closed = slip.deadline.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            raise PlanningError(f"the reply slip closed on {closed} ({tz.key}): a late answer needs late_ok=True")
        if not await NoticePupil.filter(notice_id=notice_id, pupil_id=pupil_id).exists():
            raise PlanningError(f"pupil {pupil_id} is not named by notice {notice_id}")
        if not await Guardianship.filter(
            pupil_id=pupil_id, guardian_id=guardian_id, may_answer=True, barred=False
        ).exists():
            raise PlanningError(f"guardian {guardian_id} may not answer for pupil {pupil_id}")
        if AnswerMode(slip.answer_mode) is AnswerMode.ONE_PER_PUPIL:
            # One answer closes the slip for the pupil: lock the pupil's row so two parents answering at the
            # same moment (two workers on PostgreSQL) are taken one after the other, and the second is refused.
            await Pupil.filter(id=pupil_id).select_for_update().first()
            other = await SlipResponse.filter(slip_id=slip.id, pupil_id=pupil_id).exclude(guardian_id=guardian_id)
            if other:
                raise AlreadyAnswered(other[0])
        values = {
            "notice_id": notice_id,
            "answers": dict(answers),
            "signed_name": signed_name,
            "channel": Channel(channel),
            "recorded_by_id": recorded_by_staff_id,
            "at": now,
        }
        response, created = await SlipResponse.get_or_create(
            slip_id=slip.id, guardian_id=guardian_id, pupil_id=pupil_id, defaults=values
        )
        if not created:
            await SlipResponse.filter(id=response.id).update(**values)
            response = await SlipResponse.get(id=response.id)
        await _acknowledge(notice, Channel(channel), now)
        for listener in _ANSWER_LISTENERS:
            await listener(response, now)

        if AnswerMode(slip.answer_mode) is AnswerMode.ONE_PER_PUPIL:
            affected = await ids_of(
                NoticePupil.filter(pupil_id=pupil_id, notice__message_id=notice.message_id),
                "notice_id",
            )
        else:
            affected = [notice_id]
        done = [n for n, needed in (await _needing_reminder(slip, affected)).items() if not needed]
        if done:
            await Delivery.filter(notice_id__in=done, purpose=DeliveryPurpose.REMINDER, state__in=_PENDING).update(
                state=DeliveryState.CANCELLED, updated_at=now
            )
    return response


# ------------------------------------------------------------------------------------ escalation, reminders


def _own_wait(minutes: int) -> timedelta:
    return timedelta(minutes=max(0, minutes))


async def due_escalations(
    now: datetime, *, charter: Charter | None = None, wait: timedelta | None = None
) -> list[Delivery]:
    """Create the next step of every notice that asked for an acknowledgement and got none ``wait`` after its
    latest step was sent (by default the message's ``escalation_wait_minutes``, or if null ESCALATION_WAITS of
    its urgency). After the last electronic
    channel comes the letter: its DUE rows are the secretary's paper list. Returns the rows created.

    Safe to run repeatedly: a notice whose chain already moved past the step is left alone.
    """
    charter = charter or school_charter()
    if wait is not None:
        shortest = wait
    else:
        shortest = min(ESCALATION_WAITS.values())
        # The first row's value, or None (Tortoise's stubs type it as a tuple).
        own = cast(
            int | None,
            await Message.filter(
                state=MessageState.PUBLISHED, needs_acknowledgement=True, escalation_wait_minutes__isnull=False
            )
            .order_by("escalation_wait_minutes")
            .first()
            .values_list("escalation_wait_minutes", flat=True),
        )
        if own is not None:
            shortest = min(shortest, _own_wait(own))
    latest, contacts, quiet = await _escalation_candidates(now - shortest)
    if not latest:
        return []

    created: list[Delivery] = []
    for notice_id, row in latest.items():
        urgency = Urgency(row["urgency"])
        own_wait = row["escalation_wait_minutes"]
        if wait is not None:
            step_wait = wait
        elif own_wait is not None:
            step_wait = _own_wait(own_wait)
        else:
            step_wait = ESCALATION_WAITS[urgency]
        if routing.escalation_due(charter, row["sent_at"], step_wait, urgency) > now:
            continue
        plan = list(row["plan"])
        guardian = row["guardian_id"]
        nxt = routing.next_step(plan, row["step"], acknowledged=False)
        reachable = reachable_step(plan, nxt, contacts.get(guardian, ()))
        if reachable is None:
            continue
        step, contact_id = reachable
        state, due_at = _due_state(charter, now, urgency, quiet.get(guardian))
        created.append(
            Delivery(
                notice_id=notice_id,
                channel=Channel(plan[step]),
                step=step,
                purpose=DeliveryPurpose.ESCALATION,
                state=state,
                due_at=due_at,
                contact_id=contact_id,
            )
        )
    if created:
        await Delivery.bulk_create(created)
    return created


#: The latest step sent of every notice still waiting for an acknowledgement: published, asking for one, not
#: acknowledged, and no later step of its plan created (in any state). A notice leaves this set as soon as it is
#: acknowledged or escalated, so a pass reads what may be due, not the history; and the queries' arguments are
#: fixed, whatever the number of notices (joins, no id list).
_WAITING = """
FROM delivery d
JOIN notice n ON n.id = d.notice_id
JOIN message m ON m.id = n.message_id
WHERE m.needs_acknowledgement = $1 AND m.state = $2
  AND d.purpose IN ($3, $4, $5) AND d.state IN ($6, $7)
  AND d.channel NOT IN ($8, $9) AND d.sent_at <= $10
  AND NOT EXISTS (SELECT 1 FROM acknowledgement a WHERE a.notice_id = d.notice_id)
  AND NOT EXISTS (
    SELECT 1 FROM delivery l WHERE l.notice_id = d.notice_id AND l.purpose IN ($3, $4, $5) AND l.step > d.step
  )
"""
_ESCALATION_CANDIDATES = (
    "SELECT d.notice_id, d.step, d.sent_at, m.urgency, m.escalation_wait_minutes, n.plan, n.guardian_id, "
    "g.quiet_from, g.quiet_until " + _WAITING.replace("WHERE", "JOIN guardian g ON g.id = n.guardian_id\nWHERE", 1)
)
_ESCALATION_CONTACTS = (
    "SELECT c.id, c.guardian_id, c.kind, c.value, c.verified, c.dead_at FROM contact c "
    "WHERE c.guardian_id IN (SELECT n.guardian_id " + _WAITING + ") ORDER BY c.guardian_id, c.id"
)


def _time_of(value: Any) -> time | None:
    return time.fromisoformat(value) if isinstance(value, str) else value


async def _escalation_candidates(
    sent_before: datetime,
) -> tuple[dict[int, dict[str, Any]], dict[int, tuple[routing.ContactInfo, ...]], dict[int, QuietHours]]:
    """``{notice_id: its latest step sent at or before sent_before, with its message's urgency and wait}``, the
    contacts of those notices' guardians and their quiet hours: two queries, whatever their number."""
    params = [
        True,
        MessageState.PUBLISHED.value,
        *(purpose.value for purpose in _PLAN_PURPOSES),
        DeliveryState.SENT.value,
        DeliveryState.DELIVERED.value,
        Channel.PORTAL.value,
        Channel.LETTER.value,
        sent_before,
    ]
    latest: dict[int, dict[str, Any]] = {}
    quiet: dict[int, QuietHours] = {}
    for row in await sql.query(_ESCALATION_CANDIDATES, params):
        if row["notice_id"] not in latest or row["step"] > latest[row["notice_id"]]["step"]:
            row["sent_at"] = sql.as_datetime(row["sent_at"])
            row["plan"] = sql.as_json(row["plan"])
            latest[row["notice_id"]] = row
        hours = _quiet_of(_time_of(row["quiet_from"]), _time_of(row["quiet_until"]))
        if hours is not None:
            quiet[row["guardian_id"]] = hours
    if not latest:
        return {}, {}, {}
    contacts = _contact_infos(await sql.query(_ESCALATION_CONTACTS, params))
    return latest, contacts, quiet


async def schedule_reminders(message_id: int, now: datetime, *, charter: Charter | None = None) -> int:
    """Create the REMINDER deliveries of a message's reply slip: at each of the slip's ``reminder_hours`` before
    the deadline (moved into allowed hours, dropped if past or too late), on the first active channel of every
    notice whose guardian may answer and still has to. PLANNED rows, promoted when due, cancelled when the
    answer comes in. Safe to run again (after a deadline change): an existing reminder at the same time is
    not duplicated. Returns the number of rows created."""
    charter = charter or school_charter()
    slip = await ReplySlip.get_or_none(message_id=message_id).prefetch_related("message")
    if slip is None:
        return 0
    urgency = Urgency(slip.message.urgency)
    times = routing.reminder_times(charter, slip.deadline, [float(h) for h in slip.reminder_hours], now, urgency)
    if not times:
        return 0
    notices = {row["id"]: row for row in await Notice.filter(message_id=message_id).values("id", "plan", "guardian_id")}
    needed = await _needing_reminder(slip, notices)
    existing = set(
        await Delivery.filter(notice__message_id=message_id, purpose=DeliveryPurpose.REMINDER).values_list(
            "notice_id", "due_at"
        )
    )
    contacts = await _contacts({row["guardian_id"] for row in notices.values()})
    rows: list[Delivery] = []
    for notice_id, row in notices.items():
        if not needed.get(notice_id):
            continue
        plan = list(row["plan"])
        reachable = reachable_step(plan, routing.first_active_step(plan), contacts.get(row["guardian_id"], ()))
        if reachable is None:
            continue
        step, contact_id = reachable
        for at in times:
            if (notice_id, at) in existing:
                continue
            rows.append(
                Delivery(
                    notice_id=notice_id,
                    channel=Channel(plan[step]),
                    step=step,
                    purpose=DeliveryPurpose.REMINDER,
                    state=DeliveryState.PLANNED,
                    due_at=at,
                    contact_id=contact_id,
                )
            )
    if rows:
        await Delivery.bulk_create(rows)
    return len(rows)
