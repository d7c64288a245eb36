"""`scripts/demo` mode: local providers and a worker inside the web process; the outbox shows what went out."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from channels.email import EmailAdapter
from channels.registry import channel_settings
from hub import clock
from hub.config import Settings
from hub.delivery.dispatch import dispatch_due
from hub.demo.peers import DemoPeers
from hub.demo.school import generate_demo
from hub.enums import (
    AudienceKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryState,
    GroupKind,
    StaffRole,
    Urgency,
)
from hub.messaging.models import Delivery, Message, MessageAudience
from hub.messaging.planning import publish
from hub.people.models import ChannelPreference, Consent, Contact, Group, Guardian, School, Staff
from hub.store import db
from hub.web import create_app
from tests.delivery.test_faults import BASE, MONDAY_10, PHONE, one_guardian_notice

#: What a browser subscribed to a push service that is gone (the last run's) looks like.
OLD_SUBSCRIPTION = '{"endpoint": "http://127.0.0.1:9/push/old", "keys": {"p256dh": "x", "auth": "y"}}'
FCM_TOKEN = "demo-phone-token-1"


async def _give_devices(class_code: str) -> tuple[int, int]:
    """Two guardians of the class who read on devices only: one web push subscription (made on an earlier
    run), one phone app; no phone number, so the emergency cannot take SMS first."""
    guardians = await Guardian.filter(guardianships__pupil__memberships__group__code=class_code).distinct().limit(2)
    for guardian, (kind, value, channel, purpose) in zip(
        guardians,
        [
            (ContactKind.WEBPUSH, OLD_SUBSCRIPTION, Channel.WEBPUSH, ConsentPurpose.WEBPUSH),
            (ContactKind.FCM, FCM_TOKEN, Channel.FCM, ConsentPurpose.FCM),
        ],
        strict=True,
    ):
        await Contact.filter(guardian_id=guardian.id, kind=ContactKind.PHONE).delete()
        await Contact.create(guardian=guardian, kind=kind, value=value, verified=True)
        await Consent.create(
            guardian=guardian, purpose=purpose, version="1", given_at=datetime.now(UTC), source=ConsentSource.PORTAL
        )
        await ChannelPreference.filter(guardian_id=guardian.id).delete()
        for rank, preferred in enumerate((channel, Channel.PORTAL, Channel.LETTER), start=1):
            await ChannelPreference.create(guardian=guardian, channel=preferred, rank=rank)
    return guardians[0].id, guardians[1].id


async def _school_with_an_emergency(settings: Settings, *, devices: bool = False) -> tuple[int, int] | None:
    async with db.open_db(settings):
        await generate_demo(seed=2026)
        device_guardians = await _give_devices("1A") if devices else None
        school = await School.get()
        principal = await Staff.get(roles__role=StaffRole.PRINCIPAL)
        message = await Message.create(
            school=school,
            author=principal,
            subject="Fermeture de l'école",
            body="Une fuite de gaz oblige l'école à fermer. Venez chercher vos enfants.",
            urgency=Urgency.EMERGENCY,
            urgency_reason="fuite de gaz signalée par les pompiers",
        )
        class_1a = await Group.get(school=school, kind=GroupKind.CLASS, code="1A")
        await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=class_1a)
        # An emergency goes at once, whatever the hour at which the test runs.
        await publish(message.id, now=datetime.now(UTC), actor_staff_id=principal.id)
    return device_guardians


def test_the_demo_worker_sends_to_the_local_providers_and_the_outbox_shows_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demo_peers=True)
    asyncio.run(_school_with_an_emergency(settings))
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        page = ""
        while time.monotonic() < deadline:
            page = client.get("/demo/outbox").text
            if "Fermeture de l&#39;école" in page and "<td>SMS</td>" in page:
                break
            time.sleep(0.5)
        assert "Fermeture de l&#39;école" in page  # the email, with its subject
        assert "<td>SMS</td>" in page  # an emergency goes by SMS first where consented (channels in words)
        # The landing page says where to click, and opens a separated parent's portal in one click.
        landing = client.get("/")
        assert "où cliquer" in landing.text and "prof.demo@" in landing.text
        signin = re.search(r'action="(/demo/signin/\d+)"', landing.text)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', landing.text)
        assert signin and csrf
        portal = client.post(signin.group(1), data={"csrf_token": csrf.group(1)})
        assert portal.status_code == 200 and "Se déconnecter" in portal.text
        assert "Horloge de démo" in landing.text  # the demo runs on its own clock, shown in the header
        assert isinstance(clock.current(), clock.DemoClock)
    assert not clock.is_shifted()  # the demo's clock goes with the demo
    with TestClient(create_app(Settings(data_dir=tmp_path))) as plain:
        assert plain.get("/demo/outbox").status_code == 404  # only in the demo
        assert not clock.is_shifted() and "Horloge de démo" not in plain.get("/").text


def test_the_demo_sends_web_push_and_mobile_push_to_their_local_services(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, demo_peers=True)
    found = asyncio.run(_school_with_an_emergency(settings, devices=True))
    assert found is not None
    browser, phone = found
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 30
        by_browser = by_phone = ""
        while time.monotonic() < deadline:
            by_browser = client.get(f"/demo/outbox?guardian={browser}").text
            by_phone = client.get(f"/demo/outbox?guardian={phone}").text
            if "<td>notification du navigateur</td>" in by_browser and "<td>application mobile</td>" in by_phone:
                break
            time.sleep(0.5)
        # The push service decrypted the payload (RFC 8291) and checked the VAPID signature before keeping it.
        assert "<td>notification du navigateur</td>" in by_browser and "Fermeture de l&#39;école" in by_browser
        assert (
            "<td>application mobile</td>" in by_phone
            and FCM_TOKEN in by_phone
            and "Fermeture de l&#39;école" in by_phone
        )

    async def subscription() -> str:
        async with db.open_db(settings):
            return (await Contact.get(guardian_id=browser, kind=ContactKind.WEBPUSH)).value

    # The browser subscribed again to that run's push service, as a service worker does.
    renewed = asyncio.run(subscription())
    assert renewed != OLD_SUBSCRIPTION and '"auth"' in renewed


async def test_the_demo_relay_bounces_to_the_demos_own_bounce_receiver(db: str, tmp_path: Path) -> None:
    notice = await one_guardian_notice(
        {ContactKind.EMAIL: "anne@bounce.invalid", ContactKind.PHONE: PHONE},
        (Channel.EMAIL, Channel.SMS),
        frozenset({Channel.EMAIL, Channel.SMS, Channel.PORTAL, Channel.LETTER}),
    )
    peers = await DemoPeers().start()
    try:
        settings = peers.settings_for(Settings(data_dir=tmp_path))
        assert settings.bounce_secret and settings.bounce_port == peers.bounces.port  # type: ignore[union-attr]
        # What channels.registry builds from these settings: VERP on, keyed by the demo's bounce secret.
        email = channel_settings(settings)[Channel.EMAIL]
        report = await dispatch_due({Channel.EMAIL: EmailAdapter(email)}, now=MONDAY_10, base_url=BASE)
        assert report.sent == 1
        delivery = await Delivery.get(notice_id=notice.id, channel=Channel.EMAIL)
        await asyncio.wait_for(peers.bounce_received.wait(), 60)  # the DSN comes after the conversation
        assert [(r.delivery_id, r.outcome) for r in peers.bounce_results] == [(delivery.id, "dead")]
        assert (await Delivery.get(id=delivery.id)).state == DeliveryState.FAILED
        assert (await Contact.get(id=delivery.contact_id)).dead_at is not None  # type: ignore[attr-defined]
        assert await Delivery.filter(notice_id=notice.id, channel=Channel.SMS).exists()  # the fallback
        outbox = await peers.outbox()
        subjects = {item.subject for item in outbox if item.to == "anne@bounce.invalid"}
        assert {"Undelivered mail (bounce)", "Bounce received"} <= subjects
    finally:
        await peers.stop()


async def test_the_demo_drafts_machine_translations_through_deepls_client_to_its_own_peer(tmp_path: Path) -> None:
    from hub.messaging import translate_client, translations

    peers = DemoPeers()
    await peers.translator.start()  # the one peer this needs (start() starts them all, with a database)
    try:
        settings = dataclasses.replace(
            Settings(data_dir=tmp_path),
            translation="deepl",
            deepl_auth_key=peers.translator.auth_key,
            deepl_server_url=peers.translator.base_url,
        )
        translator = translate_client.from_settings(settings)
        assert isinstance(translator, translate_client.DeepLTranslator)
        school = translations.Version("fr", "Piscine mardi", "Bonjour, la piscine est mardi.")
        version = await translate_client.draft(translator, school, "en")
        assert (version.subject, version.machine) == ("Swimming pool Tuesday", True)
        assert [r.api for r in peers.translator.requests] == ["deepl"]
        assert translate_client.from_settings(Settings(data_dir=tmp_path)) is None  # off by default
    finally:
        await peers.translator.stop()
        peers._files.cleanup()
