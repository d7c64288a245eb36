"""Faults on the way out, through ``dispatch_due`` with the real adapters and the local peers, on both backends.

A relay that is down, a provider answering 500 then 429 with Retry-After, a browser subscription that is gone:
each notice ends as it should, delivered or failed with a reason and its successor (retry or fallback) taken.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from channels.email import EmailAdapter, EmailSettings
from channels.peers.pushservice import PushServicePeer
from channels.peers.smtp import SmtpPeer
from channels.peers.twilio import TwilioPeer
from channels.sms import SmsAdapter, SmsSettings
from channels.webpush import WebPushAdapter, WebPushSettings
from hub.delivery.dispatch import dispatch_due
from hub.enums import (
    AudienceKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryPurpose,
    DeliveryState,
    ErrorKind,
    GroupKind,
    Relation,
    StaffRole,
)
from hub.messaging.links import personal_link
from hub.messaging.models import Delivery, Message, MessageAudience, Notice
from hub.messaging.planning import publish
from hub.people.models import (
    ChannelPreference,
    Consent,
    Contact,
    Group,
    Guardian,
    Guardianship,
    Household,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
)

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels, a school day
SID = "AC" + "0" * 32
TOKEN = "t" * 32
BASE = "http://127.0.0.1:8000"
EMAIL = "anne@example.be"
PHONE = "+32470123456"
FINAL = {DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.CANCELLED}


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def one_guardian_notice(
    contacts: dict[ContactKind, str], prefs: tuple[Channel, ...], available: frozenset[Channel]
) -> Notice:
    """A school with one class, one pupil and one guardian with ``contacts`` (verified, consented); a class
    message published at MONDAY_10; the guardian's notice."""
    school = await School.create(name="Athénée Royal")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email="tom@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    class3b = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    pupil = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="Peeters")
    await Membership.create(group=class3b, pupil=pupil)
    home = await Household.create(school=school, external_id="H1")
    guardian = await Guardian.create(
        school=school, external_id="G1", first_name="Anne", last_name="Peeters", household=home
    )
    await Guardianship.create(pupil=pupil, guardian=guardian, relation=Relation.MOTHER, household=home)
    purposes = {
        ContactKind.EMAIL: ConsentPurpose.EMAIL,
        ContactKind.PHONE: ConsentPurpose.SMS,
        ContactKind.WEBPUSH: ConsentPurpose.WEBPUSH,
    }
    for kind, value in contacts.items():
        await Contact.create(guardian=guardian, kind=kind, value=value, verified=True)
    for purpose in [ConsentPurpose.SCHOOL_MESSAGES, *(purposes[k] for k in contacts)]:
        await Consent.create(
            guardian=guardian,
            purpose=purpose,
            version="1",
            given_at=MONDAY_10 - timedelta(days=30),
            source=ConsentSource.PORTAL,
        )
    for rank, channel in enumerate(prefs, start=1):
        await ChannelPreference.create(guardian=guardian, channel=channel, rank=rank)
    message = await Message.create(school=school, author=teacher, subject="Sortie au théâtre", body="Jeudi 26.")
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=class3b)
    await publish(message.id, now=MONDAY_10, actor_staff_id=teacher.id, available_channels=available)
    return await Notice.get(message_id=message.id, guardian_id=guardian.id)


async def rows(notice: Notice, channel: Channel | None = None) -> list[Delivery]:
    query = Delivery.filter(notice_id=notice.id)
    if channel is not None:
        query = query.filter(channel=channel)
    return await query.order_by("id")


PENDING = {DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE}


async def assert_nothing_ends_silently(notice: Notice, *, settled: bool = False) -> None:
    """Every delivery is final, or failed with a reason and followed by a later delivery of the notice; before
    the end (``settled`` false) a delivery may also still wait its turn (planned, held, due)."""
    deliveries = await rows(notice)
    for d in deliveries:
        if d.state in FINAL or (not settled and d.state in PENDING):
            continue
        assert d.state == DeliveryState.FAILED, f"delivery {d.id} ({d.channel}) left {d.state}"
        assert d.error and d.error_kind is not None, f"delivery {d.id} failed without a reason"
        successors = [s for s in deliveries if s.id > d.id and s.step >= d.step and s.channel != Channel.PORTAL]
        assert successors, f"delivery {d.id} ({d.channel}) failed and nothing follows it"


async def test_smtp_down_then_up_the_retry_arrives_once(db: str) -> None:
    notice = await one_guardian_notice(
        {ContactKind.EMAIL: EMAIL}, (Channel.EMAIL,), frozenset({Channel.PORTAL, Channel.EMAIL})
    )

    # the relay is down: nobody listens on its port
    down = {Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=_closed_port(), timeout=5))}
    report = await dispatch_due(down, now=MONDAY_10, base_url=BASE)
    await down[Channel.EMAIL].close()
    assert (report.claimed, report.failed) == (1, 1)
    first, retry = await rows(notice, Channel.EMAIL)
    assert first.state == DeliveryState.FAILED and first.error_kind == ErrorKind.TRANSIENT and first.error
    assert retry.state == DeliveryState.PLANNED and retry.purpose == DeliveryPurpose.INITIAL
    assert retry.step == first.step and retry.attempts == 1 and retry.due_at > MONDAY_10
    await assert_nothing_ends_silently(notice)

    with SmtpPeer() as smtp:
        up = {Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port))}
        # before its time the retry waits
        early = await dispatch_due(up, now=retry.due_at - timedelta(seconds=1), base_url=BASE)
        assert early.claimed == 0 and smtp.mailbox.messages == []
        # at its time it goes, once
        again = await dispatch_due(up, now=retry.due_at, base_url=BASE)
        later = await dispatch_due(up, now=retry.due_at + timedelta(hours=1), base_url=BASE)
        await up[Channel.EMAIL].close()
        assert (again.claimed, again.sent, later.claimed) == (1, 1, 0)
        assert len(smtp.mailbox.to(EMAIL)) == len(smtp.mailbox.messages) == 1

    await retry.refresh_from_db()
    assert retry.state == DeliveryState.SENT and retry.attempts == 2 and retry.provider_id
    assert len(await rows(notice, Channel.EMAIL)) == 2
    await assert_nothing_ends_silently(notice, settled=True)


def _sms_adapter(twilio: TwilioPeer) -> SmsAdapter:
    return SmsAdapter(SmsSettings(SID, TOKEN, "+32460000000", f"{BASE}/hooks/twilio/status", base_url=twilio.base_url))


async def test_sms_500_then_429_retry_after_is_honoured_then_sent(db: str) -> None:
    notice = await one_guardian_notice(
        {ContactKind.PHONE: PHONE}, (Channel.SMS,), frozenset({Channel.PORTAL, Channel.SMS})
    )

    async with TwilioPeer(auth_token=TOKEN, account_sid=SID) as twilio:
        adapters = {Channel.SMS: _sms_adapter(twilio)}
        try:
            twilio.fail_next(500)
            r1 = await dispatch_due(adapters, now=MONDAY_10, base_url=BASE)
            assert (r1.claimed, r1.failed) == (1, 1)
            first, retry1 = await rows(notice, Channel.SMS)
            assert first.state == DeliveryState.FAILED and first.error_kind == ErrorKind.TRANSIENT
            assert "500" in first.error
            assert retry1.state == DeliveryState.PLANNED and retry1.due_at > MONDAY_10
            await assert_nothing_ends_silently(notice)

            twilio.fail_next(429, retry_after=120)
            t2 = retry1.due_at
            r2 = await dispatch_due(adapters, now=t2, base_url=BASE)
            assert (r2.claimed, r2.failed) == (1, 1)
            _, second, retry2 = await rows(notice, Channel.SMS)
            assert second.id == retry1.id and second.state == DeliveryState.FAILED and "429" in second.error
            assert retry2.state == DeliveryState.PLANNED
            assert retry2.due_at >= t2 + timedelta(seconds=120)
            await assert_nothing_ends_silently(notice)

            r3 = await dispatch_due(adapters, now=retry2.due_at, base_url=BASE)
            assert (r3.claimed, r3.sent) == (1, 1)
            await twilio.settle()
            assert [m.to for m in twilio.messages] == [PHONE]
        finally:
            await adapters[Channel.SMS].close()

    await retry2.refresh_from_db()
    assert retry2.state == DeliveryState.SENT and retry2.attempts == 3 and retry2.provider_id.startswith("SM")
    await assert_nothing_ends_silently(notice, settled=True)


async def test_a_long_retry_after_outweighs_the_backoff(db: str) -> None:
    """The first retry's backoff is minutes; a provider asking for an hour gets its hour."""
    notice = await one_guardian_notice(
        {ContactKind.PHONE: PHONE}, (Channel.SMS,), frozenset({Channel.PORTAL, Channel.SMS})
    )
    async with TwilioPeer(auth_token=TOKEN, account_sid=SID) as twilio:
        adapters = {Channel.SMS: _sms_adapter(twilio)}
        try:
            twilio.fail_next(429, retry_after=3600)
            await dispatch_due(adapters, now=MONDAY_10, base_url=BASE)
        finally:
            await adapters[Channel.SMS].close()
    first, retry = await rows(notice, Channel.SMS)
    assert first.state == DeliveryState.FAILED and first.error_kind == ErrorKind.TRANSIENT
    assert retry.state == DeliveryState.PLANNED and retry.due_at >= MONDAY_10 + timedelta(hours=1)
    await assert_nothing_ends_silently(notice)


async def test_a_gone_push_subscription_kills_the_contact_and_falls_back_to_email(db: str, tmp_path: Path) -> None:
    settings = WebPushSettings(vapid_private_key_path=tmp_path / "vapid.pem", vapid_contact="mailto:it@school.be")
    async with PushServicePeer() as push:
        webpush = WebPushAdapter(settings)
        subscription = push.subscribe(application_server_key=webpush.public_key)
        notice = await one_guardian_notice(
            {ContactKind.WEBPUSH: json.dumps(subscription), ContactKind.EMAIL: EMAIL},
            (Channel.WEBPUSH, Channel.EMAIL),
            frozenset({Channel.PORTAL, Channel.WEBPUSH, Channel.EMAIL}),
        )
        assert list(notice.plan) == ["portal", "webpush", "email", "letter"]
        push.gone(subscription)  # the browser unsubscribed

        with SmtpPeer() as smtp:
            adapters = {
                Channel.WEBPUSH: webpush,
                Channel.EMAIL: EmailAdapter(EmailSettings(host="127.0.0.1", port=smtp.port)),
            }
            try:
                r1 = await dispatch_due(adapters, now=MONDAY_10, base_url=BASE)
                assert (r1.claimed, r1.failed) == (1, 1)
                assert [r.status for r in push.refused] == [410] and push.received == []
                (pushed,) = await rows(notice, Channel.WEBPUSH)
                assert pushed.state == DeliveryState.FAILED and pushed.error_kind == ErrorKind.PERMANENT
                assert "410" in pushed.error
                contact = await Contact.get(id=pushed.contact_id)
                assert contact.dead_at == MONDAY_10 and "410" in contact.dead_reason

                (fallback,) = await rows(notice, Channel.EMAIL)
                assert fallback.purpose == DeliveryPurpose.FALLBACK and fallback.step == 2
                assert fallback.state == DeliveryState.DUE
                await assert_nothing_ends_silently(notice)

                r2 = await dispatch_due(adapters, now=MONDAY_10, base_url=BASE)
                assert (r2.claimed, r2.sent, r2.by_channel) == (1, 1, {"email": 1})
            finally:
                for adapter in adapters.values():
                    await adapter.close()
            (mail,) = smtp.mailbox.to(EMAIL)
            assert personal_link(BASE, notice.token) in mail.get_body(("plain",)).get_content()

    await fallback.refresh_from_db()
    assert fallback.state == DeliveryState.SENT
    assert await Delivery.filter(notice_id=notice.id, channel=Channel.WEBPUSH).count() == 1  # no retry of a 410
    await assert_nothing_ends_silently(notice, settled=True)
