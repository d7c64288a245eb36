"""Sending fast without losing track: several messages in flight, their outcomes written in batches, each email
rendered from its message's rendering kept once. A crash still re-sends only what was in flight, never a batch."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from channels.base import ChannelAdapter, Envelope, Outcome
from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import SmtpPeer
from hub.delivery.dispatch import Recorder, claim, dispatch_due, reclaim_expired
from hub.delivery.renders import render_email
from hub.enums import AudienceKind, Channel, DeliveryState, GroupKind
from hub.messaging.links import notice_views
from hub.messaging.models import Delivery, Message, MessageAudience
from hub.messaging.planning import LEASE, publish
from hub.messaging.rendering import render
from hub.people.models import Group, Staff
from hub.store import db as hubdb

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:8000"
_DELIVERY_ID = re.compile(r"delivery-(\d+)@")


class _Killed(BaseException):
    """Stands for a SIGKILL: not an Exception, so nothing on the way catches it and nothing after it runs."""


@pytest.fixture
async def db(demo_db_url: str) -> AsyncIterator[str]:
    """The demo school (seed 2026), on SQLite and on PostgreSQL."""
    await hubdb.init(demo_db_url)
    try:
        yield demo_db_url
    finally:
        await hubdb.close()


async def _school_message(*, code: str = "", subject: str = "Piscine") -> Message:
    """One email from the demo school's teacher to a class (``code``) or to the whole school."""
    teacher = await Staff.get(email="prof.demo@athenee-demo.example.be")
    message = await Message.create(school_id=teacher.school_id, author=teacher, subject=subject, body="Mardi.\n\nÀ 8h.")
    if code:
        group = await Group.get(school_id=teacher.school_id, kind=GroupKind.CLASS, code=code)
        await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=group)
    else:
        await MessageAudience.create(message=message, kind=AudienceKind.SCHOOL)
    await publish(message.id, now=MONDAY_10, actor_staff_id=teacher.id, available_channels=frozenset({Channel.EMAIL}))
    return message


def _delivery_id(envelope: Envelope) -> int:
    return int(envelope.message.idempotency_key.removeprefix("delivery-"))


async def test_accepted_sends_arriving_together_are_written_by_one_statement(db: str) -> None:
    message = await _school_message(code="3A")
    claimed = (await claim(MONDAY_10, worker_id="w/0", limit=20))[:6]
    assert len(claimed) == 6
    recorder = Recorder()
    # six loops' sends accepted at once: the first is written alone (nothing else waits yet), the five that arrive
    # while it is written go together in the next statement
    await asyncio.gather(
        *(recorder.record([(d, Outcome.sent(f"<delivery-{d.id}@x>"))], MONDAY_10, worker_id="w/0") for d in claimed)
    )
    assert recorder.statements == 2 and recorder.one_by_one == 0
    rows = await Delivery.filter(id__in=[d.id for d in claimed])
    assert all(
        d.state == DeliveryState.SENT
        and d.attempts == 1
        and d.provider_id == f"<delivery-{d.id}@x>"
        and d.sent_at == MONDAY_10
        and d.claimed_by == "w/0"
        for d in rows
    )
    # the rest of the message untouched
    others = await Delivery.filter(notice__message=message, channel=Channel.EMAIL).exclude(
        id__in=[d.id for d in claimed]
    )
    assert others and {d.state for d in others} <= {DeliveryState.DUE, DeliveryState.CLAIMED}


async def test_a_send_no_longer_held_and_a_failure_follow_the_rules_one_by_one(db: str) -> None:
    await _school_message(code="3A")
    kept, lost, refused = (await claim(MONDAY_10, worker_id="w/0", limit=10))[:3]
    # the lease of one ran out and it went back to the queue (another worker may take it)
    later = MONDAY_10 + timedelta(seconds=1)
    await Delivery.filter(id=lost.id).update(lease_until=MONDAY_10)
    assert await reclaim_expired(later) == 1
    recorder = Recorder()
    await recorder.record(
        [
            (kept, Outcome.sent("<a@x>")),
            (lost, Outcome.sent("<b@x>")),
            (refused, Outcome.permanent("550 no such user", dead_contact=True)),
        ],
        later,
        worker_id="w/0",
    )
    assert recorder.statements == 1 and recorder.one_by_one == 2
    rows = {d.id: d for d in await Delivery.filter(id__in=[kept.id, lost.id, refused.id])}
    assert rows[kept.id].state == DeliveryState.SENT and rows[kept.id].attempts == 1
    # record_outcome's rules: the delivery given back is recorded as sent all the same (the provider took it)
    assert rows[lost.id].state == DeliveryState.SENT and rows[lost.id].provider_id == "<b@x>"
    assert rows[refused.id].state == DeliveryState.FAILED and "550" in rows[refused.id].error


async def test_several_in_flight_each_recorded_before_its_connection_takes_the_next(db: str) -> None:
    message = await _school_message(code="3A")
    emails = await Delivery.filter(notice__message=message, channel=Channel.EMAIL).count()
    assert emails > 6
    in_flight, started, done = 3, list[int](), set[int]()
    most = 0

    async def watching(channel: Channel, adapter: ChannelAdapter, envelopes: list[Envelope]) -> list[Outcome]:
        nonlocal most
        assert len(envelopes) == 1
        # sent but not recorded yet, this one included: never more than the messages in flight
        unrecorded = set(started) - set(
            await Delivery.filter(id__in=started, state=DeliveryState.SENT).values_list("id", flat=True)
        )
        started.append(_delivery_id(envelopes[0]))
        most = max(most, len(unrecorded) + 1)
        assert len(unrecorded) < in_flight
        outcomes = await adapter.send_batch(envelopes)
        done.add(_delivery_id(envelopes[0]))
        return outcomes

    with SmtpPeer() as smtp:
        adapters = {Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port))}
        recorder = Recorder()
        report = await dispatch_due(
            adapters, now=MONDAY_10, base_url=BASE, send=watching, in_flight=in_flight, recorder=recorder
        )
        received = len(smtp.mailbox.messages)
        await adapters[Channel.EMAIL].close()
    assert report.claimed == report.sent == len(started) == len(done) == received == emails
    assert most > 1  # they did overlap
    assert recorder.statements <= emails
    rows = await Delivery.filter(id__in=started)
    assert all(d.state == DeliveryState.SENT and d.attempts == 1 and d.provider_id for d in rows)


async def test_a_crash_with_several_in_flight_resends_those_only(db: str) -> None:
    message = await _school_message(code="3A")
    email_rows = Delivery.filter(notice__message=message, channel=Channel.EMAIL)
    emails = await email_rows.count()
    in_flight, calls = 3, 0

    async def killed_on_the_sixth(
        channel: Channel, adapter: ChannelAdapter, envelopes: list[Envelope]
    ) -> list[Outcome]:
        nonlocal calls
        calls += 1
        mine = calls  # the others' calls go on meanwhile
        outcomes = await adapter.send_batch(envelopes)
        if mine == 6:  # the relay took the sixth message; the process dies before recording it
            raise _Killed
        return outcomes

    with SmtpPeer() as smtp:
        adapters = {Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port))}
        with pytest.raises(_Killed):
            await dispatch_due(
                adapters, now=MONDAY_10, base_url=BASE, worker_id="dead", send=killed_on_the_sixth, in_flight=in_flight
            )
        recorded = await email_rows.filter(state=DeliveryState.SENT).count()
        assert recorded >= 6 - in_flight
        later = MONDAY_10 + LEASE + timedelta(seconds=1)
        await reclaim_expired(later)
        await dispatch_due(adapters, now=later, base_url=BASE, worker_id="next", in_flight=in_flight)
        copies = Counter(_DELIVERY_ID.findall(" ".join(str(mail["Message-ID"]) for mail in smtp.mailbox.messages)))
        await adapters[Channel.EMAIL].close()
    assert len(copies) == emails  # every family got it
    assert 1 <= sum(copies.values()) - emails <= in_flight  # the re-sends: what was in flight, never a batch
    assert await email_rows.exclude(state=DeliveryState.SENT).count() == 0


async def test_each_email_is_its_message_rendering_with_the_guardians_values(db: str) -> None:
    message = await _school_message(subject="Fête de l'école : <venez> & dansez")
    deliveries = await Delivery.filter(notice__message=message, channel=Channel.EMAIL)
    views = list((await notice_views(deliveries, BASE)).values())
    assert len({v.language for v in views}) > 1 and len({len(v.pupils) for v in views}) > 1
    # names that HTML must escape, and that a marker cannot be mistaken for
    views.append(dataclasses.replace(views[0], guardian_name="Zoë <O'Brien> & Fils", pupils=("Léa & Tom",)))
    views.append(dataclasses.replace(views[0], guardian_name="\x1aG\x1a"))
    views.append(dataclasses.replace(views[0], short_code="", unsubscribe="", pupils=()))
    for _ in range(2):  # the first of each shape is checked against the full rendering, the next are copies
        for view in views:
            assert render_email(view) == render(view, Channel.EMAIL)


async def test_asked_to_stop_the_messages_in_flight_finish_and_the_rest_goes_back(db: str) -> None:
    message = await _school_message(code="3A")
    email_rows = Delivery.filter(notice__message=message, channel=Channel.EMAIL)
    emails = await email_rows.count()
    stop, calls = asyncio.Event(), 0

    async def stopped_after_five(channel: Channel, adapter: ChannelAdapter, envelopes: list[Envelope]) -> list[Outcome]:
        nonlocal calls
        calls += 1
        if calls == 5:
            stop.set()  # SIGTERM while messages are on the wire
        return await adapter.send_batch(envelopes)

    with SmtpPeer() as smtp:
        adapters = {Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port))}
        report = await dispatch_due(
            adapters, now=MONDAY_10, base_url=BASE, worker_id="w/0", send=stopped_after_five, stop=stop, in_flight=3
        )
        received = Counter(_DELIVERY_ID.findall(" ".join(str(mail["Message-ID"]) for mail in smtp.mailbox.messages)))
        await adapters[Channel.EMAIL].close()
    sent = set(await email_rows.filter(state=DeliveryState.SENT).values_list("id", flat=True))
    # what was started finished and was recorded, once each; nothing else left
    assert {int(key) for key in received} == sent and set(received.values()) == {1}
    assert 5 <= len(sent) <= 5 + 2 and report.sent == len(sent)
    # the rest is DUE again, unclaimed
    due = await email_rows.filter(state=DeliveryState.DUE)
    assert report.released == len(due) == emails - len(sent) > 0
    assert all(d.claimed_by == "" and d.lease_until is None and d.attempts == 0 for d in due)
