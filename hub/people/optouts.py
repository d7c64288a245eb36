"""A guardian's opt-outs as stored: stop or resume a topic on a channel or on every channel, from the portal, an
SMS keyword or the email's one-click unsubscribe; every change is audited (the topic and channel, never a
contact). The rules are :mod:`hub.people.optout_rules`; the router reads :func:`stops_of`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from tortoise.transactions import in_transaction

from hub.enums import UNSTOPPABLE_TOPICS, ActorKind, Channel, Topic
from hub.people.gdpr_models import OptOut
from hub.people.optout_rules import Stop
from hub.store.audit import audit

__all__ = ["STOPPABLE_CHANNELS", "replace_stops", "resume", "stop", "stops_of"]

#: The channels a topic can be stopped on one by one: those that ring. The portal is what replaces them and the
#: letter is what is left when nothing else is.
STOPPABLE_CHANNELS: tuple[Channel, ...] = (Channel.EMAIL, Channel.SMS, Channel.WEBPUSH, Channel.FCM, Channel.TELEGRAM)

_CHUNK = 500


def stop_of(topic: str, channel: str) -> Stop:
    """A stored stop (its topic, its channel or "" for every channel) as the router reads it."""
    return Topic(topic), Channel(channel) if channel else None


async def stops_of(guardian_ids: Iterable[int]) -> dict[int, frozenset[Stop]]:
    """The stops of many guardians (the router asks for a whole audience at once); absent: none."""
    ids = sorted(set(guardian_ids))
    found: dict[int, set[Stop]] = defaultdict(set)
    for start in range(0, len(ids), _CHUNK):
        rows = await OptOut.filter(guardian_id__in=ids[start : start + _CHUNK]).values_list(
            "guardian_id", "topic", "channel"
        )
        for guardian_id, topic, channel in rows:
            found[guardian_id].add(stop_of(topic, channel))
    return {guardian: frozenset(stops) for guardian, stops in found.items()}


async def _log(action: str, guardian_id: int, stops: Iterable[Stop], source: str, at: dt.datetime) -> None:
    listed = sorted(f"{topic}:{channel or 'all'}" for topic, channel in stops)
    if listed:
        await audit(
            action,
            at=at,
            actor_kind=ActorKind.GUARDIAN,
            actor_id=guardian_id,
            subject_type="guardian",
            subject_id=guardian_id,
            stops=listed,
            source=source,
        )


def _checked(topics: Iterable[Topic]) -> set[Topic]:
    wanted = {Topic(t) for t in topics}
    refused = wanted & UNSTOPPABLE_TOPICS
    if refused:
        raise ValueError(f"{sorted(refused)} cannot be stopped")
    return wanted


async def stop(
    guardian_id: int, topics: Iterable[Topic], channel: Channel | None, *, source: str, at: dt.datetime
) -> list[Stop]:
    """Stop ``topics`` on ``channel`` (None: every channel); the stops that were new. Unstoppable topics raise
    ``ValueError`` and nothing is stored."""
    wanted = _checked(topics)
    key = "" if channel is None else Channel(channel).value
    added: list[Stop] = []
    async with in_transaction():
        for topic in sorted(wanted):
            _row, created = await OptOut.get_or_create(
                guardian_id=guardian_id,
                topic=topic,
                channel=key,
                defaults={"source": source, "created_at": at},
            )
            if created:
                added.append((topic, channel))
        await _log("optout.stopped", guardian_id, added, source, at)
    return added


async def resume(
    guardian_id: int, topics: Iterable[Topic], channel: Channel, *, source: str, at: dt.datetime
) -> list[Stop]:
    """Resume ``topics`` on one ``channel``. A topic stopped on every channel stays stopped on the others (the
    stop is rewritten channel by channel). The stops removed."""
    wanted = {Topic(t) for t in topics} - UNSTOPPABLE_TOPICS
    channel = Channel(channel)
    removed: list[Stop] = []
    async with in_transaction():
        for topic in sorted(wanted):
            if await OptOut.filter(guardian_id=guardian_id, topic=topic, channel="").delete():
                removed.append((topic, None))
                for other in STOPPABLE_CHANNELS:
                    if other is not channel:
                        await OptOut.get_or_create(
                            guardian_id=guardian_id,
                            topic=topic,
                            channel=other.value,
                            defaults={"source": source, "created_at": at},
                        )
            if await OptOut.filter(guardian_id=guardian_id, topic=topic, channel=channel.value).delete():
                removed.append((topic, channel))
        await _log("optout.resumed", guardian_id, removed, source, at)
    return removed


async def replace_stops(guardian_id: int, wanted: Iterable[Stop], *, source: str, at: dt.datetime) -> bool:
    """Make the guardian's stops exactly ``wanted`` (the portal's form); whether anything changed. A topic
    stopped on every channel needs no stop per channel, so those are dropped. Unstoppable topics raise
    ``ValueError`` and nothing is stored."""
    target = {(Topic(topic), None if channel is None else Channel(channel)) for topic, channel in wanted}
    _checked(topic for topic, _c in target)
    everywhere = {topic for topic, channel in target if channel is None}
    target = {(topic, channel) for topic, channel in target if channel is None or topic not in everywhere}
    async with in_transaction():
        current = (await stops_of([guardian_id])).get(guardian_id, frozenset())
        gone, new = current - target, target - current
        for topic, channel in gone:
            await OptOut.filter(
                guardian_id=guardian_id, topic=topic, channel="" if channel is None else channel.value
            ).delete()
        for topic, channel in new:
            await OptOut.create(
                guardian_id=guardian_id,
                topic=topic,
                channel="" if channel is None else channel.value,
                source=source,
                created_at=at,
            )
        await _log("optout.resumed", guardian_id, gone, source, at)
        await _log("optout.stopped", guardian_id, new, source, at)
    return bool(gone or new)
