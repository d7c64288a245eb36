"""Sending what is due: claim, render, send through the adapters, record. One pass; the worker loops over it.

Letters are not sent here: a DUE letter stays on the paper list (``hub.messaging.paper``) until the secretary prints the
batch. The portal needs no sending (its step is DELIVERED when the notice is made). A channel the school has not
configured fails permanently, so the notice falls back to the next channel of its plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.expressions import F
from tortoise.functions import Count

from channels.base import ChannelAdapter, Envelope, Outcome
from charter import Charter, school_charter
from hub import clock
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


async def _record(delivery: Delivery, outcome: Outcome, now: datetime, *, worker_id: str) -> None:
    """Record one send the moment its outcome is known.

    An accepted send of a delivery this worker still holds is one conditional UPDATE (CLAIMED to SENT or
    DELIVERED, the attempt counted), the same move as :func:`planning.record_outcome` makes for it, without its
    transaction and read: this runs once per message. Anything else (a failure, which plans a retry or the next
    step, or a delivery no longer held as claimed) goes through ``record_outcome`` and its rules.
    """
    new = DeliveryState.DELIVERED if outcome.state == DeliveryState.DELIVERED else DeliveryState.SENT
    if outcome.ok and can_move(DeliveryState.CLAIMED, new):
        changes: dict[str, Any] = {"sent_at": now, "updated_at": now}
        if outcome.provider_id:
            changes["provider_id"] = outcome.provider_id
        if outcome.cost:
            changes["cost"] = outcome.cost
        if outcome.segments:
            changes["segments"] = outcome.segments
        if new is DeliveryState.DELIVERED:
            changes["delivered_at"] = now
        moved = await Delivery.filter(id=delivery.id, state=DeliveryState.CLAIMED, claimed_by=worker_id).update(
            state=new, attempts=F("attempts") + 1, **changes
        )
        if moved:
            return
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
) -> DispatchReport:
    """Claim what is due (one batch), then send each delivery and record it as soon as its outcome is known.

    One message at a time: ``send`` is given one envelope, and the next one leaves only once the outcome of the
    previous is recorded. So a process killed outright (SIGKILL) during a pass leaves at most one message sent
    but not recorded, the one in flight, which goes again once its lease has expired (:func:`reclaim_expired`).
    Run passes side by side (the worker's loops) for throughput. When ``stop`` is set, the message being sent
    finishes and is recorded; the deliveries not started are released (DUE again, see :func:`release`) and
    counted in ``report.released``.
    """
    report = DispatchReport()
    claimed = await claim(now, worker_id=worker_id, limit=limit, lease=lease)
    report.claimed = len(claimed)
    if not claimed:
        return report
    views = await notice_views(claimed, base_url)
    contacts = dict(
        await Contact.filter(id__in=[d.contact_id for d in claimed if d.contact_id]).values_list("id", "value")
    )
    send = send or _plain_send
    digests, digested = digest_batches(claimed), set[int]()
    for done, delivery in enumerate(claimed):
        if stop is not None and stop.is_set():
            report.released = await release([d.id for d in claimed[done:]], worker_id=worker_id)
            break
        if delivery.id in digested:
            continue
        if delivery.digest_key in digests:
            members = digests.pop(delivery.digest_key)
            digested.update(d.id for d in members)
            await send_digest(
                members, adapters, views, contacts, send=send, now=now, worker_id=worker_id, report=report
            )
            continue
        channel = Channel(delivery.channel)
        adapter = adapters.get(channel)
        if adapter is None:
            outcome = Outcome.permanent(f"the {channel} channel is not configured")
        else:
            rendered = render(views[delivery.notice_id], channel)
            envelope = Envelope(
                contacts.get(delivery.contact_id, ""),
                dataclasses.replace(rendered, idempotency_key=f"delivery-{delivery.id}"),
            )
            (outcome,) = await send(channel, adapter, [envelope])
        await _record(delivery, outcome, now, worker_id=worker_id)
        report.by_channel[str(channel)] += 1
        if outcome.ok:
            report.sent += 1
        else:
            report.failed += 1
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
    for delivery in members:
        await _record(delivery, outcome, now, worker_id=worker_id)
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
