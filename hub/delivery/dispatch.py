"""Sending what is due: claim, render, send through the adapters, record. One pass; the worker loops over it.

Letters are not sent here: a DUE letter stays on the paper list (``hub.messaging.paper``) until the secretary prints the
batch. The portal needs no sending (its step is DELIVERED when the notice is made). A channel the school has not
configured fails permanently, so the notice falls back to the next channel of its plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.functions import Count

from channels.base import ChannelAdapter, Envelope, Outcome
from charter import Charter, school_charter
from hub import clock
from hub.delivery.renders import render_email
from hub.enums import Channel, DeliveryState
from hub.messaging import planning
from hub.messaging.digest import render_digest
from hub.messaging.links import notice_views
from hub.messaging.models import Delivery
from hub.messaging.planning import LEASE
from hub.messaging.rendering import render
from hub.messaging.routing import can_move
from hub.people.models import Contact
from hub.records import grade_notices
from hub.store import sql

#: Channels a worker never sends: the portal is an inbox, letters are printed from the paper list.
NOT_SENT = frozenset({Channel.PORTAL, Channel.LETTER})


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    #: Claimed but not started when asked to stop: given back (DUE again).
    released: int = 0
    by_channel: dict[str, int] = field(default_factory=lambda: defaultdict(int))


#: PostgreSQL: one statement takes a batch; ``SKIP LOCKED`` lets concurrent workers take disjoint batches
#: without waiting on each other's row locks (the compare-and-set path would make them collide on the same rows).
_PG_CLAIM = (
    "UPDATE delivery SET state='claimed', claimed_by=$1, lease_until=$2, updated_at=$3 WHERE id IN ("
    "SELECT id FROM delivery WHERE state='due' AND due_at <= $3 AND channel NOT IN ('portal','letter') "
    "ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id"
)


def _is_postgres() -> bool:
    return Tortoise.get_connection("default").capabilities.dialect == "postgres"


async def claim(now: datetime, *, worker_id: str, limit: int = 200, lease: timedelta | None = None) -> list[Delivery]:
    """Take up to ``limit`` due deliveries under a lease; two workers never share one.

    PostgreSQL: ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING id``, so several worker
    processes claim disjoint batches in one round trip. SQLite (one writer anyway): a compare-and-set update.
    """
    lease_until = now + (lease or LEASE)
    if _is_postgres():
        await planning.due_deliveries(now, limit=1)  # promotes HELD/PLANNED rows whose time has come
        # execute_query_dict: Tortoise's execute_query drops the rows of an UPDATE ... RETURNING.
        rows = await Tortoise.get_connection("default").execute_query_dict(
            _PG_CLAIM, [worker_id, lease_until, now, limit]
        )
        ids = [row["id"] for row in rows]
        if not ids:
            return []
        return await Delivery.filter(id__in=ids).order_by("due_at", "id")
    due = [d for d in await planning.due_deliveries(now, limit=limit) if d.channel not in NOT_SENT]
    if not due:
        return []
    await Delivery.filter(id__in=[d.id for d in due], state=DeliveryState.DUE).update(
        state=DeliveryState.CLAIMED, claimed_by=worker_id, lease_until=lease_until
    )
    return await Delivery.filter(
        id__in=[d.id for d in due], state=DeliveryState.CLAIMED, claimed_by=worker_id, lease_until=lease_until
    ).order_by("due_at", "id")


async def reclaim_expired(now: datetime) -> int:
    """Put CLAIMED deliveries whose lease ran out back to DUE, and say how many.

    This is the one backward move of a delivery (``routing.can_move`` does not allow CLAIMED to DUE, hence the
    direct update): the worker holding it died (killed, machine lost) between claim and record. ``attempts``
    stays as it is: the attempt is counted when an outcome is recorded. The provider may have accepted the
    message before the crash, so a reclaimed delivery can reach the guardian twice; the ``delivery-<id>``
    idempotency key (the email's Message-ID) lets a provider or a mail client drop the second copy.
    """
    return await Delivery.filter(state=DeliveryState.CLAIMED, lease_until__lt=now).update(
        state=DeliveryState.DUE, claimed_by="", lease_until=None, updated_at=now
    )


async def release(ids: Sequence[int], *, worker_id: str, now: datetime | None = None) -> int:
    """Give back deliveries this worker claimed but did not start (a clean stop): DUE again, unclaimed.

    The same backward move as :func:`reclaim_expired`, by the holder itself, so nobody waits for the lease."""
    if not ids:
        return 0
    return await Delivery.filter(id__in=list(ids), state=DeliveryState.CLAIMED, claimed_by=worker_id).update(
        state=DeliveryState.DUE, claimed_by="", lease_until=None, updated_at=now or clock.now()
    )


async def progress(message_id: int) -> dict[str, int]:
    """How the deliveries of a message stand: ``{state: count}`` (states with no delivery left out)."""
    rows = (
        await Delivery.filter(notice__message_id=message_id)
        .annotate(n=Count("id"))
        .group_by("state")
        .values_list("state", "n")
    )
    return {str(state): int(n) for state, n in rows}


#: One statement records a batch of accepted sends still held by their worker: CLAIMED to SENT or DELIVERED, the
#: attempt counted, the provider's id kept. The batch is one argument (arrays on PostgreSQL, a JSON list on
#: SQLite), so the statement's arguments stay fixed whatever its size; it returns the rows it moved.
_PG_SENT = (
    "UPDATE delivery AS d SET state = v.state, attempts = d.attempts + 1, sent_at = v.at, updated_at = v.at, "
    "delivered_at = CASE WHEN v.state = 'delivered' THEN v.at ELSE d.delivered_at END, "
    "provider_id = CASE WHEN v.provider_id <> '' THEN v.provider_id ELSE d.provider_id END "
    "FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[]) "
    "AS v(id, state, at, provider_id, claimed_by) "
    "WHERE d.id = v.id AND d.state = 'claimed' AND d.claimed_by = v.claimed_by RETURNING d.id"
)
_SQLITE_SENT = (
    "UPDATE delivery SET state = v.state, attempts = delivery.attempts + 1, sent_at = v.at, updated_at = v.at, "
    "delivered_at = CASE WHEN v.state = 'delivered' THEN v.at ELSE delivery.delivered_at END, "
    "provider_id = CASE WHEN v.provider_id <> '' THEN v.provider_id ELSE delivery.provider_id END "
    "FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS state, "
    "json_extract(value, '$[2]') AS at, json_extract(value, '$[3]') AS provider_id, "
    "json_extract(value, '$[4]') AS claimed_by FROM json_each($1)) AS v "
    "WHERE delivery.id = v.id AND delivery.state = 'claimed' AND delivery.claimed_by = v.claimed_by "
    "RETURNING delivery.id"
)
#: The longest provider id the column holds (``Delivery.provider_id``); a longer one takes the ORM's path.
_PROVIDER_ID_MAX = 200


@dataclass
class _Accepted:
    """An accepted send waiting for the next batch statement; ``moved`` once written (False: no longer held)."""

    delivery_id: int
    state: DeliveryState
    at: datetime
    provider_id: str
    worker_id: str
    moved: bool | None = None
    error: BaseException | None = None


def _batched(outcome: Outcome) -> DeliveryState | None:
    """The state an outcome moves a claimed delivery to in a batch, or None when it takes the ORM's path: a failure
    (a retry or the plan's next step to create), a cost or segments to keep (SMS), an overlong provider id."""
    new = DeliveryState.DELIVERED if outcome.state == DeliveryState.DELIVERED else DeliveryState.SENT
    if not outcome.ok or outcome.cost or outcome.segments or len(outcome.provider_id) > _PROVIDER_ID_MAX:
        return None
    return new if can_move(DeliveryState.CLAIMED, new) else None


async def _write_accepted(batch: Sequence[_Accepted]) -> set[int]:
    """One UPDATE for the whole batch; the ids it moved."""
    if len(batch) == 1:  # a lone send (one loop, a quiet moment): the same move, a statement simpler to plan
        (one,) = batch
        params: list[Any] = [one.delivery_id, one.worker_id, str(one.state), one.at]
        sets = "state = $3, attempts = attempts + 1, sent_at = $4, updated_at = $4"
        if one.state is DeliveryState.DELIVERED:
            sets += ", delivered_at = $4"
        if one.provider_id:
            params.append(one.provider_id)
            sets += ", provider_id = $5"
        rows = await sql.query(
            f"UPDATE delivery SET {sets} WHERE id = $1 AND state = 'claimed' AND claimed_by = $2 RETURNING id", params
        )
    elif sql.is_postgres():
        rows = await sql.query(
            _PG_SENT,
            [
                [a.delivery_id for a in batch],
                [str(a.state) for a in batch],
                [a.at for a in batch],
                [a.provider_id for a in batch],
                [a.worker_id for a in batch],
            ],
        )
    else:  # SQLite keeps times as the ORM writes them: ISO text in UTC
        values = [
            [a.delivery_id, str(a.state), a.at.astimezone(UTC).isoformat(" "), a.provider_id, a.worker_id]
            for a in batch
        ]
        rows = await sql.query(_SQLITE_SENT, [json.dumps(values)])
    return {int(row["id"]) for row in rows}


class Recorder:
    """Records the outcomes of sends as they are known, the accepted ones in batches (a group commit).

    Every accepted send that arrives while a batch statement is being written goes into the next one, and each
    caller returns only once its own outcome is written. So the loops of a worker process share one statement
    per batch instead of one transaction each, and a loop still sends its next message only after its last one
    is recorded: a process killed outright leaves at most one sent-but-unrecorded message per loop.

    A delivery no longer held (its lease expired and another worker took it back) and every failure go through
    :func:`planning.record_outcome` and its rules, one at a time. ``statements`` counts the batch statements,
    ``one_by_one`` the outcomes recorded through ``record_outcome``.
    """

    def __init__(self) -> None:
        self._pending: list[_Accepted] = []
        self._lock = asyncio.Lock()
        self.statements = 0
        self.one_by_one = 0

    async def record(self, sends: Sequence[tuple[Delivery, Outcome]], now: datetime, *, worker_id: str) -> None:
        accepted: list[_Accepted] = []
        for delivery, outcome in sends:
            new = _batched(outcome)
            if new is not None:
                accepted.append(_Accepted(delivery.id, new, now, outcome.provider_id, worker_id))
        if accepted:
            self._pending.extend(accepted)
            async with self._lock:
                if accepted[0].moved is None and accepted[0].error is None:  # not written by an earlier holder
                    batch, self._pending = self._pending, []
                    self.statements += 1
                    try:
                        moved = await _write_accepted(batch)
                    except Exception as exc:  # each caller of the batch fails as its own write would have
                        for item in batch:
                            item.error = exc
                    else:
                        for item in batch:
                            item.moved = item.delivery_id in moved
            for item in accepted:
                if item.error is not None:
                    raise item.error
        written = {item.delivery_id for item in accepted if item.moved}
        for delivery, outcome in sends:
            if delivery.id not in written:
                self.one_by_one += 1
                await _record_one(delivery, outcome, now)


async def _record_one(delivery: Delivery, outcome: Outcome, now: datetime) -> None:
    await planning.record_outcome(
        delivery.id,
        now=now,
        ok=outcome.ok,
        provider_id=outcome.provider_id,
        cost=outcome.cost,
        segments=outcome.segments,
        error=outcome.error,
        error_kind=outcome.error_kind,
        delivered=outcome.state == DeliveryState.DELIVERED,
        dead_contact=outcome.dead_contact,
        retry_after=outcome.retry_after,
    )


#: Sends a channel's envelopes (``dispatch_due`` gives one at a time) through its adapter, one outcome each; the
#: worker passes one that applies per-provider limits.
Sender = Callable[[Channel, ChannelAdapter, list[Envelope]], Awaitable[list[Outcome]]]


async def _plain_send(channel: Channel, adapter: ChannelAdapter, envelopes: list[Envelope]) -> list[Outcome]:
    return await adapter.send_batch(envelopes)


async def dispatch_due(
    adapters: Mapping[Channel, ChannelAdapter],
    *,
    now: datetime,
    base_url: str,
    worker_id: str = "local",
    limit: int = 200,
    lease: timedelta | None = None,
    send: Sender | None = None,
    stop: asyncio.Event | None = None,
    recorder: Recorder | None = None,
    in_flight: int = 1,
) -> DispatchReport:
    """Claim what is due (one batch), then send each delivery and record it as soon as its outcome is known.

    ``in_flight`` messages at a time (default one), each over its own connection: ``send`` is given one envelope,
    and the slot that sent it takes the next only once its outcome is recorded. So a process killed outright
    (SIGKILL) during a pass leaves at most ``in_flight`` messages sent but not recorded, those in flight, which go
    again once their lease has expired (:func:`reclaim_expired`), never a whole batch. When ``stop`` is set, the
    messages being sent finish and are recorded; the deliveries not started are released (DUE again, see
    :func:`release`) and counted in ``report.released``. ``recorder``: the :class:`Recorder` shared by the worker's
    loops, so that the sends accepted meanwhile are written by one statement (by default, this pass's own).
    """
    report = DispatchReport()
    recorder = recorder or Recorder()
    claimed = await claim(now, worker_id=worker_id, limit=limit, lease=lease)
    report.claimed = len(claimed)
    if not claimed:
        return report
    views = await notice_views(claimed, base_url)
    contacts = dict(
        await Contact.filter(id__in=[d.contact_id for d in claimed if d.contact_id]).values_list("id", "value")
    )
    send = send or _plain_send
    # What leaves as one message: a delivery, or the members of one digest.
    digests, digested = digest_batches(claimed), set[int]()
    units: deque[list[Delivery]] = deque()
    for delivery in claimed:
        if delivery.id in digested:
            continue
        if delivery.digest_key in digests:
            members = digests.pop(delivery.digest_key)
            digested.update(d.id for d in members)
            units.append(members)
        else:
            units.append([delivery])

    async def one(delivery: Delivery) -> None:
        channel = Channel(delivery.channel)
        adapter = adapters.get(channel)
        if adapter is None:
            outcome = Outcome.permanent(f"the {channel} channel is not configured")
        else:
            view = views[delivery.notice_id]
            rendered = render_email(view) if channel is Channel.EMAIL else render(view, channel)
            envelope = Envelope(
                contacts.get(delivery.contact_id, ""),
                dataclasses.replace(rendered, idempotency_key=f"delivery-{delivery.id}"),
            )
            (outcome,) = await send(channel, adapter, [envelope])
        await recorder.record([(delivery, outcome)], now, worker_id=worker_id)
        report.by_channel[str(channel)] += 1
        if outcome.ok:
            report.sent += 1
        else:
            report.failed += 1

    async def slot() -> None:
        """Sends the next message, records it, then takes the next: one message in flight."""
        while units and not (stop is not None and stop.is_set()):
            unit = units.popleft()
            if len(unit) > 1:
                await send_digest(
                    unit,
                    adapters,
                    views,
                    contacts,
                    send=send,
                    now=now,
                    worker_id=worker_id,
                    report=report,
                    recorder=recorder,
                )
            else:
                await one(unit[0])

    if in_flight <= 1 or len(units) <= 1:
        await slot()
    else:
        slots = [asyncio.create_task(slot()) for _ in range(min(in_flight, len(units)))]
        try:
            await asyncio.gather(*slots)
        except BaseException:
            for task in slots:
                task.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
            raise
    if units:  # asked to stop: what was not started goes back
        report.released = await release([d.id for unit in units for d in unit], worker_id=worker_id)
    return report


def digest_batches(claimed: Sequence[Delivery]) -> dict[str, list[Delivery]]:
    """The claimed deliveries that leave as one digest (``hub.messaging.digest``): those sharing a ``digest_key``
    (one guardian, channel and day, held by the daily limit), two or more of them in this batch."""
    groups: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        if delivery.digest_key:
            groups[delivery.digest_key].append(delivery)
    return {key: members for key, members in groups.items() if len(members) > 1}


async def send_digest(
    members: Sequence[Delivery],
    adapters: Mapping[Channel, ChannelAdapter],
    views: Mapping[int, Any],
    contacts: Mapping[int | None, str],
    *,
    send: Sender,
    now: datetime,
    worker_id: str,
    report: DispatchReport,
    recorder: Recorder | None = None,
) -> None:
    """Send the deliveries of one digest as ONE message listing them all, in the guardian's language, and record
    its outcome for each of them (a failure walks each notice's plan as usual)."""
    first = members[0]
    channel = Channel(first.channel)
    adapter = adapters.get(channel)
    if adapter is None:
        outcome = Outcome.permanent(f"the {channel} channel is not configured")
    else:
        rendered = render_digest([views[d.notice_id] for d in members], channel)
        envelope = Envelope(
            contacts.get(first.contact_id, ""), dataclasses.replace(rendered, idempotency_key=f"delivery-{first.id}")
        )
        (outcome,) = await send(channel, adapter, [envelope])
    await (recorder or Recorder()).record([(d, outcome) for d in members], now, worker_id=worker_id)
    for _delivery in members:
        report.by_channel[str(channel)] += 1
        if outcome.ok:
            report.sent += 1
        else:
            report.failed += 1


log = logging.getLogger("carnet.dispatch")


async def notify_staff_of_replies(
    adapters: Mapping[Channel, ChannelAdapter], now: datetime, *, base_url: str, charter: Charter | None = None
) -> int:
    """Email staff the digest of the families' new replies (``hub.messaging.threads.notify_staff``), only inside the
    charter's staff hours, and the families the staff answers that waited for their hours
    (``hub.messaging.threads.notify_families``); nothing when email is not configured. Returns the staff digests
    sent."""
    from hub.messaging import threads  # the threads module renders with the page catalogues: imported only when used

    email = adapters.get(Channel.EMAIL)
    if email is None:
        return 0
    charter = charter or school_charter()
    await threads.notify_families(now, charter, email.send, base_url=base_url)
    return await threads.notify_staff(now, charter, email.send, base_url=base_url)


async def send_journal_digests(
    adapters: Mapping[Channel, ChannelAdapter], now: datetime, *, charter: Charter | None = None
) -> int:
    """The class journal's weekly digests (``hub.records.journal``): on the digest day inside the charter's hours,
    once per guardian and week, through the channels this worker sends on. Returns the messages published."""
    from hub.records import journal

    channels = frozenset({Channel.PORTAL, Channel.LETTER, *adapters})
    return await journal.send_weekly_digests(now, charter=charter, available_channels=channels)


async def run(
    adapters: Mapping[Channel, ChannelAdapter],
    *,
    base_url: str,
    stop: asyncio.Event,
    interval: float = 2.0,
    worker_id: str = "local",
    charter: Charter | None = None,
) -> None:
    """Dispatch passes until ``stop`` is set: the single worker of a one-school SQLite installation (the demo).

    Each pass first puts back the deliveries whose lease expired (:func:`reclaim_expired`), creates the
    escalation steps whose wait is over (``planning.due_escalations``) and tells staff of new replies inside
    their hours (:func:`notify_staff_of_replies`). A failing pass is logged and the loop goes on: one broken row
    must not stop a school's messages.
    """
    while not stop.is_set():
        try:
            now = clock.now()
            await reclaim_expired(now)
            await planning.due_escalations(now, charter=charter)
            await grade_notices.send_weekly_grade_notices(
                now, charter=charter, available_channels=frozenset({Channel.PORTAL, *adapters})
            )
            await notify_staff_of_replies(adapters, now, base_url=base_url, charter=charter)
            await send_journal_digests(adapters, now, charter=charter)
            report = await dispatch_due(adapters, now=now, base_url=base_url, worker_id=worker_id)
            if report.claimed:
                log.info("dispatched %s: %s sent, %s failed", report.claimed, report.sent, report.failed)
        except Exception:
            log.exception("dispatch pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


__all__ = [
    "DispatchReport",
    "Recorder",
    "Sender",
    "claim",
    "digest_batches",
    "dispatch_due",
    "progress",
    "reclaim_expired",
    "release",
    "run",
    "send_digest",
    "send_journal_digests",
]
